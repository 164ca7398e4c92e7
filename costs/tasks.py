"""What django-q2 runs for cost guardrails."""

from . import sealing, services


def cost_guardrails_tick() -> dict:
    """Hourly: recompute, log, snapshot, raise what is due."""
    return services.guardrails_tick()


def seal_audit_trail() -> dict:
    """Every minute: chain the ledger rows written through the API since the last run, in bulk."""
    return {"sealed": sealing.seal_all()}
