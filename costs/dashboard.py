"""Context for the "Cost" dashboard card: caps (with their overrides), the month's spend per day against the
cap, the forecast."""

import calendar
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db.models import Sum
from django.utils import formats, timezone

from echopilot.charts import Line, Series, line_chart

from . import services
from .forecast import forecast
from .models import CostCap, DailyCounter, money, usd_to_micros

SPEND_COLOUR, CAP_COLOUR = "#1a73e8", "#c5221f"


def _midnight(day: date) -> datetime:
    # A cost day is a date in COST_TIMEZONE; the chart places it at midnight UTC of that date.
    return datetime.combine(day, time(), tzinfo=dt_timezone.utc)


def spend_by_day(month_start: date, today: date) -> dict[date, float]:
    """All AI spend (the models' sum) per cost day from `month_start` to `today`, in one query."""
    rows = (
        DailyCounter.objects.filter(day__gte=month_start, day__lte=today, scope=CostCap.MODEL)
        .values_list("day")
        .annotate(micros=Sum("usd_micros"))
    )
    return {day: micros / 1_000_000 for day, micros in rows}


def month_chart(today: date, daily_forecast: list[float], daily_cap_usd: float | None) -> str:
    """Spend per day this month, the daily cap as a line, and the forecast dashed to month end."""
    month_start = today.replace(day=1)
    last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    spent = spend_by_day(month_start, today)
    days = [month_start + timedelta(days=i) for i in range(today.day)]
    actual = Series("spent", [(_midnight(d), spent.get(d, 0.0)) for d in days], SPEND_COLOUR, unit="$")
    ahead = [today + timedelta(days=i) for i in range(1, (last - today).days + 1)]
    trend = [(_midnight(today), spent.get(today, 0.0))] + [
        (_midnight(d), usd) for d, usd in zip(ahead, daily_forecast, strict=False)
    ]
    lines = [Line(daily_cap_usd, "daily cap", CAP_COLOUR)] if daily_cap_usd is not None else []
    return line_chart(
        f"AI spend per day, {month_start:%Y-%m}",
        [actual, Series("forecast", trend, SPEND_COLOUR, dashed=True, unit="$")] if ahead else [actual],
        _midnight(month_start),
        _midnight(last),
        lines=lines,
        step=timedelta(days=1),
        day_zone=settings.COST_TIMEZONE or "UTC",
    )


def override_view(cap: dict) -> dict:
    """What a cap's row on the card says of overrides: until when one lets spend through (or that
    the global daily cap still blocks it: `override_blocked_by_daily_cap`, from services.status);
    whether the row offers "Override for 1 h" (a cap that throttles, not overridden yet); and the
    question that button asks first, naming the cap, as a mistake there lets spend through."""
    until = datetime.fromisoformat(cap["override_until"]) if cap["override_until"] else None
    cap_usd = money(usd_to_micros(cap["usd_cap"]))
    if cap["scope"] == CostCap.DAILY:
        question = f"Override the global daily cap ({cap_usd}, all AI spend) for 1 h? Until then every model's calls"
    else:
        question = f"Override the {cap['key']} daily cap ({cap_usd}) for 1 h? Until then {cap['key']}'s calls"
    return {
        "override_until_text": formats.date_format(timezone.localtime(until), "SHORT_DATETIME_FORMAT") if until else "",
        "can_override": cap["state"] == services.THROTTLE_STATE and until is None,
        "override_confirm": f"{question} go through past it: a mistake here lets real spend through.",
    }


def card_context(request) -> dict:
    current = services.status()
    outlook = forecast()
    for cap in current["caps"]:
        cap["bar_pct"] = min(100, round(cap["utilization_pct"]))
        cap["label"] = "all AI spend" if cap["scope"] == "daily" else cap["key"]
        cap.update(override_view(cap))
    budget = outlook["budget"]
    today = date.fromisoformat(outlook["day"])
    return {
        "status": current,
        "budget": budget,
        "next_30_days_usd": outlook["total"]["next_30_days_usd"],
        "month_chart": month_chart(today, outlook["total"]["daily_usd"], budget["daily_cap_usd"]),
    }
