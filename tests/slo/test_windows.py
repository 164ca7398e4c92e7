"""Every window, whatever its length and wherever it ends, counts exactly the samples inside it."""

from datetime import timedelta

import numpy as np
import pytest

from echopilot.registry import declared_jobs
from slo import ingest, services, tasks

from .conftest import NOW


@pytest.fixture
def three_days(slo):
    rng = np.random.default_rng(11)
    epochs = np.sort(rng.uniform((NOW - timedelta(days=3)).timestamp(), NOW.timestamp(), 30_000))
    status = np.where(rng.random(epochs.size) < 0.02, 500, 200).astype(np.int64)
    samples = ingest.Samples(
        epochs, rng.lognormal(4, 1, epochs.size), status, np.zeros(epochs.size, dtype=np.int64), [("api", "/jobs")]
    )
    ingest.ingest(samples)
    return samples


@pytest.mark.parametrize("period", ["5m", "30m", "1h", "6h", "24h", "3d"])
@pytest.mark.parametrize("back", [timedelta(0), timedelta(hours=5, minutes=17), timedelta(hours=12, seconds=5)])
def test_window_counts_exactly_the_samples_inside_it(slo, three_days, period, back):
    now = NOW - back
    start, end = services.window_bounds(slo, services.PERIODS[period], now)
    inside = (three_days.epoch_s >= start) & (three_days.epoch_s < end)
    window = services.read_window(slo, start, end)
    assert window.requests == int(inside.sum())
    assert window.errors == int((three_days.status[inside] >= 500).sum())


def test_an_slo_may_name_its_own_error_statuses(slo, feed):
    samples = feed(NOW - timedelta(minutes=30), 10, per_minute=10)
    samples.status[:7] = 429
    ingest.ingest(samples)  # the same requests again, seven of them throttled
    assert services.window(slo, timedelta(hours=1), NOW).errors == 0
    slo.error_statuses = "5xx, 429"
    assert services.window(slo, timedelta(hours=1), NOW).errors == 7


def test_the_budget_job_runs_every_fifteen_minutes_and_the_watch_every_two():
    jobs = {job.name: job for job in declared_jobs()}
    assert jobs["slo_budget"].func == "slo.tasks.slo_budget_tick" and jobs["slo_budget"].minutes == 15
    assert jobs["slo_watch"].func == "slo.tasks.slo_watch_tick" and jobs["slo_watch"].minutes == 2


def test_tasks_run_the_ticks(slo, log_dir):
    assert tasks.slo_budget_tick() == {"slos": 1, "gate": "open"}
    assert (log_dir / "slo_status.json").exists()
    assert tasks.slo_watch_tick() == {"api": {"alerts": {}, "recovery": False, "gate_shut": False}}


def test_expired_minutes_leave_hours_and_days_to_answer_the_thirty_day_question(slo, settings):
    rng = np.random.default_rng(3)
    epochs = np.sort(rng.uniform((NOW - timedelta(days=10)).timestamp(), NOW.timestamp(), 20_000))
    samples = ingest.Samples(
        epochs,
        rng.lognormal(4, 1, epochs.size),
        np.full(epochs.size, 200, dtype=np.int64),
        np.zeros(epochs.size, dtype=np.int64),
        [("api", "/jobs")],
    )
    ingest.ingest(samples)
    deleted = ingest.expire(NOW)
    assert deleted["m"] > 0 and deleted["h"] == deleted["d"] == 0
    from slo.models import Rollup

    oldest_minute = Rollup.objects.filter(resolution="m").order_by("start").first().start
    assert oldest_minute >= NOW - timedelta(days=settings.SLO_MINUTE_RETENTION_DAYS)
    start, end = services.window_bounds(slo, timedelta(days=30), NOW)
    assert services.read_window(slo, start, end).requests == int(((epochs >= start) & (epochs < end)).sum()) == 20_000
