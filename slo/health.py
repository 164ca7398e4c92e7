"""Readiness and Prometheus views of the SLOs."""

import logging

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from echopilot.health import CheckResult

from . import gate, middleware, services
from .models import Slo

log = logging.getLogger(__name__)


def watched_slos():
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
    for slo in watched_slos():
        watched.append(slo.name)
        day = services.window(slo, services.PERIODS["24h"])
        burn = day.burn(slo)
        if day.requests >= slo.min_events and services.burn_alert(burn) == "CRITICAL":
            critical.append(f"{slo.name} burn {burn:.2f}x")
    if critical:
        return CheckResult(False, "CRITICAL: " + ", ".join(critical))
    return CheckResult(True, f"no watched SLO is CRITICAL (watching: {', '.join(watched) or 'none'})")


def slo_metrics():
    try:
        families = list(_families())
    except Exception as exc:  # a scrape before migrate, or with the database away, skips ours only
        log.warning("SLO metrics skipped: %s", exc)
        return
    yield from families


def _families():
    burn = GaugeMetricFamily("echopilot_slo_burn", "Error-budget burn over the last 24h", labels=["slo"])
    for slo in Slo.objects.filter(enabled=True):
        burn.add_metric([slo.name], services.window(slo, services.PERIODS["24h"]).burn(slo))
    yield burn
    shut = GaugeMetricFamily("echopilot_deploy_gate_shut", "1 while the deploy gate is shut")
    shut.add_metric([], 1.0 if gate.GateShut.objects.filter(lifted_at__isnull=True).exists() else 0.0)
    yield shut
