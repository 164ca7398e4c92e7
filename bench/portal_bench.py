#!/usr/bin/env python3
"""Benchmark of the customer portal under gunicorn. Standalone and bounded in time:

    .venv/bin/python bench/portal_bench.py [--seconds 5] [--clients 8] [--workers 4]

1. Creates its own PostgreSQL database (ep_portal_bench, dropped and made again), migrates it, loads
   the demo data and issues an admin dash key.
2. Starts gunicorn (several workers) and drives it with client processes:
   - signed Stripe webhooks, each a new event, plus every event sent a second time: events per second,
     and afterwards exactly one StripeEvent row and one purchase per distinct event (bar: exact);
   - PDF downloads with valid signed links: downloads per second and p50/p95 latency;
   - /health in the same run, for scale.
3. Restarts gunicorn with a download limit of 40 a minute and fires 160 downloads from 16 clients at
   once across the workers: exactly 40 must pass and 120 get 429 (bar: exact; the counter is shared).

Prints a table and exits 0 when every bar holds, 1 otherwise. Stops gunicorn itself.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from urllib.parse import urlparse

from harness import ROOT, free_port, fresh_database, manage, start_gunicorn, stop

DB_NAME = "ep_portal_bench"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
WEBHOOK_SECRET = "whsec_bench_portal"


def say(message: str) -> None:
    print(f"[portal-bench] {message}", flush=True)


def bench_env(log_dir: str, download_limit: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DASHBOARD_KEY", "ROLES_JSON", "REDIS_URL")}
    env.update(
        {
            "DATABASE_URL": DB_URL,
            "DJANGO_SETTINGS_MODULE": "echopilot.settings",
            "LOG_DIR": log_dir,
            "PYTHONPATH": str(ROOT),
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PORTAL_SIGNING_SECRET": "bench-portal-signing-secret",
            "PORTAL_DOWNLOAD_RATE_PER_MIN": str(download_limit),
            "SLO_RECORD_CONSOLE": "false",
        }
    )
    return env


def signed_event(client_id: int, i: int) -> tuple[str, str]:
    charge_id = f"ch_bench_{client_id}_{i}"
    event = {
        "id": f"evt_bench_{client_id}_{i}",
        "object": "event",
        "type": "charge.succeeded",
        "created": int(time.time()),
        "livemode": False,
        "api_version": "2024-06-20",
        "data": {
            "object": {
                "id": charge_id,
                "object": "charge",
                "amount": 1000 + i,
                "amount_refunded": 0,
                "currency": "usd",
                "status": "succeeded",
                "refunded": False,
                "paid": True,
                "payment_intent": f"pi_bench_{client_id}_{i}",
                "description": "Bench purchase",
                "created": int(time.time()),
                "balance_transaction": f"txn_{charge_id}",
                "billing_details": {"email": f"buyer{client_id}-{i % 50}@bench.example", "name": "Bench Buyer"},
            }
        },
    }
    payload = json.dumps(event)
    stamp = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return payload, f"t={stamp},v1={mac}"


def client_loop(args) -> dict:
    """One client process: requests back to back for `seconds` (or `count` requests)."""
    port, kind, seconds, client_id, paths, count = args
    statuses, latencies, events = {}, [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    deadline = time.monotonic() + seconds
    i = 0
    while (count and i < count) or (not count and time.monotonic() < deadline):
        i += 1
        started = time.perf_counter()
        try:
            if kind == "webhook":
                # Every new event is followed by its replay: idempotency is measured, not assumed.
                payload, header = signed_event(client_id, (i + 1) // 2)
                events = (i + 1) // 2
                conn.request(
                    "POST",
                    "/api/portal/stripe/webhook",
                    payload,
                    {"Content-Type": "application/json", "Stripe-Signature": header},
                )
            elif kind == "download":
                conn.request("GET", paths[i % len(paths)])
            else:
                conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
        except (OSError, http.client.HTTPException):
            statuses["error"] = statuses.get("error", 0) + 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies.append(time.perf_counter() - started)
    conn.close()
    return {"statuses": statuses, "latencies": latencies, "events": events}


def drive(port, kind, seconds, clients, paths=(), count=0) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(clients) as pool:
        started = time.monotonic()
        parts = pool.map(client_loop, [(port, kind, seconds, c, list(paths), count) for c in range(clients)])
        elapsed = time.monotonic() - started
    statuses = {}
    for part in parts:
        for status, n in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    latencies = sorted(x for p in parts for x in p["latencies"])
    total = sum(statuses.values())
    return {
        "kind": kind,
        "statuses": statuses,
        "per_second": total / (seconds if not count else elapsed),
        "p50_ms": 1000 * statistics.median(latencies) if latencies else 0,
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0,
        "events": sum(p["events"] for p in parts),
    }


def download_paths(env: dict) -> list[str]:
    out = manage(env, "customer_portal", "receipts", "ana.lima@example.com")
    out += "\n" + manage(env, "customer_portal", "receipts", "qa@echopilot.ai")
    return [
        urlparse(line.strip()).path + "?" + urlparse(line.strip()).query
        for line in out.splitlines()
        if "token=" in line
    ]


def database_counts() -> tuple[int, int]:
    import psycopg

    with psycopg.connect(DB_URL) as conn:
        events = conn.execute("SELECT count(*) FROM portal_stripeevent WHERE event_id LIKE 'evt_bench_%%'").fetchone()[
            0
        ]
        purchases = conn.execute(
            "SELECT count(*) FROM portal_purchase WHERE stripe_charge LIKE 'ch_bench_%%'"
        ).fetchone()[0]
    return events, purchases


def clear_rate_counters() -> None:
    import psycopg

    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute("DELETE FROM portal_ratebucket")


def wait_for_fresh_minute() -> None:
    # The download limit is per minute: start the burst early in a window so it cannot straddle two.
    second = time.time() % 60
    if second > 40:
        time.sleep(60 - second + 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    log_dir = tempfile.mkdtemp(prefix="portal-bench-logs-")
    env = bench_env(log_dir, download_limit=1_000_000)
    say(f"database {DB_NAME}: create, migrate, demo data")
    fresh_database(DB_NAME)
    manage(env, "migrate", "-v", "0")
    manage(env, "createcachetable")
    manage(env, "demo")
    paths = download_paths(env)
    bars = []

    port = free_port()
    gunicorn = start_gunicorn(env, port, args.workers)
    try:
        health = drive(port, "health", args.seconds, args.clients)
        webhook = drive(port, "webhook", args.seconds, args.clients)
        downloads = drive(port, "download", args.seconds, args.clients, paths)
    finally:
        stop(gunicorn)
    events, purchases = database_counts()
    bars.append(
        (
            "each distinct webhook event stored once",
            events == webhook["events"] == purchases,
            f"{webhook['events']} sent (each twice), {events} events, {purchases} purchases",
        )
    )
    bars.append(("webhooks answered 200", set(webhook["statuses"]) == {200}, str(webhook["statuses"])))
    bars.append(("downloads answered 200", set(downloads["statuses"]) == {200}, str(downloads["statuses"])))

    limited_env = bench_env(log_dir, download_limit=40)
    port = free_port()
    gunicorn = start_gunicorn(limited_env, port, args.workers)
    try:
        clear_rate_counters()  # the throughput phase counted against the same address
        wait_for_fresh_minute()
        burst = drive(port, "download", 0, 16, paths, count=10)
    finally:
        stop(gunicorn)
    bars.append(
        (
            "rate limit exact across workers (40 of 160)",
            burst["statuses"].get(200) == 40 and burst["statuses"].get(429) == 120,
            str(burst["statuses"]),
        )
    )

    print()
    print(f"{'what':<34}{'per second':>12}{'p50 ms':>10}{'p95 ms':>10}")
    for label, row in (
        ("GET /health", health),
        ("POST stripe webhook (half replays)", webhook),
        ("GET download (PDF)", downloads),
    ):
        print(f"{label:<34}{row['per_second']:>12.0f}{row['p50_ms']:>10.1f}{row['p95_ms']:>10.1f}")
    print()
    for label, ok, detail in bars:
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {detail}")
    return 0 if all(ok for _, ok, _ in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
