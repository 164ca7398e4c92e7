"""What django-q2 runs for worker scaling."""

from . import services


def autoscale_workers_tick():
    """Every SCALE_TICK_MIN minutes: read the queue, decide, apply unless dry or held, log."""
    result = services.autoscale_tick(by="schedule")
    return {k: result[k] for k in ("outcome", "desired", "actual", "reason")}
