"""The fault stage: a real gunicorn (gthread) and qcluster on a scratch PostgreSQL cluster this test
starts itself (initdb / pg_ctl, never the shared server), its own redis-server when one is at hand,
and LOG_DIR on a 1 MB tmpfs (or, where mounting is not allowed, event files on /dev/full). Under
client load it crashes the database, freezes it, kills Redis, kills the qcluster mid-page and fills
the log disk; afterwards every acknowledged write is present, the counters are exact, and every
page was delivered at least once. Run by `dev.py test` as its own stage (`-m faults`)."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from bench.harness import free_port_in

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
REDIS_SERVER = shutil.which("redis-server")
KEY = "ep_fault_stage_admin_key_0123456789abcdef"
PORTS = range(18500, 18600)

pytestmark = [pytest.mark.slow, pytest.mark.faults]


# --- the scratch PostgreSQL cluster -------------------------------------------------------------------------


class ScratchPostgres:
    """A PostgreSQL cluster of its own in a temp folder, run as the `postgres` user when this test
    runs as root (initdb refuses root)."""

    def __init__(self, port: int):
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="ep-fault-pg-"))
        self.data = self.dir / "data"
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(PG_BIN / tool), *args], check=True, capture_output=True, cwd=self.dir)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=60"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def crash(self) -> None:
        """Stop it the way a crash does: no checkpoint, no goodbye to clients; recovery on start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def pids(self) -> list[int]:
        """The postmaster and its children (read from /proc: their parent is the postmaster)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def signal_all(self, signum) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def url(self, db: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def destroy(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the log disk ---------------------------------------------------------------------------------------------


class LogDisk:
    """LOG_DIR on a 1 MB tmpfs that `fill()` fills; without the right to mount, the event files are
    pointed at /dev/full instead (every write: ENOSPC), which is what a full disk answers."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="ep-fault-logs-"))
        mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(self.path)]
        self.mounted = subprocess.run(mount, stderr=subprocess.DEVNULL).returncode == 0

    def fill(self) -> None:
        if self.mounted:
            with open(self.path / "filler", "wb") as filler:
                try:
                    while True:
                        filler.write(b"\0" * 65536)
                        filler.flush()
                except OSError:
                    pass
            return
        for name in ("incidents.ndjson", "costs.ndjson", "portal_access.ndjson", ".write-probe"):
            (self.path / name).unlink(missing_ok=True)
            os.symlink("/dev/full", self.path / name)

    def empty(self) -> None:
        for name in ("filler", "incidents.ndjson", "costs.ndjson", "portal_access.ndjson", ".write-probe"):
            (self.path / name).unlink(missing_ok=True)

    def destroy(self) -> None:
        if self.mounted:
            subprocess.run(["umount", str(self.path)])
        shutil.rmtree(self.path, ignore_errors=True)


