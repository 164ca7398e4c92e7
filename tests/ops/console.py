"""A fresh console in subprocesses: its own SQLite file and LOG_DIR, a qcluster, a Redis of its own."""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# This worktree's port range (18600-18699); tests take theirs from 18620 on.
PORTS = range(18620, 18700)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18620-18699")


class Console:
    def __init__(self, folder: Path, redis_url: str = ""):
        self.folder = folder
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DASHBOARD_KEY", "Q_SYNC")}
        self.env.update(
            SQLITE_PATH=str(folder / "console.sqlite3"),
            LOG_DIR=str(folder / "logs"),
            REDIS_URL=redis_url,
            Q_WORKERS="1",
            SLO_RECORD_CONSOLE="false",
        )
        self.cluster: subprocess.Popen | None = None

    def manage(self, *args, timeout=120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ops_check(self) -> tuple[int, dict, float]:
        started = time.monotonic()
        done = self.manage("ops_check", "--json", timeout=60)
        return done.returncode, json.loads(done.stdout), time.monotonic() - started

    def start_cluster(self) -> None:
        self.cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop_cluster(self) -> None:
        if self.cluster is None:
            return
        self.cluster.terminate()  # the sentinel stops its own workers
        try:
            self.cluster.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.cluster.pid, signal.SIGKILL)  # its own process group: ours to end
            self.cluster.wait(timeout=10)
        self.cluster = None

    def query(self, sql: str, *params) -> list:
        with sqlite3.connect(self.env["SQLITE_PATH"], timeout=30) as db:
            return db.execute(sql, params).fetchall()


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


class RedisServer:
    """redis-server on a port of ours, no persistence; stop() is the broker going away."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        assert wait_for(self._answers, 10), "redis-server did not start"

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class SilentServer:
    """Accepts TCP connections and never answers a byte: a broker that hangs."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.held: list = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
        for conn in self.held:
            conn.close()
