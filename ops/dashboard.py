"""Context for the "Console upkeep" card: the last ops check and the uptime checks."""

from . import checks, uptime
from .models import UptimeCheck


def card_context(request) -> dict:
    run = checks.last_run()
    probes = [
        {**uptime.check_status(check), "strip": uptime.hourly_strip(check)}
        for check in UptimeCheck.objects.filter(enabled=True)
    ]
    return {"last_check": run, "uptime_checks": probes}
