#!/usr/bin/env python3
"""Benchmark of the audit chain's verification. Standalone and bounded:

    .venv/bin/python bench/audit_bench.py [--entries 300000] [--database-url postgres://...]

1. Makes its own database (a temp SQLite file by default; or drops and recreates the PostgreSQL
   database named in --database-url) and migrates it.
2. Writes --entries chained entries (hashed exactly as `audit.append` hashes them, bulk inserted).
3. Times `audit.verify_chain()` end to end (reading the table in seq order, every HMAC and every
   link, the head), best of 3, and the same walk over rows already in memory, side by side.

Bar: >= 100,000 entries/s end to end. Prints a table; exits 0 when the bar holds, 1 otherwise.
"""

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import ROOT, fresh_database, manage

BAR_PER_S = 100_000


def say(message: str) -> None:
    print(f"[audit-bench] {message}", flush=True)


def prepare(database_url: str | None) -> dict:
    env = {**os.environ, "LOG_DIR": tempfile.mkdtemp(prefix="ep-audit-bench-logs-")}
    if database_url:
        fresh_database(database_url.rsplit("/", 1)[1])
        env["DATABASE_URL"] = database_url
    else:
        env["SQLITE_PATH"] = str(Path(tempfile.mkdtemp(prefix="ep-audit-bench-")) / "bench.sqlite3")
        env.pop("DATABASE_URL", None)
    manage(env, "migrate", "--verbosity", "0")
    os.environ.update(env)
    return env


def write_chain(n: int) -> None:
    from echopilot import audit
    from echopilot.models import AuditEntry, AuditHead

    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev, batch = audit.GENESIS, []
    for seq in range(1, n + 1):
        at = start + timedelta(milliseconds=seq)
        text = [f"key:writer{seq % 7}", "10.0.0.1", "update", "costs", "costcap", str(seq % 50), "usd_cap,updated"]
        digest = audit.entry_hash(prev, at, *text)
        batch.append(
            AuditEntry(
                seq=seq, at=at, prev_hash=prev, hash=digest, **dict(zip(audit.VERIFY_COLUMNS[2:], text, strict=True))
            )
        )
        prev = digest
        if len(batch) == 5000:
            AuditEntry.objects.bulk_create(batch)
            batch = []
    AuditEntry.objects.bulk_create(batch)
    AuditHead.objects.update_or_create(pk=1, defaults={"seq": n, "hash": prev})


def best_of(runs: int, fn) -> tuple[float, dict]:
    best, result = float("inf"), {}
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=300_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if not 1_000 <= args.entries <= 5_000_000:
        raise SystemExit("--entries must be between 1,000 and 5,000,000")
    prepare(args.database_url)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echopilot.settings")
    import django

    django.setup()
    from echopilot import audit
    from echopilot.models import AuditEntry

    say(f"writing {args.entries:,} entries")
    write_chain(args.entries)
    end_to_end, result = best_of(3, audit.verify_chain)
    assert result["ok"] and result["checked"] == args.entries, result
    rows = list(AuditEntry.objects.order_by("seq").values_list(*audit.VERIFY_COLUMNS, "prev_hash", "hash"))
    in_memory, _ = best_of(3, lambda: audit.verify_chain(rows=rows, head=(args.entries, rows[-1][10])))
    rate, memory_rate = args.entries / end_to_end, args.entries / in_memory
    ok = rate >= BAR_PER_S
    engine = "postgresql" if args.database_url else "sqlite"
    print("| database | entries | verify end to end | rate | rows already in memory | bar | result |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {engine} | {args.entries:,} | {end_to_end:.2f} s | {rate:,.0f}/s | {memory_rate:,.0f}/s "
        f"| >= {BAR_PER_S:,}/s | {'PASS' if ok else 'FAIL'} |"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
