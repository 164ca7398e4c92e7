#!/usr/bin/env python3
"""SLO ingest of a batch whose routes carry ids (/orders/123, /orders/124, ...) against templated routes.

    .venv/bin/python bench/slo_routes_bench.py                     # SQLite in a temp folder
    .venv/bin/python bench/slo_routes_bench.py --database-url postgres://postgres@127.0.0.1:5432/ep_slo_routes_bench
    .venv/bin/python bench/slo_routes_bench.py --routes 30000 --repeat 3

Sets up its own database (a temp SQLite file, or drops and recreates the named PostgreSQL database)
and sends, through the real path (`ingest.parse_records` + `ingest.ingest`), batches of `--routes`
samples for one service within one minute:

  templated   every sample on the route /orders/{id}
  id routes   every sample on a route of its own, /orders/<n>

each twice per fresh service (the first batch meets an empty service, the second one a service that
has its routes already), `--repeat` times. It prints the median time of each, the rollup rows the
first batch created, the distinct routes the service ended with, and id routes / templated.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import harness

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(url: str | None, workdir: Path) -> None:
    os.environ.update(
        {
            "LOG_DIR": str(workdir / "logs"),
            "SLO_RECORD_CONSOLE": "false",
            "DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "echopilot.settings",
        }
    )
    if url:
        from urllib.parse import urlparse

        harness.fresh_database(urlparse(url).path.lstrip("/"))
        os.environ["DATABASE_URL"] = url
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["SQLITE_PATH"] = str(workdir / "bench.sqlite3")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def batch(service: str, n: int, first_id: int, templated: bool, start: float):
    """A checked batch of `n` samples for `service` within one minute from `start`."""
    from slo import ingest

    records = [
        {
            "ts": start + i * (59.0 / n),
            "latency_ms": 20.0 + (i % 97),
            "status": 503 if i % 50 == 0 else 200,
            "route": "/orders/{id}" if templated else f"/orders/{first_id + i}",
        }
        for i in range(n)
    ]
    return ingest.parse_records(records, service=service, label=str, limit=None)


def rows_of(service: str) -> tuple[int, int]:
    """(rollup rows, distinct routes other than "*") of `service`."""
    from slo.models import ALL_ROUTES, Rollup

    rows = Rollup.objects.filter(service=service)
    return rows.count(), rows.exclude(route=ALL_ROUTES).values("route").distinct().count()


def run(kind: str, rep: int, n: int, start: float) -> dict:
    from slo import ingest

    service = f"{kind}-{rep}"
    times = []
    for second in (False, True):
        samples = batch(service, n, n * second, kind == "templated", start)
        t0 = time.perf_counter()
        ingest.ingest(samples)
        times.append(time.perf_counter() - t0)
        if not second:
            created, _ = rows_of(service)
    _, routes = rows_of(service)
    return {"first": times[0], "second": times[1], "created": created, "routes": routes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--routes", type=int, default=30_000, help="samples (and id routes) per batch")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup(args.database_url or None, Path(tempfile.mkdtemp(prefix="slo-routes-")))
    from django.conf import settings
    from django.db import connection

    start = (time.time() // 60 - 30) * 60
    results: dict = {"templated": [], "ids": []}
    for rep in range(args.repeat):
        for kind in results:
            results[kind].append(run(kind, rep, args.routes, start))
    cap = getattr(settings, "SLO_MAX_ROUTES_PER_SERVICE", None)
    print(
        f"SLO ingest, {connection.vendor}: batches of {args.routes:,} samples for one service, median of"
        f" {args.repeat}; SLO_MAX_ROUTES_PER_SERVICE={cap if cap is not None else '(none)'}"
    )
    median = {kind: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for kind, runs in results.items()}
    rows = []
    for kind, label in (("templated", "templated (/orders/{id})"), ("ids", "id routes (/orders/<n>)")):
        m = median[kind]
        rows += [
            (f"{label}: first batch", f"{m['first'] * 1000:,.0f} ms", "", ""),
            (f"{label}: second batch (new ids)", f"{m['second'] * 1000:,.0f} ms", "", ""),
            (f"{label}: rows the first batch created", f"{m['created']:,.0f}", "", ""),
            (f"{label}: distinct routes after both", f"{m['routes']:,.0f}", "", ""),
        ]
    for which in ("first", "second"):
        ratio = median["ids"][which] / median["templated"][which]
        rows.append((f"id routes / templated, {which} batch", f"{ratio:.1f}x", "", ""))
    harness.print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
