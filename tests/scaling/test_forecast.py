"""The arrivals forecast: Holt's trend follows a ramp, the daily season appears after a day of history."""

import math

import pytest

from scaling import forecast as fc


def test_holt_follows_a_ramp_ahead():
    history = [10 + 2 * i for i in range(40)]  # +2 a bucket
    model = fc.fit(history)
    assert model.method == "holt linear trend"
    ahead = model.forecast(6)
    assert ahead[0] == pytest.approx(history[-1] + 2, abs=1.0)
    assert ahead[-1] == pytest.approx(history[-1] + 12, abs=2.0)


def test_the_forecast_never_goes_below_zero():
    model = fc.fit([50 - 5 * i for i in range(10)])
    assert min(model.forecast(6)) == 0.0


def test_the_daily_season_is_used_once_a_day_of_history_exists_and_predicts_the_morning_rise():
    day = fc.DAY_BUCKETS
    shape = [20 + 60 * max(0.0, math.sin(2 * math.pi * i / day)) for i in range(day)]
    short = fc.fit(shape[:200])
    assert short.method == "holt linear trend"
    history = shape + shape[:30]  # a day and 30 buckets: the next buckets rise as yesterday's did
    model = fc.fit(history)
    assert model.method == "holt-winters additive daily season"
    ahead = model.forecast(6)
    yesterday = shape[30:36]
    assert all(abs(a - y) < 5 for a, y in zip(ahead, yesterday, strict=True))


def test_bucket_means_leave_out_a_partial_bucket():
    assert fc.bucket_means([1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 9]) == [1.0, 3.0]


def test_no_history_no_model():
    assert fc.fit([]) is None
