"""The NDJSON event log and status snapshots."""

import json
import multiprocessing
import os

import pytest

from echopilot import events

WRITERS = 10
EVENTS_EACH = 1000


def _append_many(log_dir, writer):
    # A fresh process, as a gunicorn worker or a qcluster would be.
    import django
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echopilot.settings")
    django.setup()
    settings.LOG_DIR = log_dir
    padding = "x" * (writer * 37)  # lines of different lengths make torn writes visible
    for n in range(EVENTS_EACH):
        events.append_event("concurrency", "tick", writer=writer, n=n, pad=padding)


def test_ten_processes_appending_leave_every_line_whole(log_dir):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(log_dir), w)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    lines = (log_dir / "concurrency.ndjson").read_bytes().splitlines()
    assert len(lines) == WRITERS * EVENTS_EACH
    seen = {(record["writer"], record["n"]) for record in map(json.loads, lines)}
    assert len(seen) == WRITERS * EVENTS_EACH


def test_event_line_has_time_event_and_fields(log_dir):
    record = events.append_event("slo_budget", "slo_tick", p95=123.4, burn=0.5)
    line = (log_dir / "slo_budget.ndjson").read_text()
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == record
    assert record["event"] == "slo_tick" and record["p95"] == 123.4 and "ts" in record


def test_snapshot_replaces_atomically_and_leaves_no_temp_files(log_dir):
    events.write_snapshot("slo_status.json", {"state": "OK"})
    events.write_snapshot("slo_status.json", {"state": "CRITICAL"})
    assert events.read_snapshot("slo_status.json") == {"state": "CRITICAL"}
    assert sorted(p.name for p in log_dir.iterdir()) == ["slo_status.json"]


def test_failed_snapshot_keeps_the_previous_one(log_dir):
    events.write_snapshot("costs.json", {"ok": True})

    class Unserialisable:
        def __str__(self):
            raise RuntimeError("cannot render")

    with pytest.raises(TypeError, match="not JSON serializable"):
        events.write_snapshot("costs.json", {"bad": Unserialisable()})
    assert events.read_snapshot("costs.json") == {"ok": True}
    assert sorted(p.name for p in log_dir.iterdir()) == ["costs.json"]


def test_a_snapshot_is_as_readable_as_the_event_files(log_dir):
    """mkstemp makes 0600 files: a monitoring agent that reads the NDJSON could not read the snapshot."""
    import stat

    events.append_event("demo", "tick")
    path = events.write_snapshot("demo.json", {"ok": True})
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE((log_dir / "demo.ndjson").stat().st_mode)