# --- the pager's webhook receiver ---------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """Records every page by its incident message; can kill the qcluster on the next page, before
    answering it (the page has arrived: the sender dies mid-send)."""

    daemon_threads = True

    def __init__(self, port: int):
        super().__init__(("127.0.0.1", port), _Receive)
        self.pages: list[str] = []
        self.kill_on_next = None  # a subprocess.Popen to SIGKILL (its process group)
        self.lock = threading.Lock()


class _Receive(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with self.server.lock:
            self.server.pages.append(json.dumps(body))
            victim, self.server.kill_on_next = self.server.kill_on_next, None
        if victim is not None:
            os.killpg(victim.pid, signal.SIGKILL)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


# --- the console ----------------------------------------------------------------------------------------------


class Console:
    def __init__(self, env: dict, port: int):
        self.env, self.port = env, port
        self.web = self.cluster = None

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def start_web(self) -> None:
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "echopilot.wsgi", "--bind", f"127.0.0.1:{self.port}"]
            + ["--workers", "2", "--worker-class", "gthread", "--threads", "4", "--timeout", "60"],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(self.env["FAULT_DIR"]) / "gunicorn.log", "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer /health")

    def start_cluster(self) -> None:
        self.cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(self.env["FAULT_DIR"]) / "qcluster.log", "ab"),  # noqa: SIM115
        )
        time.sleep(3)

    def request(self, method: str, path: str, body=None, *, form: bool = False, timeout: float = 30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"X-Dash-Key": KEY}
            if form:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            elif body is not None:
                headers["Content-Type"] = "application/json"
                body = json.dumps(body)
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def post_form(self, path: str, form: str):
        """A browser's POST of a form: the page first, for the CSRF cookie and token."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            html = response.read().decode()
            cookie = response.getheader("Set-Cookie", "").split(";")[0]
            token = html.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
            conn.request("POST", path, f"csrfmiddlewaretoken={token}&{form}", headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        for process in (self.web, self.cluster):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


# --- load with a record of what was acknowledged ----------------------------------------------------------


class Load:
    """Client threads sending usage reports (unique request ids, $0.001 each) and incident raises
    (one fingerprint), remembering what was answered 2xx, and every status seen."""

    def __init__(self, console: Console, threads: int = 6):
        self.console = console
        self.stop_at = None
        self.acked_usage: set[str] = set()
        self.acked_raises = 0
        self.sent_raises = 0
        self.statuses: dict[int, int] = {}
        self.slowest_s = 0.0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(threads)]
        self.running = True

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.running = False
        for thread in self.threads:
            thread.join(timeout=90)

    def _client(self, n: int) -> None:
        i = 0
        while self.running and i < 5000:
            i += 1
            started = time.monotonic()
            try:
                if i % 4 == 0:
                    with self.lock:
                        self.sent_raises += 1
                    status, _ = self.console.request(
                        "POST", "/api/incidents/raise", {"severity": "INFO", "msg": "load", "source": "fault-stage"}
                    )
                    if status in (200, 201):
                        with self.lock:
                            self.acked_raises += 1
                else:
                    rid = f"fault:{n}:{i}"
                    status, _ = self.console.request(
                        "POST", "/api/costs/usage", {"model": "gpt-4o-mini", "usd": "0.001", "request_id": rid}
                    )
                    if status == 200:
                        with self.lock:
                            self.acked_usage.add(rid)
            except (OSError, http.client.HTTPException):
                status = 0  # a connection reset while a worker restarts: not acknowledged
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.slowest_s = max(self.slowest_s, time.monotonic() - started)
            time.sleep(0.02)


# --- the stage ------------------------------------------------------------------------------------------------


@pytest.fixture
def stage():
    if PG_BIN is None:
        pytest.fail("the fault stage needs PostgreSQL's server binaries (Debian: /usr/lib/postgresql/*/bin)")
    taken: set = set()
    pg = ScratchPostgres(free_port_in(PORTS, taken))
    disk = LogDisk()
    receiver = Receiver(free_port_in(PORTS, taken))
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    redis = None
    fault_dir = Path(tempfile.mkdtemp(prefix="ep-fault-run-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ROLES_JSON")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "echopilot.settings",
            "DATABASE_URL": pg.url("echopilot"),
            "LOG_DIR": str(disk.path),
            "DASHBOARD_KEY": KEY,
            "PAGER_WEBHOOK_URL": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
            # Email is set up (to the log): without it the self-service form says so and offers none.
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "PAGER_LEASE_S": "5",
            "PAGER_BACKOFF_BASE_S": "1",
            "DB_CONNECT_TIMEOUT_S": "2",
            "DB_STATEMENT_TIMEOUT_S": "3",
            "DB_CLIENT_GRACE_S": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(fault_dir),
            "FAULT_DIR": str(fault_dir),
            "PYTHONPATH": str(ROOT),
        }
    )
    redis_port = free_port_in(PORTS, taken)
    if REDIS_SERVER:
        redis = start_redis(redis_port)
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    console = Console(env, free_port_in(PORTS, taken))
    run = {"pg": pg, "disk": disk, "receiver": receiver, "redis": redis, "redis_port": redis_port, "console": console}
    try:
        pg.start()
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE echopilot")
        console.manage("migrate", "--noinput", "-v", "0")
        console.manage("createcachetable")
        console.start_web()
        console.start_cluster()
        yield run
    finally:
        console.stop()
        if run["redis"] is not None and run["redis"].poll() is None:
            run["redis"].kill()  # the one started last (the test restarts it)
        receiver.shutdown()
        receiver.server_close()
        pg.destroy()
        disk.destroy()


def start_redis(port: int) -> subprocess.Popen:
    """A redis-server of this test's own, on its own port, keeping nothing on disk."""
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(0.5)
    return process


