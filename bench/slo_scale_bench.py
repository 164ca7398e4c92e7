#!/usr/bin/env python3
"""The SLO work as the number of SLOs grows: the dashboard, the budget tick, the watch and /metrics.

    .venv/bin/python bench/slo_scale_bench.py --database-url postgres://postgres@127.0.0.1:5432/ep_slo_scale
    .venv/bin/python bench/slo_scale_bench.py --database-url ... --sizes 10,50,200 --repeat 3

Drops and recreates the named PostgreSQL database, writes 30 days of rollups at 100 req/s for one
service as ingest leaves them (minutes 3 days, hours 40, days 31), copies them to every other
service, and for N = each size (SLOs added between sizes) measures, median of `--repeat` runs, the
time and the number of queries of: the admin dashboard (every card), the SLO card alone, the
budget tick, the watch and GET /metrics. One SLO in ten burns (alerts fire on the first run). The
budget tick runs once after SLOs are added, as its schedule would within 15 minutes, and each
budget tick measured follows a watch at the same due time, as the 2-minute watch leaves it.
Bars: dashboard at the largest N within 3x of the smallest, with the same query count; each job at
the largest N under 1 s; /metrics under 50 ms.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, fresh_database, print_table  # noqa: E402

sys.path.insert(0, str(ROOT))
TEMPLATE = "svc-template"


def setup(url: str) -> None:
    fresh_database(url.rsplit("/", 1)[1])
    workdir = Path(tempfile.mkdtemp(prefix="slo-scale-"))
    os.environ.update(
        {
            "DATABASE_URL": url,
            "LOG_DIR": str(workdir / "logs"),
            "SLO_RECORD_CONSOLE": "false",
            "DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "echopilot.settings",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def add_slos(first: int, last: int) -> None:
    """SLOs first..last-1, each on its own service holding a copy of the template's rollups."""
    from django.db import connection

    from slo.models import Rollup, Slo

    table = Rollup._meta.db_table
    for i in range(first, last):
        service = f"svc-{i:03d}"
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {table} (service, route, resolution, start, count, errors, latency_sum_ms,"
                " statuses, sketch) SELECT %s, route, resolution, start, count, errors, latency_sum_ms,"
                f" statuses, sketch FROM {table} WHERE service = %s",
                [service, TEMPLATE],
            )
        Slo.objects.create(
            name=service,
            service=service,
            p95_ms=None if i % 7 == 3 else 800,
            p99_ms=None if i % 7 == 3 else 1200,
            error_budget_pct=0.1 if i % 10 == 5 else 1.0,  # one in ten burns 4x
            error_statuses="5xx, 429" if i % 5 == 2 else "5xx",
            window_days=30,
        )
    with connection.cursor() as cur:
        # VACUUM too: rows read for the first time after a bulk copy get their hint bits written by
        # the reader, which made the first items measured at a new size 3x slower than a minute later.
        cur.execute(f"VACUUM ANALYZE {table}")


def measure(fn, repeat: int) -> tuple[float, int]:
    """Median seconds over `repeat` runs after a warm-up, and the queries of the last run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fn(0)
    times, queries = [], 0
    for i in range(1, repeat + 1):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - t0)
        queries = len(ctx.captured_queries)
    return statistics.median(times), queries


def items(now):
    from django.contrib.auth import get_user_model
    from django.template.loader import render_to_string
    from django.test import Client, RequestFactory

    from slo import dashboard, ticks

    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
        "bench", "bench@example.com", "x"
    )
    client = Client()
    client.force_login(user)
    request = RequestFactory().get("/admin/")
    request.user = user

    def later(i):  # the watch is due every 2 minutes; a look per due time
        return now + timedelta(minutes=2 * i)

    return {
        "dashboard (GET /admin/, every card)": lambda i: client.get("/admin/"),
        "SLO card (context + render)": lambda i: render_to_string(
            "slo/card.html", {"title": "SLOs", **dashboard.card_context(request)}
        ),
        # The reads before the jobs: the jobs' due times follow the bench's fixed clock, earlier than
        # the SLOs added at this size, whose last tick is then one that no longer stands for them.
        "GET /metrics": lambda i: client.get("/metrics"),
        # The watch first: every 2 minutes, it has looked at every SLO when the 15-minute tick runs.
        "watch": lambda i: ticks.watch_tick(later(i)),
        "budget tick": lambda i: ticks.budget_tick(later(i)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ep_slo_scale")
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    setup(args.database_url)
    from django.utils import timezone
    from slo_bench import write_rollups_at_rate

    now = timezone.now()
    t0 = time.perf_counter()
    rows = write_rollups_at_rate(TEMPLATE, now)
    print(f"{rows:,} rollup rows per SLO written in {time.perf_counter() - t0:.1f}s", flush=True)
    results: dict[str, dict[int, tuple[float, int]]] = {}
    have = 0
    for n in sizes:
        add_slos(have, n)
        have = n
        # The console as it runs: the 15-minute budget tick has judged the new SLOs (the card shows
        # each SLO's last tick and reads only the ones it charts; see bench/README.md). At the clock's
        # time, not `now`: a tick older than an SLO's creation does not stand for it.
        from slo import ticks

        ticks.budget_tick()
        for name, fn in items(now).items():
            results.setdefault(name, {})[n] = measure(fn, args.repeat)
            seconds, queries = results[name][n]
            print(f"  N={n:4d}  {name:38s} {seconds * 1000:9.1f} ms  {queries:6d} queries", flush=True)
    small, large = sizes[0], sizes[-1]
    table = []
    for name, by_n in results.items():
        for n in sizes:
            table.append((f"{name}, N={n}", f"{by_n[n][0] * 1000:.1f} ms / {by_n[n][1]} queries", "", ""))
    dash = results["dashboard (GET /admin/, every card)"]
    ratio = dash[large][0] / dash[small][0]
    table.append((f"dashboard N={large} / N={small}", f"{ratio:.2f}x", "<= 3x", "PASS" if ratio <= 3 else "FAIL"))
    same = dash[large][1] == dash[small][1]
    table.append(("dashboard queries grow with N", "no" if same else "yes", "no", "PASS" if same else "FAIL"))
    for name in ("budget tick", "watch"):
        ms = results[name][large][0] * 1000
        table.append((f"{name} at N={large}", f"{ms:.0f} ms", "< 1000 ms", "PASS" if ms < 1000 else "FAIL"))
    ms = results["GET /metrics"][large][0] * 1000
    table.append((f"/metrics at N={large}", f"{ms:.1f} ms", "< 50 ms", "PASS" if ms < 50 else "FAIL"))
    print_table(table)
    return 1 if any(r[3] == "FAIL" for r in table) else 0


if __name__ == "__main__":
    sys.exit(main())
