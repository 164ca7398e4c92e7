"""The decision's constraints, one at a time, on the pure policy (no database, no clock)."""

import math

from scaling.policy import Constraint, Context, Limits, Signals, decide

LIMITS = Limits(minimum=1, maximum=6, cooldown_min=10, tolerance=0.10, down_window_min=5, queue_time_target_s=60)
NO_FORECAST = {"method": None, "per_min": [], "peak_per_min": None, "lead_min": None}


def signals(**overrides) -> Signals:
    base = {
        "queue_depth": 0,
        "queue_time_s": 0.0,
        "arrivals_per_min": 60.0,
        "p95_ms": 20.0,
        "jobs_per_worker_min": 20.0,
        "idle_min": 30.0,
        "age_min": 1.0,
    }
    return Signals(**{**base, **overrides})


def run(sig: Signals, actual: int, forecast=None, **context) -> object:
    return decide(sig, Context(actual=actual, **context), LIMITS, forecast=forecast or NO_FORECAST)


def test_the_formula_serves_arrivals_and_drains_the_backlog_within_the_target():
    # 2 workers start 40 jobs within the 60 s target; 50 waiting is more, so all 50 are drained within it.
    verdict = run(signals(arrivals_per_min=30.0, queue_depth=50, idle_min=0, p95_ms=None), actual=2)
    assert verdict.raw == (30 + 50) / 20
    assert verdict.desired == 4 and verdict.change


def test_a_backlog_the_running_pool_starts_within_the_target_adds_no_worker():
    verdict = run(signals(arrivals_per_min=50.0, queue_depth=9, idle_min=0), actual=3)
    assert verdict.raw == 50 / 20 and verdict.clamps["formula"]["drain_per_min"] == 0
    assert verdict.desired == 3


def test_a_change_within_ten_percent_is_ignored_so_the_pool_does_not_flap():
    for rate in (56.0, 58.0, 62.0, 65.9):  # 2.8 .. 3.3 workers against 3 running
        verdict = run(signals(arrivals_per_min=rate), actual=3)
        assert verdict.desired == 3 and not verdict.change, rate
        assert Constraint.TOLERANCE in verdict.constraints


def test_just_past_the_tolerance_the_pool_changes():
    verdict = run(signals(arrivals_per_min=66.5), actual=3)
    assert verdict.desired == 4 and verdict.change


def test_bounds_clamp_both_ways_and_are_named():
    high = run(signals(arrivals_per_min=400.0), actual=3)
    assert high.desired == 6 and Constraint.BOUNDS in high.constraints and "SCALE_MAX" in high.reason
    low = run(signals(arrivals_per_min=0.0), actual=3)
    assert low.desired == 1 and Constraint.BOUNDS in low.constraints and "SCALE_MIN" in low.reason


def test_cooldown_holds_a_change_until_it_has_passed():
    held = run(signals(arrivals_per_min=110.0), actual=3, minutes_since_change=4)
    assert held.desired == 6 and not held.change and Constraint.COOLDOWN in held.constraints
    assert held.cooldown_left_min == 6
    free = run(signals(arrivals_per_min=110.0), actual=3, minutes_since_change=10)
    assert free.change


def test_the_deploy_gate_holds_a_scale_up_but_not_a_scale_down():
    up = run(signals(arrivals_per_min=110.0), actual=3, gate_shut=True, gate_reason="burn 3x")
    assert not up.change and Constraint.GATE in up.constraints and "burn 3x" in up.reason
    down = run(signals(arrivals_per_min=10.0), actual=3, gate_shut=True)
    assert down.change and down.desired == 1


def test_the_spend_freeze_holds_a_scale_up_but_not_a_scale_down():
    up = run(signals(arrivals_per_min=110.0), actual=3, spend_frozen=True, spend_pct=93.0)
    assert not up.change and Constraint.SPEND_FREEZE in up.constraints and "93%" in up.reason
    assert run(signals(arrivals_per_min=10.0), actual=3, spend_frozen=True, spend_pct=93.0).change


