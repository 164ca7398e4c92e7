"""The SLO card's chart series, for every SLO from one read of the hour and day rollups (and the
minute rows of the hours not built yet).

p95 and burn per hour over the last 24 h, per day over the last 30 days, and the error budget left at
the end of each day of the SLO window (the burn-down). The day rows decide the burn-down, so a
rebaseline counts from the start of the day it happened on.
"""

from datetime import datetime

from django.db import connection
from django.utils import timezone

from . import sketch
from .models import Rollup, Slo
from .services import (
    DAY,
    HOUR,
    LATENCY_BUDGETS,
    START_EPOCH,
    Window,
    _as_dict,
    _at,
    _epoch,
    _errors_of,
    _floor,
    _r,
    _rows_of_pieces,
)

HOURS_SHOWN = 24
DAYS_SHOWN = 30


def _rows(slos: list[Slo], now: datetime) -> dict[tuple[str, str, str], list]:
    """{(service, route, "h" or "d"): rows (start epoch, count, errors, statuses, sketch)} of the hours
    and days shown; the hours and the day not built yet come as their minute (and hour) rows."""
    hour_end = _floor(_epoch(now), HOUR) + HOUR
    day_end = _floor(_epoch(now), DAY) + DAY
    days = max([DAYS_SHOWN] + [slo.window_days for slo in slos])
    adapt = connection.ops.adapt_datetimefield_value
    asked: list[tuple[str, str, str]] = []
    wanted: list = []
    for service, route in dict.fromkeys((slo.service, slo.rollup_route) for slo in slos):
        for res, start, end in (
            (Rollup.HOUR, hour_end - HOURS_SHOWN * HOUR, hour_end),
            (Rollup.DAY, day_end - days * DAY, day_end),
        ):
            wanted += [len(asked), service, route, res, adapt(_at(start)), adapt(_at(end))]
            asked.append((service, route, res))
    columns = f"{START_EPOCH[connection.vendor]}, r.count, r.errors, r.statuses, r.sketch"
    rows: dict[tuple[str, str, str], list] = {key: [] for key in asked}
    for i, *row in _rows_of_pieces(wanted, columns):
        rows[asked[i]].append(row)
    return rows


def _windows(rows: dict[tuple[str, str, str], list], slo: Slo, resolution: str, step: int) -> dict[int, Window]:
    windows: dict[int, Window] = {}
    for start, count, errors, statuses, data in rows[(slo.service, slo.rollup_route, resolution)]:
        t = _floor(start, step)
        window = windows.setdefault(t, Window(t, t + step))
        window.requests += count
        window.errors += _errors_of(slo, errors, _as_dict(statuses))
        sketch.decode_into(data, window.counts)
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
