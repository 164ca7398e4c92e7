"""A sender killed mid-send: the page is delivered again after the lease (at-least-once), and every
attempt has its row, the one the kill interrupted too (PostgreSQL: the sender is a real process)."""

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from incidents import pager, raise_incident
from incidents.models import Delivery, DeliveryAttempt

SENDER = r"""
import sys
import django
django.setup()
from incidents import pager
pager.deliver(int(sys.argv[1]), inline=False)
"""


class KillingWebhook(ThreadingHTTPServer):
    """A webhook receiver that, on its first page, kills the process sending it before answering."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages: list[bytes] = []
        self.sender_pid = None


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.server.pages.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if len(self.server.pages) == 1 and self.server.sender_pid:
            os.kill(self.server.sender_pid, signal.SIGKILL)  # the page arrived; its sender is gone
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    server = KillingWebhook()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.PAGER_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sender_killed_mid_send_leaves_its_attempt_and_the_page_goes_out_again(webhook, log_dir):
    raise_incident("CRITICAL", "payments failing", "probe")
    delivery = Delivery.objects.get(channel="webhook")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}",
        "PAGER_WEBHOOK_URL": settings.PAGER_WEBHOOK_URL,
        "LOG_DIR": str(log_dir),
    }
    sender = subprocess.Popen([sys.executable, "-c", SENDER, str(delivery.pk)], env=env, cwd=settings.BASE_DIR)
    webhook.sender_pid = sender.pid
    assert sender.wait(timeout=60) == -signal.SIGKILL

    after_lease = timezone.now() + timedelta(seconds=settings.PAGER_LEASE_S + 1)
    pager.deliver(delivery.pk, now=after_lease, inline=False)

    assert len(webhook.pages) == 2  # at least once: the kill came after the page arrived
    # Both carry the same delivery id: the receiver can tell the second is a repeat and drop it.
    assert [json.loads(page)["delivery_id"] for page in webhook.pages] == [delivery.pk, delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == Delivery.SENT and delivery.attempts == 2
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("number", "ok", "error"))
    assert attempts == [(1, False, pager.NO_OUTCOME), (2, True, "")]
