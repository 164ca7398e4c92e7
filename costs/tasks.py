"""What django-q2 runs for cost guardrails."""

from . import services


def cost_guardrails_tick() -> dict:
    """Hourly: recompute, log, snapshot, raise what is due."""
    return services.guardrails_tick()
