"""Hour and day rows built once, when their hour or day has closed; minutes hold what is still open."""

import threading
import time
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection, transaction

from slo import ingest, series, services, sketch
from slo.models import ClosedHours, Rollup

from .conftest import NOW, traffic

HOUR_START = NOW.replace(minute=0, second=0)  # 12:00, NOW is 12:00:30


def _hour_row(start, route="*"):
    return Rollup.objects.get(service="api", route=route, resolution="h", start=start)


def _version(row: Rollup) -> tuple:
    """What changes when the row is written again: its values, and on PostgreSQL its row version."""
    version = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT xmin::text FROM {Rollup._meta.db_table} WHERE id = %s", [row.pk])
            version = cursor.fetchone()[0]
    return (row.count, bytes(row.sketch), version)


def _exact(slo, start, end, batches) -> None:
    """The window [start, end) counts exactly the samples of `batches` inside it."""
    window = services.read_window(slo, int(start.timestamp()), int(end.timestamp()))
    inside = [(b.epoch_s >= start.timestamp()) & (b.epoch_s < end.timestamp()) for b in batches]
    assert window.requests == sum(int(m.sum()) for m in inside)
    assert window.errors == sum(int((b.status[m] >= 500).sum()) for b, m in zip(batches, inside, strict=True))
    expected = sum(sketch.from_latencies(b.latency_ms[m]) for b, m in zip(batches, inside, strict=True))
    assert np.array_equal(window.counts, expected)


def test_an_hour_is_built_once_when_it_closes_and_not_rewritten_by_later_batches(slo):
    open_hour = HOUR_START - timedelta(hours=1)  # 11:00, seen from 11:50
    first = traffic("api", open_hour, 50, per_minute=30, error_share=0.1, seed=1)
    ingest.ingest(first, open_hour + timedelta(minutes=50))
    assert not Rollup.objects.filter(resolution="h").exists()  # open: its samples wait in minute rows
    # The first batch of 12:00 carries 11:50-12:00 too: 11:00 closes, with everything in it.
    closing = traffic("api", open_hour + timedelta(minutes=50), 10.5, per_minute=30, error_share=0.1, seed=2)
    ingest.ingest(closing, NOW)
    row = _hour_row(open_hour)
    in_hour = sum(int((b.epoch_s < HOUR_START.timestamp()).sum()) for b in (first, closing))
    assert row.count == in_hour == 60 * 30
    assert ClosedHours.objects.get(service="api").hours_until == HOUR_START
    before = _version(row)
    for i in range(3):  # later batches of 12:00 write a part of /jobs, and fold the minute before it
        later = traffic("api", HOUR_START + timedelta(minutes=5 + i), 1, per_minute=30, seed=10 + i)
        assert ingest.ingest(later, HOUR_START + timedelta(minutes=6 + i))["rows"] == 1 + 2
    assert _version(_hour_row(open_hour)) == before
    assert not Rollup.objects.filter(resolution="h", start=HOUR_START).exists()


def test_windows_over_open_and_closed_hours_count_the_same_before_and_after_the_close(slo):
    day = HOUR_START.replace(hour=0)
    batches = [traffic("api", day + timedelta(hours=9), 150, per_minute=20, error_share=0.05, seed=3)]
    ingest.ingest(batches[0], day + timedelta(hours=11, minutes=31))  # closes 9:00 and 10:00; 11:00 is open
    assert Rollup.objects.filter(resolution="h", route="*").count() == 2
    ranges = [
        (day, day + timedelta(days=1)),
        (day + timedelta(hours=9, minutes=7), NOW),
        (day - timedelta(days=1), NOW),
    ]
    for start, end in ranges:
        _exact(slo, start, end, batches)
    read_open = services.window(slo, timedelta(days=3), NOW)
    ingest.close_hours(day + timedelta(days=1, minutes=10))  # the day and its last hours close
    assert Rollup.objects.filter(resolution="d", route="*").get().count == 150 * 20
    for start, end in ranges:
        _exact(slo, start, end, batches)
    read_closed = services.window(slo, timedelta(days=3), NOW)
    assert (read_open.requests, read_open.errors) == (read_closed.requests, read_closed.errors)
    assert np.array_equal(read_open.counts, read_closed.counts)


def test_a_late_sample_into_a_closed_hour_and_day_is_counted(slo):
    day = HOUR_START.replace(hour=0) - timedelta(days=1)
    batches = [traffic("api", day + timedelta(hours=5), 60, per_minute=10, seed=4)]
    ingest.ingest(batches[0], day + timedelta(hours=5, minutes=59))
    ingest.close_hours(NOW)  # the day has long closed: its hours and day row are built
    assert Rollup.objects.get(service="api", route="*", resolution="d").count == 600
    late = traffic("api", day + timedelta(hours=5, minutes=30), 1, per_minute=7, error_share=1.0, seed=5)
    batches.append(late)
    ingest.ingest(late, NOW)
    assert _hour_row(day + timedelta(hours=5)).count == 607
    assert (day_row := Rollup.objects.get(service="api", route="*", resolution="d")).count == 607
    assert day_row.errors == 7
    _exact(slo, day, day + timedelta(days=1), batches)
    _exact(slo, day + timedelta(hours=5, minutes=30), day + timedelta(hours=6), batches)


