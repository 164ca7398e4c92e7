#!/usr/bin/env python3
"""Benchmark of the SLO app: sketch accuracy, status speed, the naive design, ingest rates.

    .venv/bin/python bench/slo_bench.py                      # SQLite in a temp folder
    .venv/bin/python bench/slo_bench.py --database-url postgres://postgres@127.0.0.1:5432/ep_slo_bench

Sets up its own database (a temp SQLite file, or drops and recreates the named PostgreSQL database),
runs the migrations, and prints one table. Sections:

  accuracy   p95 / p99 over 30 days of stored rollups vs numpy's exact percentile of the same samples
  status     GET-status work over 30 days vs 1 day at 100 req/s (rows written straight as rollups)
  naive      (PostgreSQL only) raw samples table + percentile_cont over one day at 100 req/s (8.64M
             rows, loaded with binary COPY) vs our status over the same samples
  file       `slo_ingest` on an NDJSON file vs orjson alone parsing the same file, same run
  http       POST /api/slo/ingest with 10,000-sample batches against a real gunicorn on loopback
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from urllib.parse import urlparse

from harness import free_port, start_gunicorn, stop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS: list[tuple[str, str, str, str]] = []  # (section, measure, value, bar)


def row(section, measure, value, bar=""):
    RESULTS.append((section, measure, value, bar))
    print(f"  {section:9s} {measure:58s} {value:>18s}  {bar}", flush=True)


def setup_database(url: str | None, workdir: Path) -> dict:
    env = {
        "LOG_DIR": str(workdir / "logs"),
        "SLO_RECORD_CONSOLE": "false",
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
    }
    if url:
        import psycopg

        parsed = urlparse(url)
        name = parsed.path.lstrip("/")
        admin = parsed._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = url
    else:
        env["SQLITE_PATH"] = str(workdir / "bench.sqlite3")
        env.pop("DATABASE_URL", None)
        os.environ.pop("DATABASE_URL", None)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


# --- data --------------------------------------------------------------------------------------------


def lognormal_bucket_probs(median_ms, sigma, rng_points=400_000, seed=0):
    """Bucket probabilities of a lognormal latency distribution, for multinomial rollup rows."""
    import numpy as np

    from slo import sketch

    rng = np.random.default_rng(seed)
    counts = sketch.from_latencies(rng.lognormal(np.log(median_ms), sigma, rng_points)).astype(float)
    return counts / counts.sum()


def write_rollups_at_rate(service, now, rate_per_s=100, days=30):
    """Rollup rows for `days` of `rate_per_s` traffic, as ingest would leave them after expiry:
    minutes for the last 3 days, hours for the last 40, days for all of them."""
    import numpy as np
    from django.conf import settings

    from slo import sketch
    from slo.models import Rollup

    rng = np.random.default_rng(1)
    probs = [lognormal_bucket_probs(m, 0.6, seed=i) for i, m in enumerate((90, 120, 160))]
    end = int(now.timestamp()) // 60 * 60 + 60
    plan = [
        (Rollup.MINUTE, 60, settings.SLO_MINUTE_RETENTION_DAYS),
        (Rollup.HOUR, 3600, min(days + 1, 40)),
        (Rollup.DAY, 86400, days + 1),
    ]
    rows = []
    for res, step, keep_days in plan:
        first = (end - keep_days * 86400) // step * step
        for t in range(first, end, step):
            n = rate_per_s * step
            counts = rng.multinomial(n, probs[(t // 3600) % 3])
            errors = int(rng.binomial(n, 0.004))
            rows.append(
                Rollup(
                    service=service,
                    route="*",
                    resolution=res,
                    start=datetime.fromtimestamp(t, tz=dt_timezone.utc),
                    count=n,
                    errors=errors,
                    latency_sum_ms=float((counts * sketch.BUCKET_VALUES).sum()),
                    statuses={"200": n - errors, "503": errors},
                    sketch=sketch.encode(counts),
                )
            )
    Rollup.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


# --- sections -------------------------------------------------------------------------------------


def bench_accuracy(now, samples_total):
    import numpy as np

    from slo import ingest, services
    from slo.models import Slo

    rng = np.random.default_rng(42)
    start = now - timedelta(days=30)
    epochs = np.sort(rng.uniform(start.timestamp(), now.timestamp(), samples_total))
    hour = (epochs // 3600) % 24
    # A day shape: slower afternoons, a heavy tail, and one bad day with 5x latencies.
    medians = 80 + 60 * np.sin(hour / 24 * 2 * np.pi) ** 2
    latency = rng.lognormal(np.log(medians), 0.7)
    bad_day = (epochs > (now - timedelta(days=12)).timestamp()) & (epochs < (now - timedelta(days=11)).timestamp())
    latency[bad_day] *= 5
    status = np.where(rng.random(samples_total) < 0.003, 503, 200)
    slo = Slo.objects.create(
        name="accuracy", service="accuracy", p95_ms=800, p99_ms=1200, error_budget_pct=1, window_days=30
    )
    t0 = time.perf_counter()
    step = 200_000
    for i in range(0, samples_total, step):
        part = slice(i, i + step)
        ingest.ingest(
            ingest.Samples(
                epochs[part],
                latency[part],
                status[part].astype(np.int64),
                np.zeros(len(epochs[part]), dtype=np.int64),
                [("accuracy", "/jobs")],
            )
        )
    stored = time.perf_counter() - t0
    ingest.expire(now)
    w_start, w_end = services.window_bounds(slo, timedelta(days=30), now)
    inside = (epochs >= w_start) & (epochs < w_end)
    window = services.window(slo, timedelta(days=30), now)
    row("accuracy", f"samples over 30 days (stored in {stored:.1f}s)", f"{samples_total:,}")
    assert window.requests == int(inside.sum()), (window.requests, int(inside.sum()))
    for q in (0.95, 0.99):
        exact = float(np.percentile(latency[inside], q * 100))
        got = window.percentile(q)
        err = abs(got / exact - 1)
        row(
            "accuracy",
            f"p{int(q * 100)} sketch {got:.1f} ms vs exact {exact:.1f} ms",
            f"{err * 100:.3f}%",
            "PASS <= 1%" if err <= 0.01 else "FAIL > 1%",
        )


def timed(fn, repeat=15):
    fn()  # warm caches and connections
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_status(now, db_label):
    from slo import services
    from slo.models import Rollup, Slo

    t0 = time.perf_counter()
    rows = write_rollups_at_rate("steady", now)
    row("status", f"rollup rows for 30 days at 100 req/s (written in {time.perf_counter() - t0:.1f}s)", f"{rows:,}")
    slo = Slo.objects.create(
        name="steady", service="steady", p95_ms=800, p99_ms=1200, error_budget_pct=1, window_days=30
    )
    read_30 = len(list(services._rows(slo, *services.window_bounds(slo, timedelta(days=30), now))))
    w30 = services.window(slo, timedelta(days=30), now)
    row("status", "rows read for a 30-day window / requests in it", f"{read_30} / {w30.requests:,}")
    t_status_30 = timed(lambda: services.status(slo, "30d", now))
    t_status_1 = timed(lambda: services.status(slo, "24h", now))
    t_win_30 = timed(lambda: services.window(slo, timedelta(days=30), now).percentile(0.95))
    t_win_1 = timed(lambda: services.window(slo, timedelta(days=1), now).percentile(0.95))
    row(
        "status",
        f"status(period=30d) [{db_label}], median",
        f"{t_status_30 * 1000:.1f} ms",
        "PASS < 50 ms" if t_status_30 < 0.05 else "FAIL >= 50 ms",
    )
    row("status", f"status(period=24h) [{db_label}], median", f"{t_status_1 * 1000:.1f} ms")
    row(
        "status",
        "status 30d / status 24h",
        f"{t_status_30 / t_status_1:.2f}x",
        "PASS <= 2x" if t_status_30 <= 2 * t_status_1 else "FAIL > 2x",
    )
    row(
        "status",
        f"one window read + p95: 30 days vs 1 day [{db_label}]",
        f"{t_win_30 * 1000:.1f} / {t_win_1 * 1000:.1f} ms",
        f"{t_win_30 / t_win_1:.2f}x",
    )
    Rollup.objects.filter(service="steady").count()


def bench_naive(now):
    """8.64M raw samples (one day at 100 req/s) COPYed into a table, vs our rollups of the same samples."""
    import numpy as np
    from django.db import connection

    from slo import ingest, services
    from slo.models import Slo

    rng = np.random.default_rng(5)
    day_start = int(now.timestamp()) // 60 * 60 + 60 - 86400
    pg_epoch = 946684800
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_raw_samples")
        cur.execute("CREATE UNLOGGED TABLE bench_raw_samples (ts timestamptz, latency_ms float8, status int2)")
    dtype = np.dtype(
        [("n", ">i2"), ("l1", ">i4"), ("ts", ">i8"), ("l2", ">i4"), ("lat", ">f8"), ("l3", ">i4"), ("st", ">i2")]
    )
    t0 = time.perf_counter()
    total, errors_total, lat_all = 0, 0, []
    raw = connection.connection  # the psycopg connection under Django's
    for hour in range(24):
        n = 100 * 3600
        epochs = day_start + hour * 3600 + np.arange(n) * 0.01
        latency = rng.lognormal(np.log(100 + 40 * (hour % 6)), 0.6, n)
        status = np.where(rng.random(n) < 0.004, 503, 200).astype(np.int64)
        lat_all.append(latency)
        ingest.ingest(ingest.Samples(epochs, latency, status, np.zeros(n, dtype=np.int64), [("naive", "/jobs")]))
        rec = np.empty(n, dtype=dtype)
        rec["n"], rec["l1"], rec["l2"], rec["l3"] = 3, 8, 8, 2
        rec["ts"] = np.round((epochs - pg_epoch) * 1e6).astype(np.int64)
        rec["lat"], rec["st"] = latency, status
        payload = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00" + rec.tobytes() + b"\xff\xff"
        with raw.cursor() as cur:
            with cur.copy("COPY bench_raw_samples FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(payload)
        raw.commit()
        total += n
        errors_total += int((status >= 500).sum())
    with connection.cursor() as cur:
        cur.execute("ANALYZE bench_raw_samples")
    row("naive", f"raw rows COPYed + same samples ingested ({time.perf_counter() - t0:.0f}s)", f"{total:,}")
    since = datetime.fromtimestamp(day_start, tz=dt_timezone.utc)

    def naive():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*), count(*) FILTER (WHERE status >= 500),"
                " percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),"
                " percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms)"
                " FROM bench_raw_samples WHERE ts >= %s",
                [since],
            )
            return cur.fetchone()

    slo = Slo.objects.create(name="naive", service="naive", p95_ms=800, p99_ms=1200, error_budget_pct=1, window_days=30)
    ours = lambda: services.window(slo, timedelta(days=1), now)  # noqa: E731
    result = naive()
    window = ours()
    assert result[0] == window.requests == total and result[1] == window.errors == errors_total
    t_naive = timed(naive, repeat=3)
    t_ours = timed(lambda: ours().percentile(0.99), repeat=15)
    t_status = timed(lambda: services.status(slo, "24h", now), repeat=15)
    row("naive", "percentile_cont over one day of raw rows, median", f"{t_naive * 1000:.0f} ms")
    row("naive", "ours: one-day window (counts + p95/p99), median", f"{t_ours * 1000:.2f} ms")
    row(
        "naive",
        "naive / ours",
        f"{t_naive / t_ours:.0f}x",
        "PASS >= 100x" if t_naive / t_ours >= 100 else "FAIL < 100x",
    )
    row("naive", "naive / our whole status(24h) (4 windows)", f"{t_naive / t_status:.0f}x")
    exact = np.percentile(np.concatenate(lat_all), [95, 99])
    for q, e, pc in ((0.95, exact[0], result[2]), (0.99, exact[1], result[3])):
        row(
            "naive",
            f"p{int(q * 100)}: ours {window.percentile(q):.1f} / percentile_cont {pc:.1f} ms",
            f"{abs(window.percentile(q) / e - 1) * 100:.3f}%",
        )
    with connection.cursor() as cur:
        cur.execute("DROP TABLE bench_raw_samples")


def make_ndjson(path: Path, lines: int, now):
    import numpy as np
    import orjson

    rng = np.random.default_rng(9)
    start = now - timedelta(hours=3)
    epochs = start.timestamp() + np.arange(lines) * (3 * 3600 / lines)
    latency = np.round(rng.lognormal(np.log(120), 0.8, lines), 2)
    status = rng.choice([200, 200, 200, 200, 201, 204, 304, 404, 500, 503], lines)
    routes = ["/api/jobs", "/api/jobs/{id}", "/login", "/api/search", "/static"]
    route = rng.integers(0, len(routes), lines)
    with path.open("wb") as handle:
        for i in range(0, lines, 100_000):
            chunk = []
            for j in range(i, min(i + 100_000, lines)):
                ts = datetime.fromtimestamp(epochs[j], tz=dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                chunk.append(
                    orjson.dumps(
                        {
                            "ts": ts,
                            "service": "files",
                            "route": routes[route[j]],
                            "status": int(status[j]),
                            "latency_ms": float(latency[j]),
                        }
                    )
                )
            handle.write(b"\n".join(chunk) + b"\n")


def bench_file(workdir: Path, now, lines: int):
    import orjson

    from slo import logfile

    path = workdir / "access.ndjson"
    make_ndjson(path, lines, now)
    size_mb = path.stat().st_size / 1e6

    def orjson_only():
        with path.open("rb") as handle:
            while True:
                data = handle.read(logfile.CHUNK_BYTES)
                if not data:
                    break
                cut = data.rfind(b"\n") + 1
                handle.seek(handle.tell() - (len(data) - cut))
                list(map(orjson.loads, data[:cut].split(b"\n")[:-1]))

    runs = []
    for _attempt in range(3):
        t0 = time.perf_counter()
        orjson_only()
        t_parse = time.perf_counter() - t0
        from slo.models import IngestCursor

        IngestCursor.objects.all().delete()
        t0 = time.perf_counter()
        run = logfile.ingest_file(path)
        t_ingest = time.perf_counter() - t0
        assert run.accepted == lines, run
        runs.append((t_parse, t_ingest))
    t_parse, t_ingest = min(runs, key=lambda r: r[1] / r[0])
    rate_parse, rate_ingest = lines / t_parse, lines / t_ingest
    row("file", f"NDJSON file: {lines:,} lines, {size_mb:.0f} MB (best ratio of 3 runs)", "")
    row("file", "orjson alone (read + split + loads)", f"{rate_parse:,.0f} /s")
    row(
        "file",
        "slo_ingest (parse, check, fold, store, offset)",
        f"{rate_ingest:,.0f} /s",
        "PASS >= 200,000/s" if rate_ingest >= 200_000 else "FAIL < 200,000/s",
    )
    row(
        "file",
        "slo_ingest / orjson alone",
        f"{rate_ingest / rate_parse:.2f}",
        "PASS >= 0.33" if rate_ingest / rate_parse >= 1 / 3 else "FAIL < 0.33",
    )


def bench_http(env: dict, now, batches: int, workers: int):
    import numpy as np
    import orjson
    import requests

    from echopilot.models import DashKey

    _, key = DashKey.issue("bench", DashKey.ADMIN)
    port = free_port()
    server = start_gunicorn({**os.environ, **env}, port, workers)
    try:
        rng = np.random.default_rng(3)
        base = now.timestamp() - 1800
        bodies = []
        for b in range(batches):
            ts = base + b * 10 + np.arange(10_000) * 0.001
            lat = np.round(rng.lognormal(np.log(120), 0.8, 10_000), 2)
            samples = [
                {"ts": float(t), "latency_ms": float(x), "status": 200 if x < 900 else 503, "route": "/api/jobs"}
                for t, x in zip(ts, lat, strict=False)
            ]
            bodies.append(orjson.dumps({"service": "http", "samples": samples}))
        headers = {"X-Dash-Key": key, "Content-Type": "application/json"}
        session = requests.Session()
        assert (
            session.post(f"http://127.0.0.1:{port}/api/slo/ingest", data=bodies[0], headers=headers).status_code == 200
        )
        queue = list(bodies[1:])
        lock = threading.Lock()
        failures = []

        def client():
            s = requests.Session()
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                r = s.post(f"http://127.0.0.1:{port}/api/slo/ingest", data=body, headers=headers)
                if r.status_code != 200:
                    failures.append(r.text[:200])

        threads = [threading.Thread(target=client) for _ in range(workers)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        assert not failures, failures[:3]
        rate = (batches - 1) * 10_000 / elapsed
        row(
            "http",
            f"POST /api/slo/ingest, {batches - 1} x 10,000 samples, gunicorn -w {workers}",
            f"{rate:,.0f} /s",
            "PASS >= 100,000/s" if rate >= 100_000 else "FAIL < 100,000/s",
        )
        from slo.models import Rollup, RollupPart

        # The minute rows and the parts of the minutes still open (its routes'; "*" is built when they
        # fold): together they hold every sample (hour and day rows wait for their hour to close).
        stored = sum(Rollup.objects.filter(service="http", route="*", resolution="m").values_list("count", flat=True))
        stored += sum(RollupPart.objects.filter(service="http").values_list("count", flat=True))
        assert stored == batches * 10_000, stored
    finally:
        stop(server)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL URL; the database is dropped and recreated")
    parser.add_argument("--accuracy-samples", type=int, default=2_000_000)
    parser.add_argument("--file-lines", type=int, default=1_000_000)
    parser.add_argument("--http-batches", type=int, default=41)
    parser.add_argument("--http-workers", type=int, default=2)
    parser.add_argument("--only", help="comma list of sections: accuracy,status,naive,file,http")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else {"accuracy", "status", "naive", "file", "http"}
    workdir = Path(tempfile.mkdtemp(prefix="slo-bench-"))
    env = setup_database(args.database_url, workdir)
    from django.db import connection
    from django.utils import timezone

    label = connection.vendor
    now = timezone.now()
    print(f"SLO benchmark on {label} ({connection.settings_dict['NAME']}), {os.cpu_count()} CPUs")
    print(f"  {'section':9s} {'measure':58s} {'value':>18s}  bar")
    if "accuracy" in only:
        bench_accuracy(now, args.accuracy_samples)
    if "status" in only:
        bench_status(now, label)
    if "naive" in only:
        if label == "postgresql":
            bench_naive(now)
        else:
            row("naive", "skipped: percentile_cont needs PostgreSQL (--database-url)", "-")
    if "file" in only:
        bench_file(workdir, now, args.file_lines)
    if "http" in only:
        bench_http(env, now, args.http_batches, args.http_workers)
    failed = [r for r in RESULTS if r[3].startswith("FAIL")]
    print(f"{len(failed)} bar(s) missed" if failed else "all bars met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
