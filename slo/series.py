"""The SLO card's chart series, for every SLO from one read of the hour and day rollups.

p95 and burn per hour over the last 24 h, per day over the last 30 days, and the error budget left at
the end of each day of the SLO window (the burn-down). The day rows decide the burn-down, so a
rebaseline counts from the start of the day it happened on.
"""

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from . import sketch
from .models import Rollup, Slo
from .services import DAY, HOUR, LATENCY_BUDGETS, Window, _at, _epoch, _errors_of, _floor, _r

HOURS_SHOWN = 24
DAYS_SHOWN = 30


def _rows(slos: list[Slo], now: datetime) -> list:
    hour_end = _floor(_epoch(now), HOUR) + HOUR
    day_end = _floor(_epoch(now), DAY) + DAY
    days = max([DAYS_SHOWN] + [slo.window_days for slo in slos])
    streams = {(slo.service, slo.rollup_route) for slo in slos}
    which = Q()
    for service, route in streams:
        which |= Q(service=service, route=route)
    recent_hours = Q(resolution=Rollup.HOUR, start__gte=_at(hour_end - HOURS_SHOWN * HOUR), start__lt=_at(hour_end))
    recent_days = Q(resolution=Rollup.DAY, start__gte=_at(day_end - days * DAY), start__lt=_at(day_end))
    return list(
        Rollup.objects.filter(which, recent_hours | recent_days).values_list(
            "service", "route", "resolution", "start", "count", "errors", "statuses", "sketch"
        )
    )


def _windows(rows: list, slo: Slo, resolution: str, step: int) -> dict[int, Window]:
    windows = {}
    for service, route, res, start, count, errors, statuses, data in rows:
        if (service, route, res) != (slo.service, slo.rollup_route, resolution):
            continue
        t = _epoch(start)
        window = Window(t, t + step, requests=count, errors=_errors_of(slo, errors, statuses))
        sketch.decode_into(data, window.counts)
        windows[t] = window
    return windows


def _points(slo: Slo, windows: dict[int, Window], start: int, end: int, step: int) -> list[dict]:
    points = []
    for t in range(start, end, step):
        window = windows.get(t, Window(t, t + step))
        points.append(
            {
                "t": _at(t),
                "requests": window.requests,
                "p95_ms": _r(window.percentile(0.95), 2),
                "burn": _r(window.burn(slo)) if window.requests else None,
            }
        )
    return points


def _bad(slo: Slo, window: Window) -> dict[str, int]:
    latency = slo.latency_objectives()
    return {"errors": window.errors, **{key: window.slower_than(ms) for key, ms in latency.items()}}


def burn_down(slo: Slo, days: dict[int, Window], now: datetime) -> list[dict]:
    """Budget left (%) at the window's start and at the end of each day since; may go below 0."""
    end = _floor(_epoch(now), DAY) + DAY
    start = end - slo.window_days * DAY
    if slo.baseline_at:
        start = max(start, _floor(_epoch(slo.baseline_at), DAY))
    shown = [days[t] for t in sorted(days) if start <= t < end]
    requests = sum(w.requests for w in shown)
    shares = {"errors": slo.error_budget_pct / 100, **{k: LATENCY_BUDGETS[k] for k in slo.latency_objectives()}}
    spent = dict.fromkeys(shares, 0)
    series = [{"t": _at(start), "remaining_pct": 100.0}]
    for window in shown:
        for key, n in _bad(slo, window).items():
            spent[key] += n
        used = max(spent[k] / (shares[k] * requests) for k in shares) if requests else 0.0
        series.append({"t": _at(min(window.end, _epoch(now))), "remaining_pct": _r(100 * (1 - used), 2)})
    return series


def chart_series(slos: list[Slo], now: datetime | None = None) -> dict[int, dict]:
    """For each SLO (by pk): `hours` and `days` (p95 and burn per point, oldest first) and `budget`
    (the burn-down over its window), read in one query whatever the number of SLOs."""
    now = now or timezone.now()
    if not slos:
        return {}
    rows = _rows(slos, now)
    hour_end = _floor(_epoch(now), HOUR) + HOUR
    day_end = _floor(_epoch(now), DAY) + DAY
    charts = {}
    for slo in slos:
        hours, days = _windows(rows, slo, Rollup.HOUR, HOUR), _windows(rows, slo, Rollup.DAY, DAY)
        charts[slo.pk] = {
            "hours": _points(slo, hours, hour_end - HOURS_SHOWN * HOUR, hour_end, HOUR),
            "days": _points(slo, days, day_end - DAYS_SHOWN * DAY, day_end, DAY),
            "budget": burn_down(slo, days, now),
        }
    return charts


def span(points: list[dict]) -> tuple[datetime, datetime]:
    """The time range a chart of `points` covers: its first to its last point."""
    return points[0]["t"], points[-1]["t"]
