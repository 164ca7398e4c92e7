"""Windows, percentiles, burn and budget: what GET /api/slo/status and /budget answer."""

from datetime import timedelta

import numpy as np
import pytest
from django.test import Client

from slo import services
from slo.models import Rollup, Slo

from .conftest import NOW, traffic


def test_percentiles_match_numpy_on_the_same_samples_within_one_percent(slo, feed):
    rng = np.random.default_rng(7)
    start = NOW - timedelta(days=2, hours=5)
    samples = traffic("api", start, minutes=(2 * 24 + 5) * 60, per_minute=20, latency_ms=120)
    samples.latency_ms = rng.lognormal(np.log(120), 1.1, len(samples))
    from slo import ingest

    ingest.ingest(samples)
    window = services.window(slo, timedelta(days=3), NOW)
    assert window.requests == len(samples)
    for q in (0.5, 0.95, 0.99):
        exact = np.percentile(samples.latency_ms, q * 100)
        assert abs(window.percentile(q) / exact - 1) <= 0.01, q


def test_share_slower_than_any_threshold_is_answered_after_the_fact(slo, feed):
    samples = feed(NOW - timedelta(minutes=50), 45, per_minute=100, latency_ms=300)
    window = services.window(slo, timedelta(hours=1), NOW)
    for threshold in (200, 300, 450):
        exact = int((samples.latency_ms > threshold).sum())
        assert abs(window.slower_than(threshold) - exact) <= 0.02 * len(samples)


def test_window_counts_its_first_minute_and_not_the_one_before(slo, feed):
    # now 12:00:30 -> the 1h window is [11:01, 12:01): the current minute is in, 11:00 is out.
    feed(NOW.replace(hour=11, minute=1, second=0), 1, per_minute=10, error_share=1.0)
    feed(NOW.replace(hour=11, minute=0, second=0), 1, per_minute=7, error_share=1.0)
    feed(NOW.replace(second=0), 1, per_minute=3)
    window = services.window(slo, timedelta(hours=1), NOW)
    assert (window.requests, window.errors) == (13, 10)
    just_later = services.window(slo, timedelta(hours=1), NOW + timedelta(minutes=1))
    assert just_later.requests == 3


def test_burn_is_errors_over_requests_of_the_whole_window_not_an_average_of_hours(slo, feed):
    feed(NOW - timedelta(hours=3), 60, per_minute=100)  # 6000 good requests
    feed(NOW - timedelta(hours=2), 1, per_minute=60, error_share=1.0)  # 60 failures in a quiet hour
    window = services.window(slo, timedelta(hours=6), NOW)
    assert window.error_rate == pytest.approx(60 / 6060)
    assert window.burns(slo)["errors"] == pytest.approx((60 / 6060) / 0.01)


def test_a_missed_latency_objective_burns_the_budget_too(slo, feed):
    feed(NOW - timedelta(minutes=30), 20, per_minute=60, latency_ms=2500)
    report = services.status(slo, "1h", NOW)
    assert report["error_rate"] == 0
    assert report["burn_by_objective"]["p95"] == pytest.approx(20, rel=0.01)
    assert report["burn_alert"] == "CRITICAL"


@pytest.mark.parametrize(
    "burn, state", [(0.0, "OK"), (0.99, "OK"), (1.0, "WATCH"), (1.6, "WARNING"), (2.0, "WARNING"), (2.01, "CRITICAL")]
)
def test_burn_alert_states_follow_the_quick_start_guide(burn, state):
    assert services.burn_alert(burn) == state


def test_thirty_day_window_reads_days_hours_and_edge_minutes_only(slo):
    pieces = services.segments(*services.window_bounds(slo, timedelta(days=30), NOW))
    assert [p[0] for p in pieces] == ["h", "d", "h", "m"]  # far-edge minutes have expired
    assert sum(b - a for _, a, b in pieces) <= 30 * 86400
    short = services.segments(*services.window_bounds(slo, timedelta(days=2), NOW))
    assert [p[0] for p in short] == ["m", "h", "d", "h", "m"]


def test_rebaseline_stops_counting_older_data(api, slo, feed):
    feed(NOW - timedelta(hours=2), 30, per_minute=10, error_share=1.0)
    assert services.status(slo, "24h", NOW)["remaining_budget_pct"] < 0
    services.rebaseline(slo, now=NOW - timedelta(minutes=30))
    report = services.status(slo, "24h", NOW)
    assert report["requests"] == 0
    assert report["remaining_budget_pct"] is None  # nothing counted since: too few requests to judge
    assert Rollup.objects.filter(service="api").exists()  # kept, just not counted


