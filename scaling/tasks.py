"""What django-q2 runs for worker scaling."""

from typing import Any

from . import services


def autoscale_workers_tick() -> dict[str, Any]:
    """Every SCALE_TICK_MIN minutes: read the queue, decide, apply unless dry or held, log."""
    result = services.autoscale_tick(by="schedule")
    return {k: result[k] for k in ("outcome", "desired", "actual", "reason")}
