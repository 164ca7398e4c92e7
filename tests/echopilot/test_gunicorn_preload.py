"""`dev.py start`'s web server: gunicorn with the app preloaded in its master and the console's hooks."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import dev  # noqa: E402  (dev.py sits beside manage.py, not in a package)

PORT = 18951


def get(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=5) as response:
        return response.status


def children(pid):
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_the_preloaded_server_serves_from_every_worker_and_replaces_a_dead_one(tmp_path):
    assert "--preload" in dev.gunicorn_command("127.0.0.1", PORT, 2)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SQLITE_PATH=str(tmp_path / "db.sqlite3"), LOG_DIR=str(tmp_path / "logs"))
    env.update(PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"), ALLOWED_HOSTS="127.0.0.1")
    (tmp_path / "prom").mkdir()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    server = subprocess.Popen(
        dev.gunicorn_command("127.0.0.1", PORT, 2), cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get("/health") == 200 and len(children(server.pid)) == 2:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        workers = children(server.pid)
        assert len(workers) == 2
        assert [get("/health") for _ in range(10)] == [200] * 10
        assert get("/metrics") == 200
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (workers[0] in children(server.pid) or len(children(server.pid)) < 2):
            time.sleep(0.2)
        assert len(children(server.pid)) == 2 and workers[0] not in children(server.pid)
        assert [get("/health") for _ in range(5)] == [200] * 5
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err.decode(), err.decode()[-3000:]
