"""The SLOs' part of readiness: /healthz/strict fails while a watched SLO burns CRITICAL."""

from django.conf import settings
from django.db.models import QuerySet

from echopilot.health import CheckResult

from . import middleware, services
from .models import Slo


def watched_slos() -> QuerySet[Slo]:
    """The enabled SLOs /healthz/strict judges: HEALTHZ_STRICT_SLOS by name, "*" for all, and by
    default the console's own."""
    enabled = Slo.objects.filter(enabled=True).order_by("name")
    names = settings.HEALTHZ_STRICT_SLOS
    if not names:
        return enabled.filter(service=middleware.SERVICE)
    if names == ["*"]:
        return enabled
    return enabled.filter(name__in=names)


def slo_check() -> CheckResult:
    """Fails while a watched SLO burns CRITICAL (above 2x over the last 24h, with enough requests)."""
    critical, watched = [], []
    slos = list(watched_slos())
    days = services.windows_of(slos, services.PERIODS["24h"])  # one query for every SLO
    for slo in slos:
        watched.append(slo.name)
        day = days[slo.pk]
        burn = day.burn(slo)
        if day.requests >= slo.min_events and services.burn_alert(burn) == "CRITICAL":
            critical.append(f"{slo.name} burn {burn:.2f}x")
    if critical:
        return CheckResult(False, "CRITICAL: " + ", ".join(critical))
    return CheckResult(True, f"no watched SLO is CRITICAL (watching: {', '.join(watched) or 'none'})")
