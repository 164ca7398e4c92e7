"""Judging SLOs: exact-count windows over the rollups, percentiles, burn rates and the budget.

A window [start, end) is read as whole days in the middle, hours next to them and minutes at the
edges, so a 30-day question reads about a hundred rows; hours and days not built yet (the open hour,
today) are read as their minute and hour rows, and minutes not folded yet as their parts
(_rows_of_pieces). Burn is always errors / requests over the
whole window (then divided by the budgeted rate), never an average of per-row ratios.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from itertools import pairwise

import numpy as np
import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from . import sketch
from .models import ALL_ROUTES, ClosedHours, Rollup, RollupPart, Slo

PERIODS = {
    "5m": timedelta(minutes=5),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "3d": timedelta(days=3),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_PERIOD = "24h"
MINUTE, HOUR, DAY = 60, 3600, 86400
# The latency objectives are percentiles: p95 <= X lets 5% of requests be slower, p99 <= Y 1%.
P95_BUDGET, P99_BUDGET = 0.05, 0.01
LATENCY_BUDGETS = {"p95": P95_BUDGET, "p99": P99_BUDGET}
WATCH_FROM, WARNING_FROM, CRITICAL_ABOVE = 1.0, 1.5, 2.0
# The state of a window with fewer requests than the SLO's min_events: too few to judge (alerts stay quiet too).
NOT_ENOUGH_DATA = "NO_DATA"


# --- time ------------------------------------------------------------------------------------------------


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=dt_timezone.utc)


def _floor(epoch: int, step: int) -> int:
    return epoch - epoch % step


def _ceil(epoch: int, step: int) -> int:
    return -(-epoch // step) * step


def segments(start: int, end: int) -> list[tuple[str, int, int]]:
    """[start, end) (minute-aligned epochs) as (resolution, from, to) pieces: minutes, hours, days."""
    if start >= end:
        return []
    h0, h1 = _ceil(start, HOUR), _floor(end, HOUR)
    if h0 >= h1:
        return [(Rollup.MINUTE, start, end)]
    pieces = [(Rollup.MINUTE, start, h0)]
    d0, d1 = _ceil(h0, DAY), _floor(h1, DAY)
    if d0 >= d1:
        pieces.append((Rollup.HOUR, h0, h1))
    else:
        pieces += [(Rollup.HOUR, h0, d0), (Rollup.DAY, d0, d1), (Rollup.HOUR, d1, h1)]
    pieces.append((Rollup.MINUTE, h1, end))
    return [p for p in pieces if p[1] < p[2]]


def window_bounds(slo: Slo, length: timedelta, now=None) -> tuple[int, int]:
    """The minute-aligned [start, end) of the window of `length` ending now (the current minute included).

    The start never precedes the SLO's baseline; where minute (or hour) rows have expired, it moves
    forward to the next hour (or day) so the window never counts a partial row.
    """
    now = now or timezone.now()
    end = _floor(_epoch(now), MINUTE) + MINUTE
    start = end - int(length.total_seconds())
    if slo.baseline_at:
        start = max(start, _ceil(_epoch(slo.baseline_at), MINUTE))
    if start < _epoch(now) - settings.SLO_MINUTE_RETENTION_DAYS * DAY:
        start = _ceil(start, HOUR)
    if start < _epoch(now) - settings.SLO_HOUR_RETENTION_DAYS * DAY:
        start = _ceil(start, DAY)
    return min(start, end), end


# --- windows ---------------------------------------------------------------------------------------------


@dataclass
class Window:
    """Exact counts and the merged latency sketch of one SLO over [start, end)."""

    start: int
    end: int
    requests: int = 0
    errors: int = 0
    latency_sum_ms: float = 0.0
    counts: np.ndarray = field(default_factory=sketch.empty)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def percentile(self, q: float) -> float | None:
        return sketch.quantile(self.counts, q)

    def slower_than(self, threshold_ms: float) -> int:
        return sketch.count_above(self.counts, threshold_ms)

    def burns(self, slo: Slo) -> dict:
        """Burn per objective the SLO has: the share of bad requests over the share it allows."""
        latency = slo.latency_objectives()
        if not self.requests:
            return {"errors": 0.0, **{key: 0.0 for key in latency}}
        return {
            "errors": self.error_rate / (slo.error_budget_pct / 100),
            **{key: self.slower_than(ms) / self.requests / LATENCY_BUDGETS[key] for key, ms in latency.items()},
        }

    def burn(self, slo: Slo) -> float:
        return max(self.burns(slo).values())


def read_window(slo: Slo, start: int, end: int) -> Window:
    """Add up the rollup rows of `slo` covering [start, end)."""
    window = Window(start, end)
    by_status = not _only_5xx(slo)
    sums = []
    for count, errors, latency_sum, data, *statuses in _window_rows(slo, start, end, by_status):
        window.requests += count
        window.errors += _errors_of(slo, errors, _as_dict(statuses[0])) if by_status else errors
        sums.append(latency_sum)
        sketch.decode_into(data, window.counts)
    window.latency_sum_ms = math.fsum(sums)  # exact, so the same whatever order the rows came in
    return window


def _window_rows(slo: Slo, start: int, end: int, by_status: bool) -> list:
    # Plain SQL: this is the hot path of every status question, and building the same five-range
    # filter through the ORM cost more than the database took to answer it.
    wanted = _pieces(slo, start, end)
    if not wanted:
        return []
    columns = "r.count, r.errors, r.latency_sum_ms, r.sketch" + (", r.statuses" if by_status else "")
    return [row[1:] for row in _rows_of_pieces(wanted, columns)]


def _pieces(slo: Slo, start: int, end: int) -> list:
    """The pieces of [start, end) of `slo`, flat, as _rows_of_pieces takes them (all numbered 0)."""
    adapt = connection.ops.adapt_datetimefield_value
    wanted: list = []
    for res, a, b in segments(start, end):
        wanted += [0, slo.service, slo.rollup_route, res, adapt(_at(a)), adapt(_at(b))]
    return wanted


def _as_dict(statuses) -> dict:
    return orjson.loads(statuses) if isinstance(statuses, (str, bytes)) else (statuses or {})


def _only_5xx(slo: Slo) -> bool:
    return slo.error_statuses.strip().lower() == "5xx"


def _rows(slo: Slo, start: int, end: int) -> list[tuple]:
    """(count, errors, latency_sum_ms, statuses, sketch, start epoch) of the rows covering [start, end)."""
    wanted = _pieces(slo, start, end)
    if not wanted:
        return []
    columns = f"r.count, r.errors, r.latency_sum_ms, r.statuses, r.sketch, {START_EPOCH[connection.vendor]}"
    return [row[1:] for row in _rows_of_pieces(wanted, columns)]


def _errors_of(slo: Slo, errors_5xx: int, statuses: dict) -> int:
    if _only_5xx(slo):
        return errors_5xx
    codes = slo.error_codes()
    return sum(n for code, n in statuses.items() if int(code) in codes)


def window(slo: Slo, length: timedelta, now=None) -> Window:
    """The window of `length` ending now, for `slo`."""
    return read_window(slo, *window_bounds(slo, length, now))


def windows_of(slos: list[Slo], length: timedelta, now=None) -> dict[int, Window]:
    """The window of `length` ending now for each of `slos`, by SLO pk, read in one query.

    Every piece of every SLO's window is one row of a VALUES list joined to the rollups, so the
    query count stays one whatever the number of SLOs (each piece is still one index range scan).
    """
    return dict(zip([slo.pk for slo in slos], read_windows([(slo, length) for slo in slos], now), strict=True))


# Pieces (six parameters each) per query of read_windows: within SQLite's 32,766 and PostgreSQL's
# 65,535 parameters; 200 SLOs asking four windows each are about 3,000 pieces.
PIECES_PER_QUERY = 5000


def read_windows(asks: list[tuple[Slo, timedelta]], now=None) -> list[Window]:
    """The window of each (slo, length) in `asks`, ending now, in the order asked: one query for
    up to PIECES_PER_QUERY pieces (any number of SLOs and lengths), whatever the number of asks.

    Windows of one SLO overlap (the last hour's minutes are in every window ending now), so each
    rollup row is read and decoded once and added to every window it lies in (_shared_pieces)."""
    now = now or timezone.now()
    found = [Window(*window_bounds(slo, length, now)) for slo, length in asks]
    sums: list[list[float]] = [[] for _ in asks]
    pieces = _shared_pieces(asks, found)
    adapt = connection.ops.adapt_datetimefield_value
    wanted = [
        (k, slo.service, slo.rollup_route, res, adapt(_at(a)), adapt(_at(b)))
        for k, (slo, res, a, b, _) in enumerate(pieces)
    ]
    parts = [_Part() for _ in pieces]
    # The codes each SLO counts as errors (None: 5xx, counted at ingest), parsed once, not per row.
    codes = {slo.pk: None if _only_5xx(slo) else slo.error_codes() for slo, _length in asks}
    for first in range(0, len(wanted), PIECES_PER_QUERY):
        chunk = [value for piece in wanted[first : first + PIECES_PER_QUERY] for value in piece]
        for k, count, errors, latency_sum, data, statuses in _rows_of_pieces(chunk):
            counted, part = codes[pieces[k][0].pk], parts[k]
            part.requests += count
            if counted is None:
                part.errors += errors
            else:
                part.errors += sum(n for code, n in _as_dict(statuses).items() if int(code) in counted)
            part.latency_sums.append(latency_sum)
            sketch.decode_into(data, part.counts)
    for (_slo, _res, _a, _b, windows), part in zip(pieces, parts, strict=True):
        for i in windows:
            found[i].requests += part.requests
            found[i].errors += part.errors
            found[i].counts += part.counts
            sums[i] += part.latency_sums
    for window, latency_sums in zip(found, sums, strict=True):
        window.latency_sum_ms = math.fsum(latency_sums)  # exact: the rows' order does not matter
    return found


@dataclass
class _Part:
    requests: int = 0
    errors: int = 0
    latency_sums: list[float] = field(default_factory=list)
    counts: np.ndarray = field(default_factory=sketch.empty)


def _shared_pieces(asks: list[tuple[Slo, timedelta]], found: list[Window]) -> list[tuple]:
    """The pieces to read for `asks` as (slo, resolution, from, to, indexes of the windows holding
    it): the windows' pieces (segments) of each SLO and resolution cut where any of them starts or
    ends, so no two overlap, with neighbours that lie in the same windows joined again."""
    by_stream: dict[tuple, list[tuple[int, int, int]]] = {}
    slo_of: dict[tuple, Slo] = {}
    for i, ((slo, _length), window) in enumerate(zip(asks, found, strict=True)):
        for res, a, b in segments(window.start, window.end):
            by_stream.setdefault((slo.pk, res), []).append((a, b, i))
            slo_of[(slo.pk, res)] = slo
    pieces: list[tuple] = []
    for key, spans in by_stream.items():
        cuts = sorted({t for a, b, _i in spans for t in (a, b)})
        last = None
        for a, b in pairwise(cuts):
            inside = tuple(i for lo, hi, i in spans if lo <= a and b <= hi)
            if not inside:
                last = None
                continue
            if last is not None and last[4] == inside and last[3] == a:
                last = pieces[-1] = (last[0], last[1], last[2], b, inside)
            else:
                last = (slo_of[key], key[1], a, b, inside)
                pieces.append(last)
    return pieces


# The rows that hold a piece now: an hour piece takes hour rows before its service's
# ClosedHours.hours_until and minute rows from there on (hours still open, built when they close);
# a day piece takes day rows before days_until, hour rows up to hours_until, then minutes. A service
# without that row has every hour and day built. (piece, rows' resolution, lower bound, upper bound)
_PARTS = (
    "parts (piece, resolution, lo, hi) AS (VALUES ('m', 'm', '', ''), ('h', 'h', '', 'h'), ('h', 'm', 'h', ''),"
    " ('d', 'd', '', 'd'), ('d', 'h', 'd', 'h'), ('d', 'm', 'h', ''))"
)
# A row's start as epoch seconds, in the SQL of each database.
START_EPOCH = {
    "postgresql": "extract(epoch FROM r.start)::bigint",
    "sqlite": "CAST(strftime('%%s', r.start) AS INTEGER)",
}


def _rows_of_pieces(wanted: list, columns: str = "r.count, r.errors, r.latency_sum_ms, r.sketch, r.statuses") -> list:
    """(i, *columns) of the rollup rows holding each piece (i, service, route, resolution, from, to)
    of `wanted` (flat, six values a piece), in one query. Where a piece reads minute rows it also
    reads the parts of minutes not folded yet (RollupPart): its route's own, or for "*" every route's
    of the service."""
    closed = connection.ops.quote_name(ClosedHours._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * (len(wanted) // 6))
    rollups = _piece_rows(
        Rollup,
        "r.service = p.service AND r.route = p.route AND r.resolution = p.resolution",
        columns,
    )
    parts = _piece_rows(
        RollupPart,
        f"p.resolution = '{Rollup.MINUTE}' AND r.service = p.service"
        f" AND (p.route = '{ALL_ROUTES}' OR r.route = p.route)",
        # A part's statuses are JSON text; PostgreSQL's rollup rows hold jsonb.
        columns.replace("r.statuses", "r.statuses::jsonb") if connection.vendor == "postgresql" else columns,
    )
    # The pieces' rows to read are made first (MATERIALIZED), so each is one range scan of the unique
    # index on all four of its columns: joined in one go, PostgreSQL scanned every resolution of a
    # piece's range (a day piece read its minutes too) and kept the rows of the right one.
    sql = (
        f"WITH wanted (i, service, route, resolution, a, b) AS (VALUES {values}), {_PARTS},"
        " pieces AS MATERIALIZED (SELECT wanted.i, wanted.service, wanted.route, parts.resolution, wanted.a,"
        " wanted.b, CASE parts.lo WHEN 'h' THEN c.hours_until WHEN 'd' THEN c.days_until ELSE wanted.a END AS lo,"
        " CASE parts.hi WHEN 'h' THEN coalesce(c.hours_until, wanted.b) WHEN 'd' THEN coalesce(c.days_until, wanted.b)"
        " ELSE wanted.b END AS hi"
        " FROM wanted JOIN parts ON parts.piece = wanted.resolution"
        f" LEFT JOIN {closed} c ON c.service = wanted.service)"
        f" {rollups} UNION ALL {parts}"
    )
    if connection.vendor == "postgresql":  # VALUES of parameters are text: say what they are
        sql = sql.replace("(%s, %s, %s, %s, %s, %s)", "(%s::int, %s, %s, %s, %s::timestamptz, %s::timestamptz)")
    with connection.cursor() as cursor:
        cursor.execute(sql, wanted)
        return cursor.fetchall()


def _piece_rows(model: type[Rollup] | type[RollupPart], match: str, columns: str) -> str:
    """The SELECT of `model`'s rows (as r) in each piece's range (p) that `match`."""
    table = connection.ops.quote_name(model._meta.db_table)
    in_range = "r.start >= p.a AND r.start < p.b AND r.start >= p.lo AND r.start < p.hi"
    if connection.vendor == "postgresql":
        # The planner guesses one row per piece and answers with a seq scan of the whole table and a
        # hash join (0.4 s at 50 SLOs, growing with the table); LATERAL with OFFSET 0, which it
        # cannot flatten, keeps one index range scan per piece (15 ms).
        return (
            f"SELECT p.i, {columns} FROM pieces p CROSS JOIN LATERAL"
            f" (SELECT * FROM {table} r WHERE {match} AND {in_range} OFFSET 0) r"
        )
    return f"SELECT p.i, {columns} FROM pieces p JOIN {table} r ON {match} AND {in_range}"


def burn_alert(burn: float) -> str:
    """The quick-start guide's states: OK under 1x, WATCH / WARNING from 1x to 2x, CRITICAL above 2x."""
    if burn > CRITICAL_ABOVE:
        return "CRITICAL"
    if burn >= WARNING_FROM:
        return "WARNING"
    if burn >= WATCH_FROM:
        return "WATCH"
    return "OK"


# --- the first SLO -----------------------------------------------------------------------------------


def default_slo() -> Slo | None:
    """The SLO from env (SLO_*), made the first time anything asks while there is none."""
    slo = Slo.objects.filter(enabled=True).order_by("pk").first()
    if slo is not None or Slo.objects.exists():
        return slo
    try:
        with transaction.atomic():
            return Slo.objects.create(
                name=settings.SLO_SERVICE,
                service=settings.SLO_SERVICE,
                p95_ms=settings.SLO_LAT_P95_MS,
                p99_ms=settings.SLO_LAT_P99_MS,
                error_budget_pct=settings.SLO_ERR_BUDGET_DAILY_PCT,
                window_days=settings.SLO_WINDOW_DAYS,
                min_events=settings.SLO_MIN_EVENTS,
            )
    except IntegrityError:  # another process made it first
        return Slo.objects.get(name=settings.SLO_SERVICE)


def active_slos() -> list[Slo]:
    """Every enabled SLO (making the env one first if there are none)."""
    default_slo()
    return list(Slo.objects.filter(enabled=True))


# --- status and budget ---------------------------------------------------------------------------------


def _r(value, places=4) -> float | None:
    return None if value is None else round(float(value), places)


def read_ahead(
    slos: list[Slo], lengths_of: Callable[[Slo], Iterable[timedelta]], now=None
) -> dict[int, dict[timedelta, Window]]:
    """The windows `lengths_of(slo)` of each of `slos` ending now, by SLO pk then length, read in one
    query (read_windows) for the jobs that judge every SLO: pass each SLO's to window_from."""
    now = now or timezone.now()
    asks = [(slo, length) for slo in slos for length in dict.fromkeys(lengths_of(slo))]
    ahead: dict[int, dict[timedelta, Window]] = {slo.pk: {} for slo in slos}
    for (slo, length), found in zip(asks, read_windows(asks, now), strict=True):
        ahead[slo.pk][length] = found
    return ahead


def window_from(ahead: dict[timedelta, Window] | None, slo: Slo, length: timedelta, now=None) -> Window:
    """The window of `length` ending now for `slo`: from `ahead` (its windows read ahead for the same
    `now`) when it holds that length, else read."""
    if ahead is not None and length in ahead:
        return ahead[length]
    return window(slo, length, now)


def status(slo: Slo, period: str = DEFAULT_PERIOD, now=None) -> dict:
    """p95 / p99 / error rate / burn over `period`, the daily and weekly burn, and the budget left.

    Below `slo.min_events` requests nothing is judged: `burn_alert` is NO_DATA when `period` has too
    few, `remaining_budget_pct` None when the SLO window has.
    """
    now = now or timezone.now()
    read: dict = {}
    for length in status_lengths(slo, period):
        read[length] = window(slo, length, now)
    return status_from(slo, period, read, now)


def status_lengths(slo: Slo, period: str) -> list[timedelta]:
    """The windows a status of `slo` over `period` reads (the period, 24 h, 7 days, the SLO window),
    each once: period 30d and a 30-day SLO window are one read."""
    lengths = [PERIODS[period], PERIODS["24h"], PERIODS["7d"], timedelta(days=slo.window_days)]
    return list(dict.fromkeys(lengths))


def statuses_of(slos: list[Slo], period: str = DEFAULT_PERIOD, now=None) -> dict[int, dict]:
    """`status(slo, period, now)` of each of `slos`, by SLO pk, every window read in one query."""
    now = now or timezone.now()
    read = read_ahead(slos, lambda slo: status_lengths(slo, period), now)
    return {slo.pk: status_from(slo, period, read[slo.pk], now) for slo in slos}


def status_from(slo: Slo, period: str, read: dict[timedelta, Window], now: datetime) -> dict:
    """The status of `slo` over `period` from its windows (`read`, by length: status_lengths)."""
    current = read[PERIODS[period]]
    daily, weekly = read[PERIODS["24h"]], read[PERIODS["7d"]]
    whole = read[timedelta(days=slo.window_days)]
    burns = current.burns(slo)
    burn = max(burns.values())
    enough = current.requests >= slo.min_events
    return {
        "slo": slo.name,
        "service": slo.service,
        "route": slo.route,
        "period": period,
        "window": {"start": _at(current.start).isoformat(), "end": _at(current.end).isoformat()},
        "requests": current.requests,
        "errors": current.errors,
        "error_rate": _r(current.error_rate, 6),
        "p95_ms": _r(current.percentile(0.95), 2),
        "p99_ms": _r(current.percentile(0.99), 2),
        "mean_ms": _r(current.latency_sum_ms / current.requests, 2) if current.requests else None,
        "burn": _r(burn),
        "burn_by_objective": {k: _r(v) for k, v in burns.items()},
        "burn_alert": burn_alert(burn) if enough else NOT_ENOUGH_DATA,
        "enough_events": enough,
        "daily_burn": _r(daily.burn(slo)),
        "weekly_burn": _r(weekly.burn(slo)),
        "remaining_budget_pct": _r(remaining_pct(whole, slo), 2) if whole.requests >= slo.min_events else None,
        "budget_window": {
            "start": _at(whole.start).isoformat(),
            "end": _at(whole.end).isoformat(),
            "days": slo.window_days,
            "requests": whole.requests,
        },
        "objectives": {
            "p95_ms": slo.p95_ms,
            "p99_ms": slo.p99_ms,
            "error_budget_pct": slo.error_budget_pct,
            "window_days": slo.window_days,
            "error_statuses": slo.error_statuses,
            "min_events": slo.min_events,
        },
        "baseline_at": slo.baseline_at.isoformat() if slo.baseline_at else None,
        "generated_at": now.isoformat(),
    }


def remaining_pct(whole: Window, slo: Slo) -> float:
    """Budget left over the SLO window: 100% minus the most-spent objective's share."""
    return 100.0 * (1.0 - whole.burn(slo))


def budget(slo: Slo, now=None) -> dict:
    """The status plus the budget of each objective over the SLO window, and its daily graph."""
    now = now or timezone.now()
    start, end = window_bounds(slo, timedelta(days=slo.window_days), now)
    whole = read_window(slo, start, end)
    objectives = [("errors", slo.error_budget_pct / 100, whole.errors)] + [
        (f"{key}<={ms:g}ms", LATENCY_BUDGETS[key], whole.slower_than(ms))
        for key, ms in slo.latency_objectives().items()
    ]
    detail = []
    for name, share, spent in objectives:
        allowed = share * whole.requests
        detail.append(
            {
                "objective": name,
                "budget_share": share,
                "allowed": _r(allowed, 2),
                "spent": spent,
                "remaining": _r(allowed - spent, 2),
                "remaining_pct": _r(100 * (1 - spent / allowed), 2) if allowed else 100.0,
            }
        )
    return {
        **status(slo, DEFAULT_PERIOD, now),
        "budget": {
            "start": _at(start).isoformat(),
            "end": _at(end).isoformat(),
            "requests": whole.requests,
            "objectives": detail,
            "series": budget_series(slo, start, end, whole),
        },
    }


def budget_series(slo: Slo, start: int, end: int, whole: Window) -> list[dict]:
    """Budget left at the window's start (exactly 100%) and at the end of each day after it."""
    latency = slo.latency_objectives()
    allowed = {
        "errors": slo.error_budget_pct / 100 * whole.requests,
        **{key: LATENCY_BUDGETS[key] * whole.requests for key in latency},
    }
    spent_by_day: dict = {}
    for _count, errors, _sum, statuses, data, row_start in _rows(slo, start, end):
        day = min(_floor(row_start, DAY) + DAY, end)
        counts = sketch.decode(data)
        spent = spent_by_day.setdefault(day, dict.fromkeys(allowed, 0))
        spent["errors"] += _errors_of(slo, errors, _as_dict(statuses))
        for key, ms in latency.items():
            spent[key] += sketch.count_above(counts, ms)
    series = [{"t": _at(start).isoformat(), "remaining_pct": 100.0}]
    total = dict.fromkeys(allowed, 0)
    for day in sorted(spent_by_day):
        for key in total:
            total[key] += spent_by_day[day][key]
        used = max((total[k] / allowed[k]) if allowed[k] else 0.0 for k in total)
        series.append({"t": _at(day).isoformat(), "remaining_pct": _r(100 * (1 - used), 2)})
    return series


@transaction.atomic
def rebaseline(slo: Slo, now=None) -> Slo:
    """Start the SLO's rolling windows anew from now; older data is kept but no longer counted."""
    now = now or timezone.now()
    Slo.objects.filter(pk=slo.pk).update(baseline_at=now, updated_at=now)
    slo.refresh_from_db()
    return slo
