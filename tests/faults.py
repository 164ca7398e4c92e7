"""Faults for tests, made of real sockets: a TCP proxy in front of the real database that can freeze
(it stops passing bytes, as a SIGSTOPped server or a partitioned network does, while the
connection stays open), and a listener that accepts connections and never answers."""

import socket
import threading
from contextlib import contextmanager

from django.db import connection


class FreezableProxy:
    """Forwards 127.0.0.1:`port` to `upstream` until `freeze()`; then every byte waits."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = False
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self, at_most_s: float = 15) -> None:
        """Stop passing bytes; flowing again after `at_most_s`, so a client that waits forever makes a
        failed test rather than a hung suite."""
        self.flowing.clear()
        timer = threading.Timer(at_most_s, self.flowing.set)
        timer.daemon = True
        timer.start()

    def thaw(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed = True
        self.flowing.set()
        for s in [self.listener, *self.sockets]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        while not self.closed:
            try:
                data = source.recv(65536)
                self.flowing.wait()
                if not data or self.closed:
                    break
                target.sendall(data)
            except OSError:
                break


@contextmanager
def silent_listener():
    """A port that accepts TCP connections and never says a word (a server frozen before its greeting)."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@contextmanager
def database_at(port: int, **options):
    """The default connection pointed at 127.0.0.1:`port` (with extra OPTIONS) for the block."""
    saved = dict(connection.settings_dict), dict(connection.settings_dict.get("OPTIONS", {}))
    connection.close()
    connection.settings_dict["HOST"] = "127.0.0.1"
    connection.settings_dict["PORT"] = str(port)
    connection.settings_dict["OPTIONS"] = {**saved[1], **options}
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved[0])
        connection.settings_dict["OPTIONS"] = saved[1]


@contextmanager
def broker_down():
    """django-q2 on a Redis broker that is not there (REDIS_URL pointing at a port nobody listens
    on): every task handed to the broker is refused with the Redis client's ConnectionError."""
    from django_q.conf import Conf

    from tests.loopback import free_port

    saved = Conf.ORM, Conf.REDIS, Conf.DJANGO_REDIS
    Conf.ORM, Conf.REDIS, Conf.DJANGO_REDIS = None, f"redis://127.0.0.1:{free_port()}/0", None
    try:
        yield
    finally:
        Conf.ORM, Conf.REDIS, Conf.DJANGO_REDIS = saved