def test_status_endpoint_answers_the_documented_fields(api, slo, feed):
    feed(NOW - timedelta(minutes=20), 10, per_minute=30)
    body = api.get("/api/slo/status?slo=api&period=30d").json()
    for key in (
        "p95_ms",
        "p99_ms",
        "error_rate",
        "period",
        "remaining_budget_pct",
        "burn_alert",
        "daily_burn",
        "weekly_burn",
        "requests",
        "objectives",
        "gate",
    ):
        assert key in body
    assert body["period"] == "30d" and body["objectives"]["p95_ms"] == 800


def test_status_refuses_an_unknown_period_or_slo(analyst_api, slo):
    assert analyst_api.get("/api/slo/status?period=2y").json()["fields"].keys() == {"period"}
    response = analyst_api.get("/api/slo/status?slo=nope")
    assert response.status_code == 400 and "slo" in response.json()["fields"]


def test_first_slo_comes_from_env(analyst_api, settings):
    settings.SLO_LAT_P95_MS, settings.SLO_ERR_BUDGET_DAILY_PCT = 650, 0.5
    body = analyst_api.get("/api/slo/status").json()
    assert body["slo"] == "console"
    assert body["objectives"]["p95_ms"] == 650 and body["objectives"]["error_budget_pct"] == 0.5
    assert Slo.objects.count() == 1


def test_budget_graph_starts_at_exactly_one_hundred_percent(slo, feed):
    feed(NOW - timedelta(days=2), 60, per_minute=100, error_share=0.002)
    feed(NOW - timedelta(hours=5), 60, per_minute=100, error_share=0.02)
    detail = services.budget(slo, NOW)["budget"]
    series = detail["series"]
    assert series[0]["remaining_pct"] == 100.0
    values = [p["remaining_pct"] for p in series]
    assert values == sorted(values, reverse=True)
    errors = next(o for o in detail["objectives"] if o["objective"] == "errors")
    assert errors["allowed"] == pytest.approx(0.01 * 12000)
    assert values[-1] == pytest.approx(services.status(slo, "24h", NOW)["remaining_budget_pct"], abs=0.01)


def test_rebaseline_endpoint_needs_admin(api, analyst_key, slo):
    analyst = Client(HTTP_X_DASH_KEY=analyst_key)
    assert analyst.post("/api/slo/rebaseline", {"slo": "api"}, content_type="application/json").status_code == 403
    slo.refresh_from_db()
    assert slo.baseline_at is None
    response = api.post("/api/slo/rebaseline", {"slo": "api"}, content_type="application/json")
    assert response.status_code == 200
    slo.refresh_from_db()
    assert slo.baseline_at is not None


def test_too_few_requests_are_not_enough_data_rather_than_critical(analyst_api, slo, feed):
    slo.min_events = 100
    slo.save()
    feed(NOW - timedelta(minutes=5), 1, per_minute=2, error_share=1.0)  # 2 requests, both failing: 100x
    body = services.status(slo, "24h", NOW)
    assert (body["burn_alert"], body["enough_events"], body["remaining_budget_pct"]) == ("NO_DATA", False, None)
    assert analyst_api.get("/api/slo/status?slo=api").json()["burn_alert"] == "NO_DATA"


def test_the_budget_tick_records_a_quiet_slo_as_not_enough_data(slo, feed, log_dir):
    from slo import ticks
    from slo.models import SloTick

    feed(NOW - timedelta(minutes=5), 1, per_minute=3, error_share=1.0)  # 3 < min_events 10
    ticks.budget_tick(NOW)
    tick = SloTick.objects.get(slo=slo)
    assert (tick.burn_alert, tick.remaining_budget_pct) == ("NO_DATA", None)


@pytest.mark.parametrize("latencies", [[100, 390, 1300], [80, 90, 95, 110, 2000], [5] * 40 + [900]])
def test_the_p99_of_a_few_requests_is_never_below_their_mean(slo, latencies):
    from slo import ingest

    n = len(latencies)
    ingest.ingest(
        ingest.Samples(
            NOW.timestamp() - 120 + np.arange(n) * 0.1,
            np.array(latencies, dtype=float),
            np.full(n, 200),
            np.zeros(n, dtype=np.int64),
            [("api", "/jobs")],
        )
    )
    report = services.status(slo, "1h", NOW)
    assert report["p99_ms"] >= report["mean_ms"]
    assert report["p99_ms"] == pytest.approx(max(latencies), rel=0.01)  # the top of a sample under 100
