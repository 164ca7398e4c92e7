"""Demo data: an uptime check of the console's own /health with a day of results, one hour of it
down, so the card's strip and GET /api/ops/uptime have something to show. Loading twice adds nothing."""

from datetime import timedelta

from django.conf import settings

from .models import UptimeCheck, UptimeResult, UptimeState

NAME = "console-health"
OUTAGE_HOURS_AGO = 7


def load(now) -> str:
    check, created = UptimeCheck.objects.get_or_create(
        name=NAME, defaults={"target": f"{settings.PORTAL_BASE_URL.rstrip('/')}/health", "keyword": "ok"}
    )
    if not created:
        return f"uptime check {NAME} already there"
    results = [_result(check, now - timedelta(minutes=5 * n), now) for n in range(24 * 12, 0, -1)]
    UptimeResult.objects.bulk_create(results)
    last = results[-1]
    UptimeCheck.objects.filter(pk=check.pk).update(
        state=UptimeState.UP, last_checked_at=last.at, last_latency_ms=last.latency_ms
    )
    return f"uptime check {NAME} with {len(results)} results over 24 h"


def _result(check: UptimeCheck, at, now) -> UptimeResult:
    down = (now - at) // timedelta(hours=1) == OUTAGE_HOURS_AGO
    latency = 30.0 + (at.minute % 7) * 4
    if down:
        return UptimeResult(check_ref=check, at=at, ok=False, latency_ms=5000.0, error="timed out")
    return UptimeResult(check_ref=check, at=at, ok=True, latency_ms=latency, status_code=200)
