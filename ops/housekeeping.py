"""How long the uptime probes' results are kept (UPTIME_RETENTION_DAYS): the minute's uptime_probes
job expires them (ops.uptime.expire_results), so console_prune has nothing of this app's to delete."""

from echopilot.housekeeping import Retained

from .models import UptimeResult


def retained() -> list[Retained]:
    """The probe results, by when each probe ran."""
    return [
        Retained(UptimeResult, "at", "UPTIME_RETENTION_DAYS", name="Uptime results", pruned_by="uptime job (1 min)")
    ]
