"""The forecast: linear trend over the last 30 days + 20%, in total and per model, and the budget."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest

from costs import record_spend
from costs.forecast import forecast, linear_trend
from costs.services import set_cap

pytestmark = pytest.mark.django_db

APRIL_1 = datetime(2026, 4, 1, 12, 0, tzinfo=dt_timezone.utc)


def spend_series(values_by_day, model="model-a"):
    for day, usd in values_by_day.items():
        ts = datetime.combine(day, datetime.min.time(), tzinfo=dt_timezone.utc) + timedelta(hours=9)
        record_spend(model=model, usd=Decimal(str(usd)), ts=ts, now=APRIL_1)


def rising_series():
    """$1 on March 2nd, $2 on March 3rd ... $30 on March 31st: slope exactly $1/day."""
    first = APRIL_1.date() - timedelta(days=30)
    return {first + timedelta(days=i): i + 1 for i in range(30)}


def test_least_squares_line_of_a_known_series():
    assert linear_trend([1, 2, 3, 4]) == (1.0, 1.0)
    assert linear_trend([5]) == (5.0, 0.0)
    assert linear_trend([]) == (0.0, 0.0)


def test_next_30_days_is_the_trend_plus_20_percent(caps):
    spend_series(rising_series())
    outlook = forecast(now=APRIL_1)
    # Tomorrow continues the line at $32, the 30th day at $61: (32 + ... + 61) x 1.2.
    assert outlook["total"]["trend_usd_per_day"] == 1.0
    assert outlook["total"]["daily_usd"][0] == pytest.approx(32 * 1.2)
    assert outlook["total"]["next_30_days_usd"] == pytest.approx(sum(range(32, 62)) * 1.2)
    assert outlook["first_day"] == "2026-04-02"


def test_the_forecast_per_model(caps):
    half = {day: usd / 2 for day, usd in rising_series().items()}
    spend_series(half, model="model-a")
    spend_series(half, model="model-b")
    models = {m["model"]: m for m in forecast(now=APRIL_1)["models"]}
    assert models["model-a"]["next_30_days_usd"] == pytest.approx(sum(range(32, 62)) * 0.6)
    assert models["model-b"]["trend_usd_per_day"] == 0.5


def test_history_starts_at_the_first_day_with_spend(caps):
    last_week = {APRIL_1.date() - timedelta(days=d): 10 for d in range(1, 8)}
    spend_series(last_week)
    outlook = forecast(now=APRIL_1)["total"]
    assert outlook["history_days"] == 7
    assert outlook["next_30_days_usd"] == pytest.approx(10 * 1.2 * 30)


def test_a_falling_trend_never_forecasts_negative_spend(caps):
    first = APRIL_1.date() - timedelta(days=10)
    spend_series({first + timedelta(days=i): 10 - i for i in range(10)})
    assert min(forecast(now=APRIL_1)["total"]["daily_usd"]) == 0.0


def test_the_day_the_months_budget_runs_out(caps):
    set_cap("daily", "40", now=APRIL_1)  # April's budget: 30 x $40 = $1,200
    spend_series(rising_series())
    record_spend(model="model-a", usd=Decimal(40), ts=APRIL_1, now=APRIL_1)
    budget = forecast(now=APRIL_1)["budget"]
    assert budget["month_budget_usd"] == 1200.0
    assert budget["month_to_date_usd"] == 40.0
    # $40 so far, then 1.2 x $32, $33, ...: the total first reaches $1,200 with the $54 day, April 24th.
    assert budget["runs_out_on"] == "2026-04-24"


def test_within_budget_has_no_run_out_day(caps):
    spend_series(rising_series())  # global cap $100/day: April's budget is $3,000
    budget = forecast(now=APRIL_1)["budget"]
    assert budget["runs_out_on"] is None
    assert budget["projected_month_total_usd"] == pytest.approx(sum(range(32, 61)) * 1.2)


def test_forecast_endpoint(api, caps):
    spend_series(rising_series())
    response = api.get("/api/costs/forecast")
    assert response.status_code == 200
    body = response.json()
    assert {"total", "models", "stripe_fees", "budget", "method"} <= set(body)
