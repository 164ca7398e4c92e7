"""Where spend is heading: a linear trend over the last 30 days of daily spend, plus a 20% buffer
(the predictive cost engine), in total, per model and for Stripe fees, and the day the
month's budget (the global daily cap times the days of the month) would run out."""

import calendar
from collections import defaultdict
from datetime import date, timedelta

from django.utils import timezone

from . import spend_cache
from .models import CostCap, DailyCounter, SpendEntry, micros_to_usd

HISTORY_DAYS = 30
HORIZON_DAYS = 30
BUFFER = 1.2
METHOD = "linear trend over the last 30 complete days of daily spend, plus a 20% buffer"


def linear_trend(values: list[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through values[x] for x = 0, 1, ...;
    a single point is a flat line, none is zero."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    if n == 1:
        return float(values[0]), 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    sxx = sum((x - mean_x) ** 2 for x in range(n))
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    slope = sxy / sxx
    return mean_y - slope * mean_x, slope


def project(values: list[float], first_x: int, days: int) -> list[float]:
    """The buffered trend for `days` days starting at position `first_x` of the series; never negative."""
    intercept, slope = linear_trend(values)
    return [max(0.0, intercept + slope * x) * BUFFER for x in range(first_x, first_x + days)]


def _series(by_day: dict, start: date, end: date) -> list[float]:
    """Daily USD from the first day with spend (a model that started last week has a week of
    history, not three weeks of zeros) to the day before `end`."""
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    while days and days[0] not in by_day:
        days.pop(0)
    return [by_day.get(d, 0.0) for d in days]


def _outlook(by_day: dict, start: date, today: date) -> dict:
    values = _series(by_day, start, today)
    # The series ends yesterday; tomorrow is two steps past its last point.
    daily = project(values, len(values) + 1, HORIZON_DAYS)
    return {
        "history_days": len(values),
        "trend_usd_per_day": round(linear_trend(values)[1], 4),
        "next_30_days_usd": round(sum(daily), 2),
        "daily_usd": [round(v, 2) for v in daily],
    }


def forecast(now=None) -> dict:
    """The next 30 days (tomorrow on) of AI spend in total and per model, Stripe fees, and the budget."""
    now = now or timezone.now()
    today = spend_cache.cost_day(now)
    start = today - timedelta(days=HISTORY_DAYS)
    spent_by_day: defaultdict[date, dict] = defaultdict(dict)
    rows = DailyCounter.objects.filter(day__gte=start, day__lt=today).values_list("day", "scope", "key", "usd_micros")
    for day, scope, key, micros in rows:  # a scope's day is the sum of its shards
        spend_cache.add_spent(spent_by_day[day], scope, key, micros)  # all AI spend is the models' sum
    series: defaultdict[tuple, dict] = defaultdict(dict)
    for day, spent in spent_by_day.items():
        for scope_key, micros in spent.items():
            series[scope_key][day] = micros / 1_000_000
    total = _outlook(series.get(spend_cache.DAILY_KEY, {}), start, today)
    models = [
        {"model": key, **_outlook(by_day, start, today)}
        for (scope, key), by_day in sorted(series.items())
        if scope == CostCap.MODEL
    ]
    fees = _outlook(series.get((DailyCounter.KIND, SpendEntry.STRIPE_FEE), {}), start, today)
    return {
        "as_of": now.isoformat(),
        "day": today.isoformat(),
        "method": METHOD,
        "first_day": (today + timedelta(days=1)).isoformat(),
        "total": total,
        "models": sorted(models, key=lambda m: -m["next_30_days_usd"]),
        "stripe_fees": {k: fees[k] for k in ("history_days", "trend_usd_per_day", "next_30_days_usd")},
        "budget": month_budget(today, total["daily_usd"], spend_cache.current(now)[0].caps.get(spend_cache.DAILY_KEY)),
    }


def month_budget(today: date, daily_forecast: list[float], cap: int | None) -> dict:
    """The month's AI budget (global daily cap x days in the month), what is spent so far, where the
    trend ends the month, and the first day the budget is used up (None: not this month)."""
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    month_start = today.replace(day=1)
    spent = sum(
        DailyCounter.objects.filter(day__gte=month_start, day__lte=today, scope=CostCap.MODEL).values_list(
            "usd_micros", flat=True
        )
    )
    spent_usd = spent / 1_000_000
    rest = daily_forecast[: days_in_month - today.day]
    budget = float(micros_to_usd(cap)) * days_in_month if cap is not None else None
    return {
        "month": month_start.strftime("%Y-%m"),
        "daily_cap_usd": float(micros_to_usd(cap)) if cap is not None else None,
        "month_budget_usd": round(budget, 2) if budget is not None else None,
        "month_to_date_usd": round(spent_usd, 2),
        "projected_month_total_usd": round(spent_usd + sum(rest), 2),
        "runs_out_on": _runs_out_on(today, spent_usd, rest, budget),
    }


def _runs_out_on(today: date, spent: float, rest: list[float], budget: float | None) -> str | None:
    if budget is None:
        return None
    if spent >= budget:
        return today.isoformat()
    for offset, usd in enumerate(rest, start=1):
        spent += usd
        if spent >= budget:
            return (today + timedelta(days=offset)).isoformat()
    return None
