"""Context for the worker scaling card: desired vs actual over 24 h as an inline SVG, the forecast,
the reason, and (for admins) buttons to decide now and to apply."""

from datetime import timedelta

from django.utils import timezone

from . import services
from .models import Decision

CHART_W, CHART_H, CHART_PAD = 300, 60, 4
HOURS = 24


def _x(at, start, now) -> float:
    return round((at - start).total_seconds() / (now - start).total_seconds() * CHART_W, 1)


def _y(value: int, top: int) -> float:
    return round(CHART_H - CHART_PAD - value / top * (CHART_H - 2 * CHART_PAD), 1)


def _steps(points: list[tuple], start, now, top: int) -> str:
    """An SVG polyline's points, drawn as steps: a value holds until the next different one."""
    changes = [(at, value) for i, (at, value) in enumerate(points) if i == 0 or value != points[i - 1][1]]
    out: list[str] = []
    for (at, value), (next_at, _) in zip(changes, [*changes[1:], (now, None)], strict=True):
        y = _y(value, top)
        out += [f"{_x(at, start, now)},{y}", f"{_x(next_at, start, now)},{y}"]
    return " ".join(out)


def chart(now=None) -> dict | None:
    """Desired and actual over the last 24 h from the stored decisions, or None before the first one."""
    now = now or timezone.now()
    start = now - timedelta(hours=HOURS)
    rows = list(
        Decision.objects.filter(at__gte=start, at__lte=now).order_by("at").values("at", "desired", "actual", "outcome")
    )
    if not rows:
        return None
    actual = [(r["at"], r["desired"] if r["outcome"] == Decision.Outcome.APPLIED else r["actual"]) for r in rows]
    desired = [(r["at"], r["desired"]) for r in rows]
    top = max(1, *(v for _, v in desired), *(v for _, v in actual))
    return {
        "width": CHART_W,
        "height": CHART_H,
        "desired": _steps(desired, start, now, top),
        "actual": _steps(actual, start, now, top),
        "top": top,
        "decisions": len(rows),
        "applied": sum(1 for r in rows if r["outcome"] == Decision.Outcome.APPLIED),
    }


def card_context(request) -> dict:
    now = timezone.now()
    current = services.status(now)
    fc = current["forecast"] or {}
    return {
        "status": current,
        "chart": chart(now),
        "forecast_peak": fc.get("peak_per_min"),
        "forecast_method": fc.get("method"),
        "forecast_next": fc["per_min"][-1] if fc.get("per_min") else None,
        "forecast_min": services.limits().forecast_min,
    }
