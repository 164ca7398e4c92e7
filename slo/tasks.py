"""What django-q2 runs (see schedules.py); the same functions back `manage.py slo_budget`."""

from typing import Any

from . import ingest, ticks


def slo_budget_tick() -> dict:
    """Every 15 minutes: the budget tick (slo_tick events, slo_status.json, alerts, gate)."""
    snapshot = ticks.budget_tick()
    return {"slos": len(snapshot["slos"]), "gate": snapshot["gate"]["gate"]}


def slo_watch_tick() -> dict[str, Any]:
    """Every 2 minutes: multi-window alerts, the watchdog and the gate."""
    return ticks.watch_tick()


def slo_close_hours() -> dict[str, int]:
    """Every 10 minutes: the minute, hour and day rows of services that went quiet, {service: rows built}."""
    return ingest.close_hours()
