#!/usr/bin/env python3
"""Benchmark of the incident inbox and pager. Standalone and bounded in time:

    .venv/bin/python bench/incidents_bench.py [--raises 2000] [--threads 16] [--pages 20]

1. Creates its own PostgreSQL database (ep_incidents_bench, dropped and made again) and migrates it.
2. In process: raise_incident per second for new fingerprints and for repeats (dedup path).
3. Races: --threads threads raise 8 fingerprints 100 times each at once; afterwards exactly 8
   incidents, counts summing to every raise, and exactly one page per fingerprint (bar: exact).
4. Raise to page: starts a real django-q2 cluster (ORM broker) and a loopback Telegram Bot API,
   raises --pages distinct CRITICAL incidents one by one and measures from the raise returning to
   the message reaching Telegram. Bar: p95 under 5 s ("reaches a human within seconds").

Prints a table and exits 0 when every bar holds, 1 otherwise. Stops the cluster itself.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness import ROOT, fresh_database, manage

DB_NAME = "ep_incidents_bench"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
LOG_DIR = Path("/tmp/ep_incidents_bench_logs")


def say(message: str) -> None:
    print(f"[incidents-bench] {message}", flush=True)


class TelegramStandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.arrivals = {}

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.arrivals.setdefault(body["text"].split("</b>")[0], time.monotonic())
        raw = b'{"ok": true, "result": {"message_id": 1}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


def configure(telegram_url: str) -> dict:
    env = {
        "DATABASE_URL": DB_URL,
        "REDIS_URL": "",
        "LOG_DIR": str(LOG_DIR),
        "Q_CLUSTER_NAME": "incidents_bench",
        "Q_WORKERS": "2",
        "TELEGRAM_API_BASE": telegram_url,
        "TELEGRAM_BOT_TOKEN": "1:bench",
        "TELEGRAM_CHAT_ID": "1",
        "TELEGRAM_MIN_INTERVAL_S": "0",
        "PAGER_STORM_MAX_PER_MIN": "100000",
        "SMTP_HOST": "",
        "PAGER_WEBHOOK_URL": "",
        "SLO_RECORD_CONSOLE": "false",
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
    }
    os.environ.update(env)
    return {**os.environ, **env}


def per_second(n: int, fn) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - started)


def throughput(raises: int) -> dict:
    from incidents import raise_incident

    new = per_second(raises, lambda i: raise_incident("WARNING", f"bench new {i:x}z", "bench", fingerprint=f"new-{i}"))
    repeat = per_second(raises, lambda i: raise_incident("WARNING", "bench repeat", "bench", fingerprint="repeat"))
    return {"new fingerprint raises/s": new, "repeat (dedup) raises/s": repeat}


def race(threads: int) -> tuple[dict, bool]:
    from django.db import connection

    from incidents import raise_incident
    from incidents.models import Delivery, Incident

    per_thread, fingerprints = 100, [f"race-{n}" for n in range(8)]
    barrier = threading.Barrier(threads)

    def run(t):
        barrier.wait()
        try:
            for i in range(per_thread):
                raise_incident("CRITICAL", "race", "bench", fingerprint=fingerprints[(t + i) % 8])
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    incidents = Incident.objects.filter(fingerprint__in=fingerprints)
    total = sum(incidents.values_list("count", flat=True))
    pages = Delivery.objects.filter(incident__in=incidents).count()
    ok = incidents.count() == 8 and total == threads * per_thread and pages == 8
    return {
        "concurrent raises/s": threads * per_thread / elapsed,
        "incidents": incidents.count(),
        "count sum": total,
        "pages": pages,
    }, ok


def latency(pages: int, env: dict, telegram: TelegramStandIn) -> tuple[dict, bool]:
    from incidents import raise_incident
    from incidents.models import Delivery

    Delivery.objects.filter(status__in=[Delivery.PENDING, Delivery.SENDING]).delete()  # leave the race's pages out
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(4)  # the cluster's start is not what we measure
        raised = {}
        for n in range(pages):
            title = f"[CRITICAL] latency probe {chr(65 + n % 26)}{n}"
            raise_incident("CRITICAL", title.split("] ", 1)[1], "bench-latency")
            raised[f"<b>{title}"] = time.monotonic()
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(k in telegram.arrivals for k in raised):
            time.sleep(0.1)
    finally:
        cluster.terminate()
        try:
            cluster.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=10)
    delays = sorted(telegram.arrivals[k] - t for k, t in raised.items() if k in telegram.arrivals)
    if len(delays) < len(raised):
        return {"pages delivered": f"{len(delays)}/{len(raised)}"}, False
    p95 = delays[max(0, int(round(0.95 * len(delays))) - 1)]
    return {
        "pages delivered": f"{len(delays)}/{len(raised)}",
        "raise->telegram p50 s": statistics.median(delays),
        "raise->telegram p95 s": p95,
    }, p95 < 5


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raises", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--pages", type=int, default=20)
    args = parser.parse_args()

    telegram = TelegramStandIn()
    threading.Thread(target=telegram.serve_forever, daemon=True).start()
    env = configure(telegram.url)
    say(f"fresh database {DB_NAME}")
    fresh_database(DB_NAME)
    manage(env, "migrate", "-v0")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    rows, bars = {}, []
    say("throughput")
    rows.update(throughput(args.raises))
    say("race")
    race_rows, race_ok = race(args.threads)
    rows.update(race_rows)
    bars.append(("one incident and one page per fingerprint under concurrent raises", race_ok))
    say("raise to page through a django-q2 cluster")
    latency_rows, latency_ok = latency(args.pages, env, telegram)
    rows.update(latency_rows)
    bars.append(("raise -> Telegram p95 < 5 s", latency_ok))
    telegram.shutdown()

    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value:,.2f}" if isinstance(value, float) else f"  {key:<{width}}  {value}")
    for label, ok in bars:
        print(f"  [{'PASS' if ok else 'FAIL'}] {label}")
    return 0 if all(ok for _, ok in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
