"""Real outside servers on loopback: a Telegram Bot API stand-in, a JSON webhook receiver, aiosmtpd."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.loopback import free_port, smtp_server

TOKEN = "123456:test-token-secret"
CHAT = "-100777"


class ScriptedServer(ThreadingHTTPServer):
    """Answers POSTs from a script of (status, json body) in order, then 200 ok; records every request."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = []
        self.requests = []
        self.lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_answer(self):
        with self.lock:
            if self.script:
                return self.script.pop(0)
        return 200, {"ok": True, "result": {"message_id": len(self.requests)}}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = self.server.next_answer()
        with self.server.lock:
            self.server.requests.append(
                {
                    "at": time.monotonic(),
                    "path": self.path,
                    "headers": dict(self.headers),
                    "raw": raw,
                    "json": json.loads(raw or b"null"),
                    "status": status,
                }
            )
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _serve():
    server = ScriptedServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture
def telegram(settings):
    """A loopback Bot API; the pager's Telegram settings point at it."""
    server = _serve()
    settings.TELEGRAM_API_BASE = server.url
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_CHAT_ID = CHAT
    settings.TELEGRAM_MIN_INTERVAL_S = 0
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook(settings):
    server = _serve()
    settings.PAGER_WEBHOOK_URL = server.url + "/hook"
    yield server
    server.shutdown()
    server.server_close()


def _point_pager_at(settings, port: int, user: str) -> None:
    settings.SMTP_HOST = "127.0.0.1"
    settings.SMTP_PORT = port
    settings.SMTP_USER = user
    settings.SMTP_USE_TLS = False
    settings.SMTP_FROM = "pager@echopilot.test"
    settings.PAGER_EMAIL_TO = ["oncall@echopilot.test"]


@pytest.fixture
def smtp(settings):
    """A real SMTP server (aiosmtpd) on loopback; the pager's SMTP settings point at it."""
    with smtp_server() as (inbox, port):
        _point_pager_at(settings, port, user="")
        settings.SMTP_PASS = ""
        yield inbox


@pytest.fixture
def smtp_with_login(settings):
    """A real SMTP server that requires a login and knows one user (pager / right-password)."""
    from aiosmtpd.smtp import AuthResult

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"pager" and auth_data.password == b"right-password"
        return AuthResult(success=ok, handled=False)  # let the server answer 235 or 535 itself

    with smtp_server(authenticator=authenticate, auth_required=True, auth_require_tls=False) as (inbox, port):
        _point_pager_at(settings, port, user="pager")
        yield inbox


@pytest.fixture
def dead_smtp(settings):
    """SMTP settings pointing at a loopback port nothing listens on."""
    settings.SMTP_HOST = "127.0.0.1"
    settings.SMTP_PORT = free_port()
    settings.SMTP_USE_TLS = False
    settings.PAGER_EMAIL_TO = ["oncall@echopilot.test"]
    return settings.SMTP_PORT


@pytest.fixture(autouse=True)
def quiet_channels(settings):
    """No channel is configured unless a test asks for one, and retries are quick."""
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.TELEGRAM_CHAT_ID = ""
    settings.SMTP_HOST = ""
    settings.PAGER_WEBHOOK_URL = ""
    settings.PAGER_WEBHOOK_SECRET = ""
    settings.PAGER_BACKOFF_BASE_S = 0.01
    settings.PAGER_BACKOFF_MAX_S = 0.05
    settings.PAGER_STORM_MAX_PER_MIN = 10
    settings.PAGER_MAX_ATTEMPTS = 5