def wait_until(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def test_faults_lose_no_acknowledged_write_and_every_page_goes_out(stage):
    pg, disk, receiver, console = stage["pg"], stage["disk"], stage["receiver"], stage["console"]
    load = Load(console)
    load.start()
    time.sleep(3)

    # 1. The database crashes, and comes back: requests meanwhile are 503s, not 500s.
    pg.crash()
    time.sleep(3)
    status, body = console.request("GET", "/api/costs/status", timeout=15)
    assert status == 503 and json.loads(body)["error"] == "database unavailable; try again shortly"
    pg.start()
    time.sleep(3)

    # 2. The database freezes (every process stopped): a request is answered within seconds.
    pg.signal_all(signal.SIGSTOP)
    try:
        started = time.monotonic()
        status, _ = console.request("GET", "/api/costs/status", timeout=30)
        frozen_answer_s = time.monotonic() - started
        # The ledger's write goes through libpq itself: it keeps the same deadline.
        report = {"model": "gpt-4o-mini", "usd": "0.001", "request_id": "fault:frozen-report"}
        started = time.monotonic()
        usage_status, usage_body = console.request("POST", "/api/costs/usage", report, timeout=30)
        frozen_usage_s = time.monotonic() - started
    finally:
        pg.signal_all(signal.SIGCONT)
    assert status == 503 and frozen_answer_s < 10
    assert usage_status == 503 and frozen_usage_s < 10, (usage_status, frozen_usage_s)
    assert json.loads(usage_body)["error"] == "database unavailable; try again shortly"
    time.sleep(3)

    # 3. Redis is killed: the portal form and the queue status answer, a CRITICAL pages at once.
    if stage["redis"] is not None:
        stage["redis"].kill()
        stage["redis"].wait()
        status, page = console.post_form("/portal/", "email=someone%40example.com")
        assert status == 200 and b"Check your inbox" in page
        status, body = console.request("GET", "/api/queue/status")
        assert status == 200 and json.loads(body)["broker_reachable"] is False
        raised = {"severity": "CRITICAL", "msg": "raised while redis is down", "source": "fault-stage"}
        assert console.request("POST", "/api/incidents/raise", raised)[0] in (200, 201)
        assert wait_until(lambda: any("raised while redis is down" in p for p in receiver.pages), 15)
        stage["redis"] = start_redis(stage["redis_port"])
        time.sleep(1)

    # 4. The qcluster is killed mid-page: the page goes out again once its lease is over.
    receiver.kill_on_next = console.cluster
    raised = {"severity": "CRITICAL", "msg": "the cluster dies sending this", "source": "fault-stage"}
    assert console.request("POST", "/api/incidents/raise", raised)[0] in (200, 201)
    assert wait_until(lambda: console.cluster.poll() is not None, 30), "the qcluster was not killed mid-page"
    console.start_cluster()
    time.sleep(6)  # PAGER_LEASE_S: the interrupted send is due again
    console.manage("incident_pager")  # the 5-minute pager job, run now rather than waited for

    # 5. The log disk fills: writes are still acknowledged, and readiness says LOG_DIR is full.
    disk.fill()
    time.sleep(2)
    status, body = console.request("GET", "/healthz/strict")
    assert json.loads(body)["checks"]["log_dir"]["ok"] is False
    time.sleep(2)
    disk.empty()

    load.finish()
    check_every_acknowledged_write(stage, load)
    pages = [p for p in receiver.pages if "the cluster dies sending this" in p]
    assert len(pages) >= 2  # delivered before the kill, and again after: at least once
    assert any("raised while redis is down" in p for p in receiver.pages) or stage["redis"] is None
    assert 500 not in load.statuses, load.statuses


def check_every_acknowledged_write(stage, load: Load) -> None:
    with psycopg.connect(stage["pg"].url("echopilot")) as conn:
        ledger = {
            rid: micros
            for rid, micros in conn.execute(
                "SELECT request_id, usd_micros FROM costs_spendentry WHERE request_id LIKE 'fault:%'"
            )
        }
        counters = conn.execute(
            "SELECT COALESCE(SUM(usd_micros), 0), COALESCE(SUM(reports), 0) FROM costs_dailycounter "
            "WHERE scope = 'model' AND key = 'gpt-4o-mini'"
        ).fetchone()
        (count,) = conn.execute(
            "SELECT COALESCE(SUM(count), 0) FROM incidents_incident WHERE source = 'fault-stage' AND message = 'load'"
        ).fetchone()
    assert load.acked_usage, "no usage report was acknowledged"
    assert load.acked_usage <= set(ledger), "an acknowledged usage report is missing"
    assert counters == (sum(ledger.values()), len(ledger)), "the counters differ from the ledger"
    assert load.acked_raises <= count <= load.sent_raises
