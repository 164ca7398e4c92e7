"""What the benchmarks share: a fresh PostgreSQL database, manage.py, and a real gunicorn on loopback."""

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# The benchmarks' consoles run on PostgreSQL, which refuses to start without secrets of its own.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("PORTAL_SIGNING_SECRET", secrets.token_urlsafe(50))


def fresh_database(name: str) -> None:
    """Drop the PostgreSQL database `name` if it is there, and create it empty."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def manage(env: dict, *args: str) -> str:
    """Run manage.py with `env`; its standard output, stripped."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict, port: int, workers: int, threads: int = 1) -> subprocess.Popen:
    """gunicorn serving the console on 127.0.0.1:`port` (sync workers, or gthread when threads > 1),
    returned once /health answers; in its own process group, so `stop` takes its workers too."""
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="echopilot-bench-prom-")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "echopilot.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            *(["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return wait_for_health(process, port, "gunicorn")


def wait_for_health(process: subprocess.Popen, port: int, what: str) -> subprocess.Popen:
    """`process` once /health answers 200 on `port`; stopped, and the run ended, if it never does."""
    deadline = time.monotonic() + 90  # a loaded machine can take a while to import Django
    while time.monotonic() < deadline and process.poll() is None:  # no waiting on one that died
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise SystemExit(f"{what} did not answer /health (exit code {process.returncode}) within 90 s")


def free_port_in(ports: range, taken: set) -> int:
    """The first of `ports` not in `taken` that binds on loopback, then added to `taken`."""
    for port in ports:
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def print_table(rows) -> None:
    """A benchmark's rows of (measure, figure, bar, result), as an aligned table."""
    header = ("measure", "figure", "bar", "result")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print()
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*r))
    print()
