"""The "SLO & Error Budget" card: state, charts, budget left and the gate, for each SLO, worst first."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from echopilot.charts import Line, Series, line_chart

from . import gate, services, ticks
from .models import Slo, SloState, SloTick
from .series import chart_series, span

STATE_CLASS = {
    "OK": "ep-state-ok",
    "WATCH": "ep-state-warn",
    "WARNING": "ep-state-warn",
    "CRITICAL": "ep-state-critical",
}
# Worst first: the state, then the budget left (an unjudged SLO sorts after every judged one).
STATE_RANK = {"CRITICAL": 0, "WARNING": 1, "WATCH": 2, "OK": 3, services.NOT_ENOUGH_DATA: 4}
# Charts for at most this many SLOs (those needing attention, worst first): a card of 200 SLOs is
# read at 3 a.m. for the few that burn; the rest are one line each, the SLO list has them all.
CHARTS_SHOWN = 10
BUDGET_LOW_PCT = 25.0  # below this much budget left an SLO needs attention (its bar turns yellow)
P95_COLOUR, BURN_COLOUR, BUDGET_COLOUR, OBJECTIVE_COLOUR = "#1a73e8", "#e8710a", "#137333", "#c5221f"


def _budget_class(left: float) -> str:
    if left <= 0:
        return "ep-state-critical"
    return "ep-state-warn" if left < BUDGET_LOW_PCT else "ep-state-ok"


def _budget_bar_pct(left: float) -> float:
    # An overspent budget fills the bar in red: an empty bar reads as "nothing to see".
    return 100.0 if left <= 0 else min(100.0, left)


def worst_first(row: dict) -> tuple:
    left = row["report"]["remaining_budget_pct"]
    return STATE_RANK.get(row["report"]["burn_alert"], 4), left if left is not None else float("inf"), row["slo"].name


def _p95_chart(slo, points: list[dict], label: str, step: timedelta) -> str:
    lines = [Line(slo.p95_ms, "p95 objective", OBJECTIVE_COLOUR)] if slo.p95_ms is not None else []
    p95 = Series("p95", [(p["t"], p["p95_ms"]) for p in points], P95_COLOUR, unit=" ms")
    return line_chart(f"{slo.name}: p95 latency, {label}", [p95], *span(points), lines=lines, step=step)


def _burn_chart(slo, points: list[dict], label: str, step: timedelta) -> str:
    burn = Series("burn", [(p["t"], p["burn"]) for p in points], BURN_COLOUR, unit="x")
    on_budget = Line(1.0, "budget pace", OBJECTIVE_COLOUR)
    return line_chart(f"{slo.name}: burn rate, {label}", [burn], *span(points), lines=[on_budget], step=step)


def _burn_down_chart(slo, points: list[dict]) -> str:
    # The first point is the window's start at 100%: alone, it says nothing about the budget.
    shown = [(p["t"], p["remaining_pct"]) for p in points] if len(points) > 1 else []
    left = Series("budget left", shown, BUDGET_COLOUR, unit="%")
    title = f"{slo.name}: error budget left, {slo.window_days}-day window"
    end = max(points[-1]["t"], points[0]["t"] + timedelta(days=1))
    empty = "no requests in the window yet"
    return line_chart(
        title, [left], points[0]["t"], end, lines=[Line(0, "budget spent", OBJECTIVE_COLOUR)], empty=empty
    )


def charts(slo, series: dict) -> dict:
    """The card's charts of one SLO: the burn-down, then p95 and burn over 24 h and 30 days (none
    of those while the SLO has had no request in 30 days)."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    if not any(p["requests"] for p in series["days"]):
        return {"burn_down": _burn_down_chart(slo, series["budget"]), "more": []}
    return {
        "burn_down": _burn_down_chart(slo, series["budget"]),
        "more": [
            _p95_chart(slo, series["hours"], "24 h", hour),
            _burn_chart(slo, series["hours"], "24 h", hour),
            _p95_chart(slo, series["days"], "30 days", day),
            _burn_chart(slo, series["days"], "30 days", day),
        ],
    }


def _row(slo, report: dict, as_of=None) -> dict:
    left = report["remaining_budget_pct"]  # None: too few requests in the SLO window to judge
    judged = report["burn_alert"] != services.NOT_ENOUGH_DATA
    return {
        # Below min_events nothing pages, so the card does not paint it red or yellow either.
        "slo": slo,
        "report": report,
        "judged": judged,
        "as_of": as_of,  # None: figures read now; else the time of the budget tick they come from
        "state_class": STATE_CLASS[report["burn_alert"]] if judged else "ep-muted",
        "error_rate_pct": 100 * report["error_rate"],
        "budget_bar_pct": None if left is None else _budget_bar_pct(left),
        "budget_class": None if left is None else _budget_class(left),
    }


