"""Real servers on loopback for the tests: a free port, and an SMTP server (aiosmtpd) with an inbox."""

import socket
import threading
from contextlib import contextmanager

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """What the SMTP server accepted, in order; `arrived` is set by the first message."""

    def __init__(self):
        self.messages = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        self.arrived.set()
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(**controller_options):
    """A running aiosmtpd server on 127.0.0.1; yields (inbox, port)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **controller_options)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()
