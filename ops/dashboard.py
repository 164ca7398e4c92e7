"""Context for the "Console upkeep" card (ops/card.html): the last ops check and the uptime checks,
and each other part's context for the template it includes."""

from echopilot import housekeeping

from . import checks, dr_card, security_scan, uptime
from .models import UptimeCheck


def card_context(request) -> dict:
    run = checks.last_run()
    probes = [
        {**uptime.check_status(check), "strip": uptime.hourly_strip(check)}
        for check in UptimeCheck.objects.filter(enabled=True)
    ]
    return {
        "last_check": run,
        "uptime_checks": probes,
        **security_scan.card_context(request),
        **dr_card.dr_card_context(request),
        # ops/card_retention.html: every app's retained tables, measured by the kernel in at most 4 queries.
        "retained_tables": housekeeping.retention_report(),
    }
