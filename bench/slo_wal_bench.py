#!/usr/bin/env python3
"""WAL written by SLO ingest per ingested hour, against the live data that hour leaves (PostgreSQL).

    .venv/bin/python bench/slo_wal_bench.py
    .venv/bin/python bench/slo_wal_bench.py --services 10 --rate 10 --hours 2 --cadence 10

Drops and recreates the database (default ep_slo_wal_bench), migrates it, then plays `--hours` of
traffic through the real ingest path (parse + ingest, as POST /api/slo/ingest does): `--services`
services at `--rate` requests a second each over a few templated routes, every service sending one
batch every `--cadence` seconds. It measures:

  WAL (ours)   the bytes of the WAL records of this database only (pg_walinspect, records whose blocks
               are in this database plus their transactions' commit records), so other databases on
               a shared server do not count; the cluster-wide pg_wal_lsn_diff is printed beside it
  live data    pg_total_relation_size of the rollup table after VACUUM FULL (its compact size; the
               size as written, with dead row versions, is printed too)

and judges WAL per ingested hour against live data per ingested hour (bar: at most 3x).
`--checkpoint-minutes N` issues a CHECKPOINT every N simulated minutes, as a server with the default
checkpoint_timeout (5 min) would: pages touched after a checkpoint are then written whole once (full
page images), which a run compressed into seconds would otherwise hardly see.
"""

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import harness

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROUTES = ["/api/jobs", "/api/jobs/{id}", "/login", "/api/search"]


def setup(url: str) -> None:
    from urllib.parse import urlparse

    harness.fresh_database(urlparse(url).path.lstrip("/"))
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "echopilot.settings",
            "SLO_RECORD_CONSOLE": "false",
            "DEBUG": "false",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def batches(services: int, rate: float, hours: float, cadence: int, start: float):
    """(simulated epoch, JSON body) of every batch, in time order: each service sends every `cadence` s."""
    import numpy as np
    import orjson

    rng = np.random.default_rng(11)
    per_batch = max(1, int(round(rate * cadence)))
    for step in range(int(hours * 3600 / cadence)):
        t0 = start + step * cadence
        for s in range(services):
            ts = t0 + np.sort(rng.uniform(0, cadence, per_batch))
            latency = np.round(rng.lognormal(np.log(80 + 10 * s), 0.6, per_batch), 2)
            routes = rng.integers(0, len(ROUTES), per_batch)
            samples = [
                {"ts": float(t), "latency_ms": float(x), "status": 503 if x > 900 else 200, "route": ROUTES[r]}
                for t, x, r in zip(ts.tolist(), latency.tolist(), routes.tolist(), strict=True)
            ]
            yield t0, orjson.dumps({"service": f"svc{s:02d}", "samples": samples})


def lsn() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn()")  # pg_walinspect reads only flushed WAL
        return cursor.fetchone()[0]


