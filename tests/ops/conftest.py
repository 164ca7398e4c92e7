"""A real HTTP server on loopback whose answers the uptime tests script; backups in each test's own folder."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .console import free_port


class Site:
    """What the server answers: `status`, `body`, `location`; `down()` closes the port itself."""

    def __init__(self):
        self.status = 200
        self.body = b"all systems go"
        self.location = ""
        self.barrier: threading.Barrier | None = None
        self.hits: list[str] = []
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def up(self) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.hits.append(self.path)
                if site.barrier is not None:
                    site.barrier.wait()  # every probe must be in flight at once to get past this
                self.send_response(site.status)
                if site.location:
                    self.send_header("Location", site.location)
                self.send_header("Content-Length", str(len(site.body)))
                self.end_headers()
                self.wfile.write(site.body)

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def site():
    server = Site()
    server.up()
    yield server
    server.down()


@pytest.fixture(autouse=True)
def backup_dir(tmp_path, settings):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_UPLOAD_COMMAND = ""
    settings.BACKUP_KEEP_DAYS = 30
    return settings.BACKUP_DIR
