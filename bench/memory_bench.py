"""Memory of the embedded default: `dev.py start` (gunicorn and the task runner on SQLite), idle.

Starts `dev.py start` on a free loopback port in a temporary folder (its own SQLite, LOG_DIR and
metrics folder, no Redis), waits until it answers, asks a few pages, lets it settle, then reads
every process under it from /proc: RSS (what `top` shows, shared pages counted in each process),
PSS (shared pages split between the processes sharing them: the sum is what the box really holds)
and private memory. Stops it with Ctrl-C's signal. Bar: under 400 MB RSS in all.

    .venv/bin/python bench/memory_bench.py               # ~1 min: migrate, demo data, start, measure
    .venv/bin/python bench/memory_bench.py --workers 4   # gunicorn workers (dev.py start's default: 1)
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, free_port  # noqa: E402

BAR_MB = 400


def descendants(pid: int) -> list[int]:
    """`pid`'s children, theirs, and so on."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def memory_kb(pid: int) -> dict[str, int]:
    """Rss, Pss and private (clean + dirty) kB of one process, from smaps_rollup."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return {
        "rss": fields["Rss"],
        "pss": fields["Pss"],
        "private": fields["Private_Clean"] + fields["Private_Dirty"],
    }


def command_of(pid: int) -> str:
    words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    text = " ".join(w.decode(errors="replace") for w in words if w)
    return text.replace(sys.executable, "python").replace(str(ROOT) + "/", "")[:70]


def wait_until_up(port: int, process: subprocess.Popen, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"dev.py start ended early ({process.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("dev.py start did not answer in time")


def measure(workers: int, settle_s: float, port: int) -> list[tuple[int, str, dict[str, int]]]:
    with tempfile.TemporaryDirectory(prefix="ep-memory-") as folder:
        unset = ("DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")
        env = {k: v for k, v in os.environ.items() if k not in unset}
        env.update(SQLITE_PATH=f"{folder}/db.sqlite3", LOG_DIR=f"{folder}/logs", PROMETHEUS_MULTIPROC_DIR=folder)
        cmd = [sys.executable, "dev.py", "start", "--port", str(port), "--workers", str(workers)]
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(port, process)
            for path in ("/health", "/metrics", "/admin/login/"):
                for _ in range(workers * 2):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()
            time.sleep(settle_s)
            return [(pid, command_of(pid), memory_kb(pid)) for pid in descendants(process.pid)]
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (dev.py start's default: 1)")
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds idle before measuring")
    args = parser.parse_args()
    rows = measure(args.workers, args.settle, args.port or free_port())
    print(f"{'pid':>7}  {'RSS MB':>7}  {'PSS MB':>7}  {'private MB':>10}  process")
    for pid, command, kb in rows:
        print(f"{pid:>7}  {kb['rss'] / 1024:7.1f}  {kb['pss'] / 1024:7.1f}  {kb['private'] / 1024:10.1f}  {command}")
    total = {key: sum(kb[key] for _, _, kb in rows) / 1024 for key in ("rss", "pss", "private")}
    print(f"{'all':>7}  {total['rss']:7.1f}  {total['pss']:7.1f}  {total['private']:10.1f}  ({len(rows)} processes)")
    met = total["rss"] < BAR_MB
    print(f"bar: under {BAR_MB} MB RSS in all: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