def wal_bytes(start: str, end: str) -> dict:
    """WAL between two positions: this database's records (with their commits), their full page images,
    and the cluster's whole diff."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        cursor.execute("SELECT oid FROM pg_database WHERE datname = current_database()")
        (oid,) = cursor.fetchone()
        cursor.execute(
            "WITH r AS (SELECT * FROM pg_get_wal_records_info(%s, %s)),"
            " ours AS (SELECT * FROM r WHERE block_ref LIKE %s),"
            " commits AS (SELECT * FROM r WHERE resource_manager = 'Transaction'"
            "   AND xid IN (SELECT xid FROM ours WHERE xid <> '0'))"
            " SELECT (SELECT coalesce(sum(record_length), 0) FROM ours) + (SELECT coalesce(sum(record_length), 0)"
            " FROM commits), (SELECT coalesce(sum(fpi_length), 0) FROM ours), pg_wal_lsn_diff(%s, %s)",
            [start, end, f"%/{oid}/%", end, start],
        )
        ours, fpi, cluster = cursor.fetchone()
    return {"ours": int(ours), "fpi": int(fpi), "cluster": int(cluster)}


def table_sizes() -> tuple[int, int, int]:
    """(rows, size as written, size after VACUUM FULL) of the rollup table."""
    from django.db import connection

    from slo.models import Rollup

    table = Rollup._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
        rows, written = cursor.fetchone()
        cursor.execute(f"VACUUM FULL {table}")
        cursor.execute(f"SELECT pg_total_relation_size('{table}')")
        (compact,) = cursor.fetchone()
    return rows, written, compact


def checkpoint() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


class WalMeter:
    """Adds up the WAL written since the last look, looked at often: once a checkpoint has passed, the
    server recycles the segments behind it and they can no longer be read."""

    def __init__(self):
        self.position = lsn()
        self.totals = {"ours": 0, "fpi": 0, "cluster": 0}

    def look(self) -> None:
        now = lsn()
        if now == self.position:  # pg_walinspect refuses a start at the flush position itself
            return
        for name, value in wal_bytes(self.position, now).items():
            self.totals[name] += value
        self.position = now


def play(args) -> dict:
    from django.utils import timezone

    from slo import ingest

    # Start on an hour, a few hours back, so no sample is "in the future" and the run fills whole hours.
    start = (int((timezone.now() - timedelta(hours=args.hours + 2)).timestamp()) // 3600) * 3600
    now = timezone.now()
    calls = samples = 0
    next_checkpoint = start
    meter = WalMeter()
    t0 = time.perf_counter()
    for at, body in batches(args.services, args.rate, args.hours, args.cadence, start):
        if args.checkpoint_minutes and at >= next_checkpoint:
            meter.look()
            checkpoint()
            next_checkpoint += args.checkpoint_minutes * 60
        parsed = ingest.parse_body(body, "application/json", now=now)
        samples += ingest.ingest(parsed)["accepted"]
        calls += 1
        if calls % 20 == 0:  # often: on a shared server a busy neighbour makes checkpoints recycle segments
            meter.look()
    meter.look()
    elapsed = time.perf_counter() - t0
    rows, written, compact = table_sizes()
    return {
        "calls": calls,
        "samples": samples,
        "seconds": elapsed,
        **meter.totals,
        "rows": rows,
        "written": written,
        "compact": compact,
    }


def report(args, m: dict) -> bool:
    hours = args.hours
    ratio = m["ours"] / m["compact"]
    rows = [
        ("ingest calls / samples", f"{m['calls']:,} / {m['samples']:,} in {m['seconds']:.0f} s", "", ""),
        ("rollup rows", f"{m['rows']:,}", "", ""),
        ("WAL per ingested hour, this database", f"{m['ours'] / hours / 1e6:.2f} MB", "", ""),
        ("  of which full page images", f"{m['fpi'] / hours / 1e6:.2f} MB", "", ""),
        ("WAL per ingested hour, whole cluster (pg_wal_lsn_diff)", f"{m['cluster'] / hours / 1e6:.2f} MB", "", ""),
        ("table as written per hour (pg_total_relation_size)", f"{m['written'] / hours / 1e6:.3f} MB", "", ""),
        ("live data per hour (after VACUUM FULL)", f"{m['compact'] / hours / 1e6:.3f} MB", "", ""),
        ("WAL / live data", f"{ratio:.1f}x", "<= 3x", "PASS" if ratio <= 3 else "FAIL"),
        ("table as written / live data", f"{m['written'] / m['compact']:.1f}x", "", ""),
    ]
    harness.print_table(rows)
    return ratio <= 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ep_slo_wal_bench")
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10, help="requests a second per service")
    parser.add_argument("--hours", type=float, default=2)
    parser.add_argument("--cadence", type=int, default=10, help="seconds between one service's batches")
    parser.add_argument("--checkpoint-minutes", type=float, default=0)
    args = parser.parse_args()
    setup(args.database_url)
    print(
        f"SLO ingest WAL: {args.services} services x {args.rate:g} req/s, {len(ROUTES)} routes, a batch per service"
        f" every {args.cadence} s, {args.hours:g} h"
        + (f", CHECKPOINT every {args.checkpoint_minutes:g} simulated min" if args.checkpoint_minutes else "")
    )
    return 0 if report(args, play(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