def needs_attention(row: dict) -> bool:
    """Whether an operator should look at this SLO now: it burns (WATCH or worse over 24 h), its budget
    is low, an alert of the watch is firing, or it holds the deploy gate shut."""
    left = row["report"]["remaining_budget_pct"]
    return (
        row["report"]["burn_alert"] not in ("OK", services.NOT_ENOUGH_DATA)
        or (left is not None and left < BUDGET_LOW_PCT)
        or row.get("alerting", False)
        or row.get("holds_gate", False)
    )


def _recorded(slos: list[Slo], now) -> tuple[dict[int, SloTick], dict[int, SloState]]:
    states = {state.slo_id: state for state in SloState.objects.filter(slo__in=slos)}
    return ticks.last_ticks(slos, states, now), states


def _report_of(tick: SloTick) -> dict:
    # The budget tick records the 24 h status's figures (its burn is the 24 h burn).
    return {
        "requests": tick.requests,
        "error_rate": tick.error_rate,
        "p95_ms": tick.p95_ms,
        "p99_ms": tick.p99_ms,
        "daily_burn": tick.burn,
        "weekly_burn": tick.weekly_burn,
        "remaining_budget_pct": tick.remaining_budget_pct,
        "burn_alert": tick.burn_alert,
    }


def card_context(request) -> dict:
    """Every SLO's compact row, worst first, and the charts of those needing attention.

    An SLO's row shows what its last budget tick recorded (at most ticks.TICK_FRESH old, and said so) rather
    than reading its windows on every page view: at 200 SLOs that read is most of a second, while a
    30-day budget and a 24 h burn move little in 15 minutes, and what pages (the watch's alerts,
    every 2 minutes) marks the row live. The SLOs charted (the worst needing attention, up to
    CHARTS_SHOWN; every SLO on a card of no more) and those without a fresh tick are read now.
    """
    now = timezone.now()
    slos = services.active_slos()
    gate_state = gate.current(now)
    recorded, states = _recorded(slos, now)
    holding = {shut.slo_id for shut in gate_state.shuts}
    rows = {}
    for slo in slos:
        if slo.pk in recorded:
            rows[slo.pk] = _row(slo, _report_of(recorded[slo.pk]), recorded[slo.pk].at)
    live = [slo for slo in slos if slo.pk not in rows]
    rows.update(_live_rows(live, now))
    for slo in slos:
        state = states.get(slo.pk)
        rows[slo.pk]["alerting"] = bool(state and state.active_alerts)
        rows[slo.pk]["holds_gate"] = slo.pk in holding
    ordered = sorted(rows.values(), key=worst_first)
    attention = [row for row in ordered if needs_attention(row)]
    drawn = ordered if len(ordered) <= CHARTS_SHOWN else attention[:CHARTS_SHOWN]
    _draw(drawn, rows, now)
    drawn_pks = {row["slo"].pk for row in drawn}
    return {
        # Re-sorted: a charted row was read again now and may have moved.
        "slos": sorted((rows[pk] for pk in drawn_pks), key=worst_first),
        "compact": _lines([row for row in ordered if row["slo"].pk not in drawn_pks], now),
        "not_drawn": len([row for row in attention if row["slo"].pk not in drawn_pks]),
        "gate": gate_state,
    }


def _lines(rows: list[dict], now) -> list[dict]:
    # The compact lines' texts made here, not by template tags and filters per line (url, date,
    # timesince, floatformat): with 200 SLOs those were most of the card's rendering.
    changelist = reverse("admin:slo_slo_changelist")
    for row in rows:
        report, at = row["report"], row["as_of"]
        row["change_url"] = f"{changelist}{row['slo'].pk}/change/"
        row["burns"] = f"{report['daily_burn']:.2f}x / {report['weekly_burn']:.2f}x" if row["judged"] else "-"
        row["as_of_text"] = f"as of {timesince(at, now)} ago" if at else ""
        row["as_of_title"] = f"figures of the budget tick at {at:%Y-%m-%d %H:%M} UTC" if at else ""
    return rows


def _live_rows(slos: list[Slo], now) -> dict[int, dict]:
    reports = services.statuses_of(slos, "24h", now)  # one query for every SLO
    return {slo.pk: _row(slo, reports[slo.pk]) for slo in slos}


def _draw(drawn: list[dict], rows: dict[int, dict], now) -> None:
    # Charted SLOs are read now, figures and charts alike, so a row never contradicts its charts.
    slos = [row["slo"] for row in drawn]
    stale = [row["slo"] for row in drawn if row["as_of"] is not None]
    for pk, row in _live_rows(stale, now).items():
        rows[pk] = {**rows[pk], **row}
    series = chart_series(slos, now)
    for slo in slos:
        rows[slo.pk]["charts"] = charts(slo, series[slo.pk])