def test_the_charts_show_the_open_hour_and_today_from_minute_rows(slo):
    batches = [traffic("api", HOUR_START - timedelta(hours=2), 120, per_minute=15, error_share=0.5, seed=6)]
    ingest.ingest(batches[0], NOW)  # its last samples are of 11:00: it closes 10:00
    assert not Rollup.objects.filter(resolution="h", start=HOUR_START - timedelta(hours=1)).exists()
    more = traffic("api", HOUR_START, 0.5, per_minute=40, error_share=0.5, seed=7)
    ingest.ingest(more, NOW)  # the first batch of 12:00 closes 11:00; 12:00 and today stay open
    assert _hour_row(HOUR_START - timedelta(hours=1)).count == 15 * 60
    assert not Rollup.objects.filter(resolution="d").exists()
    chart = series.chart_series([slo], NOW)[slo.pk]
    assert [p["requests"] for p in chart["hours"][-3:]] == [15 * 60, 15 * 60, 20]
    assert chart["days"][-1]["requests"] == 2 * 15 * 60 + 20
    assert chart["budget"][-1]["remaining_pct"] < 0  # half the requests failed: today's day point spent it


def test_quiet_services_hours_are_closed_by_the_job_once(slo):
    batches = [traffic("api", HOUR_START + timedelta(hours=-3), 30, per_minute=10, seed=8)]
    ingest.ingest(batches[0], HOUR_START + timedelta(hours=-3, minutes=31))
    assert not Rollup.objects.filter(resolution="h").exists()
    # its last minute (a part of /jobs), then the hour, each of /jobs and of *
    assert ingest.close_hours(NOW + timedelta(minutes=10)) == {"api": 2 + 2}
    assert ingest.close_hours(NOW + timedelta(minutes=20)) == {}
    assert _hour_row(HOUR_START - timedelta(hours=3)).count == 300


def test_expiry_builds_the_day_before_pruning_its_minutes(slo, settings):
    day = HOUR_START.replace(hour=0) - timedelta(days=5)
    batches = [traffic("api", day + timedelta(hours=22), 90, per_minute=12, error_share=0.2, seed=9)]
    ingest.ingest(batches[0], day + timedelta(hours=22, minutes=1))  # nothing closes: the service goes quiet
    deleted = ingest.expire(NOW)
    assert deleted["m"] == 2 * 90 and not Rollup.objects.filter(resolution="m").exists()
    assert Rollup.objects.get(service="api", route="*", resolution="d", start=day).count == 90 * 12
    _exact(slo, day, day + timedelta(days=2), batches)


def _in_thread(fn) -> threading.Thread:
    def run() -> None:
        try:
            fn()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_closing_an_hour_waits_for_a_batch_still_writing_into_it(slo):
    hour = HOUR_START - timedelta(hours=1)
    sent = [traffic("api", hour, 30, per_minute=50, seed=11)]
    ingest.ingest(sent[0], hour + timedelta(minutes=30))
    late = traffic("api", hour + timedelta(minutes=45), 1, per_minute=50, seed=12)
    closer = traffic("api", HOUR_START, 1, per_minute=50, seed=13)
    written, done = threading.Event(), threading.Event()

    def write_late_and_commit_a_little_later() -> None:
        with transaction.atomic():
            ingest.ingest(late, NOW)  # 11:00 is open: its samples go to minute rows only, not yet committed
            written.set()
            time.sleep(0.5)  # long enough for the closer to build 11:00 without them, were it not waiting

    def close_the_hour() -> None:
        written.wait(10)
        ingest.ingest(closer, NOW)
        done.set()

    threads = [_in_thread(write_late_and_commit_a_little_later), _in_thread(close_the_hour)]
    for thread in threads:
        thread.join()
    assert done.is_set()
    assert _hour_row(hour).count == 30 * 50 + 50
    _exact(slo, hour, NOW + timedelta(minutes=2), [*sent, late, closer])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ingesters_racing_over_an_hour_close_build_it_once_with_the_exact_sum(slo):
    from tests.races import race

    hour = HOUR_START - timedelta(hours=1)
    sent = [traffic("api", hour, 58, per_minute=50, seed=21)]
    ingest.ingest(sent[0], hour + timedelta(minutes=58))
    # Each racing batch carries the last two minutes of 11:00 and the start of 12:00: any may close 11:00.
    racing = [traffic("api", hour + timedelta(minutes=58), 2.5, per_minute=50, seed=30 + i) for i in range(6)]
    race(lambda batch: ingest.ingest(batch, NOW), racing)
    sent += racing
    in_hour = [s.epoch_s < HOUR_START.timestamp() for s in sent]
    row = _hour_row(hour)
    assert row.count == sum(int(m.sum()) for m in in_hour) == 58 * 50 + 6 * 2 * 50
    expected = sum(sketch.from_latencies(s.latency_ms[m]) for s, m in zip(sent, in_hour, strict=True))
    assert np.array_equal(sketch.decode(row.sketch), expected)
    _exact(slo, hour, NOW + timedelta(minutes=2), sent)


def test_the_closing_job_is_scheduled_and_runs_by_hand_too(slo):
    import io

    from django.core.management import call_command

    from echopilot.registry import declared_jobs

    jobs = {job.name: job for job in declared_jobs()}
    assert (jobs["slo_close_hours"].func, jobs["slo_close_hours"].minutes) == ("slo.tasks.slo_close_hours", 10)
    ingest.ingest(traffic("api", HOUR_START - timedelta(days=2), 5, per_minute=10), HOUR_START - timedelta(days=2))
    out = io.StringIO()
    call_command("slo_close_hours", stdout=out)  # the real clock: that hour ended long ago
    # its 5 minutes ran ahead of the clock it was sent with: they waited as parts, for /jobs and *
    assert out.getvalue() == "api: 14 minute, hour and day rows built\n"
    assert Rollup.objects.get(service="api", route="*", resolution="d").count == 50
