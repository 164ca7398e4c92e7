"""The "SLO & Error Budget" card: state, charts, budget left and the gate, for each SLO, worst first."""

from datetime import timedelta

from django.utils import timezone

from echopilot.charts import Line, Series, line_chart

from . import gate, services
from .series import chart_series, span

STATE_CLASS = {
    "OK": "ep-state-ok",
    "WATCH": "ep-state-warn",
    "WARNING": "ep-state-warn",
    "CRITICAL": "ep-state-critical",
}
# Worst first: the state, then the budget left (an unjudged SLO sorts after every judged one).
STATE_RANK = {"CRITICAL": 0, "WARNING": 1, "WATCH": 2, "OK": 3, services.NOT_ENOUGH_DATA: 4}
P95_COLOUR, BURN_COLOUR, BUDGET_COLOUR, OBJECTIVE_COLOUR = "#1a73e8", "#e8710a", "#137333", "#c5221f"


def _budget_class(left: float) -> str:
    if left <= 0:
        return "ep-state-critical"
    return "ep-state-warn" if left < 25 else "ep-state-ok"


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


def _row(slo, report: dict, series: dict) -> dict:
    left = report["remaining_budget_pct"]  # None: too few requests in the SLO window to judge
    return {
        # Below min_events nothing pages, so the card does not paint it red or yellow either.
        "slo": slo,
        "report": report,
        "judged": report["enough_events"],
        "state_class": STATE_CLASS[report["burn_alert"]] if report["enough_events"] else "ep-muted",
        "error_rate_pct": 100 * report["error_rate"],
        "budget_bar_pct": None if left is None else _budget_bar_pct(left),
        "budget_class": None if left is None else _budget_class(left),
        "charts": charts(slo, series),
    }


def card_context(request) -> dict:
    now = timezone.now()
    slos = services.active_slos()
    series = chart_series(slos, now)
    reports = services.statuses_of(slos, "24h", now)  # one query for every SLO
    rows = sorted((_row(slo, reports[slo.pk], series[slo.pk]) for slo in slos), key=worst_first)
    return {"slos": rows, "gate": gate.current(now)}