def test_scale_down_waits_for_the_highest_recommendation_of_the_window():
    verdict = run(signals(arrivals_per_min=20.0), actual=5, recent_recommendations=[4, 2])
    assert verdict.desired == 4 and Constraint.STABILIZATION in verdict.constraints


def test_scale_down_needs_an_idle_queue_and_low_p95():
    busy = run(signals(arrivals_per_min=20.0, idle_min=3), actual=4)
    assert busy.desired == 4 and Constraint.LATENCY_RULE in busy.constraints
    slow = run(signals(arrivals_per_min=20.0, p95_ms=90.0), actual=4)
    assert slow.desired == 4 and "p95 under 40 ms" in slow.reason
    assert run(signals(arrivals_per_min=20.0), actual=4).desired == 1


def test_high_p95_or_depth_adds_one_worker_even_when_the_formula_is_content():
    slow = run(signals(arrivals_per_min=60.0, p95_ms=400.0, idle_min=0), actual=3)
    assert slow.desired == 4 and Constraint.LATENCY_RULE in slow.constraints
    deep = run(signals(arrivals_per_min=48.0, queue_depth=11, idle_min=0), actual=3)
    assert deep.desired == 4


def test_the_forecast_scales_out_ahead_but_never_in():
    rising = {**NO_FORECAST, "peak_per_min": 115.0, "method": "holt linear trend"}
    out = run(signals(arrivals_per_min=60.0), actual=3, forecast=rising)
    assert out.desired == 6 and out.clamps["formula"]["from"] == "forecast"
    falling = {**NO_FORECAST, "peak_per_min": 5.0, "method": "holt linear trend"}
    kept = run(signals(arrivals_per_min=60.0), actual=3, forecast=falling)
    assert kept.desired == 3 and kept.clamps["formula"]["from"] == "measured"


def test_dry_run_keeps_the_desired_number_but_applies_nothing():
    verdict = run(signals(arrivals_per_min=110.0), actual=3, dry_run=True)
    assert verdict.desired == 6 and not verdict.change and Constraint.DRY_RUN in verdict.constraints


def test_a_stale_or_missing_signal_holds_the_pool():
    stale = run(signals(arrivals_per_min=110.0, age_min=16), actual=3)
    assert (stale.desired, stale.change, stale.constraints) == (3, False, [Constraint.STALE_SIGNAL])
    missing = run(signals(queue_depth=None), actual=3)
    assert (missing.desired, missing.constraints) == (3, [Constraint.MISSING_SIGNAL])


def test_unknown_throughput_falls_back_to_the_latency_rule():
    verdict = run(signals(jobs_per_worker_min=None, queue_depth=30, idle_min=0), actual=2)
    assert Constraint.THROUGHPUT_UNKNOWN in verdict.constraints and verdict.desired == 3


def test_a_vanishing_throughput_clamps_to_the_maximum_instead_of_overflowing():
    verdict = run(signals(arrivals_per_min=1e9, jobs_per_worker_min=1e-300, idle_min=0), actual=3)
    assert verdict.desired == 6 and Constraint.BOUNDS in verdict.constraints
    assert math.isfinite(verdict.raw)


def test_the_oldest_job_waiting_past_the_target_drains_the_backlog_and_adds_a_worker():
    # 30 waiting would start within the target at 3 x 20 a minute, but the oldest has waited 90 s already.
    late = run(signals(arrivals_per_min=50.0, queue_depth=30, queue_time_s=90.0, idle_min=0), actual=3)
    assert late.clamps["formula"]["drain_per_min"] == 30.0
    assert late.desired == 4
    lone = run(signals(arrivals_per_min=10.0, queue_depth=1, queue_time_s=75.0, idle_min=0), actual=3)
    assert lone.desired == 4 and Constraint.LATENCY_RULE in lone.constraints
