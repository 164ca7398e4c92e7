"""The "SLO & Error Budget" card: state, sparklines, budget left and the gate, for each SLO."""

from django.utils import timezone

from . import gate, services

STATE_CLASS = {
    "OK": "ep-state-ok",
    "WATCH": "ep-state-warn",
    "WARNING": "ep-state-warn",
    "CRITICAL": "ep-state-critical",
}
WIDTH, HEIGHT, PAD = 140, 28, 3  # PAD keeps a dot at the edge whole


def svg_polylines(values: list) -> list[str]:
    """`points` strings for an inline SVG sparkline; an hour without traffic breaks the line."""
    present = [v for v in values if v is not None]
    if not present:
        return []
    top = max(present) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    lines: list[list[str]] = []
    current: list[str] = []
    for i, value in enumerate(values):
        if value is None:
            if current:
                lines.append(current)
            current = []
            continue
        current.append(f"{PAD + i * step:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top:.1f}")
    if current:
        lines.append(current)
    return [" ".join(points) for points in lines]


def svg_dots(values: list) -> list[dict]:
    """Points that stand alone (no neighbour with data): drawn as dots, since a line needs two."""
    present = [v for v in values if v is not None]
    if not present:
        return []
    top = max(present) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    dots = []
    for i, value in enumerate(values):
        left = values[i - 1] if i > 0 else None
        right = values[i + 1] if i + 1 < len(values) else None
        if value is not None and left is None and right is None:
            dots.append({"x": round(PAD + i * step, 1), "y": round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top, 1)})
    return dots


def _sparks(points: list) -> dict:
    p95 = [p["p95_ms"] for p in points]
    burn = [p["burn"] if p["requests"] else None for p in points]
    return {
        "p95": svg_polylines(p95),
        "p95_dots": svg_dots(p95),
        "burn": svg_polylines(burn),
        "burn_dots": svg_dots(burn),
        "p95_max": max((p["p95_ms"] or 0 for p in points), default=0),
        "burn_max": max((p["burn"] or 0 for p in points), default=0),
    }


def _budget_class(left: float) -> str:
    if left <= 0:
        return "ep-state-critical"
    return "ep-state-warn" if left < 25 else "ep-state-ok"


def card_context(request) -> dict:
    now = timezone.now()
    rows = []
    for slo in services.active_slos():
        report = services.status(slo, "24h", now)
        left = report["remaining_budget_pct"]  # None: too few requests in the SLO window to judge
        rows.append(
            {
                # Below min_events nothing pages, so the card does not paint it red or yellow either.
                "slo": slo,
                "report": report,
                "judged": report["enough_events"],
                "state_class": STATE_CLASS[report["burn_alert"]] if report["enough_events"] else "ep-muted",
                "error_rate_pct": 100 * report["error_rate"],
                "budget_left": None if left is None else max(0.0, min(100.0, left)),
                "budget_class": None if left is None else _budget_class(left),
                "sparks": [
                    ("24h", _sparks(services.sparkline(slo, 24, 3600, now))),
                    ("30d", _sparks(services.sparkline(slo, 24 * 30, 86400, now))),
                ],
            }
        )
    state = gate.current(now)
    return {"slos": rows, "gate": state, "spark_w": WIDTH, "spark_h": HEIGHT}
