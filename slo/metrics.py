"""The SLOs' Prometheus series, computed from the database at scrape time."""

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from . import gate, services
from .models import Slo

log = logging.getLogger(__name__)


def slo_metrics() -> Iterator[GaugeMetricFamily]:
    try:
        families = list(_families())
    except Exception as exc:  # a scrape before migrate, or with the database away, skips ours only
        log.warning("SLO metrics skipped: %s", exc)
        return
    yield from families


def _families() -> Iterator[GaugeMetricFamily]:
    burn = GaugeMetricFamily("echopilot_slo_burn", "Error-budget burn over the last 24h", labels=["slo"])
    slos = list(Slo.objects.filter(enabled=True))
    days = services.windows_of(slos, services.PERIODS["24h"])  # one query for every SLO
    for slo in slos:
        burn.add_metric([slo.name], days[slo.pk].burn(slo))
    yield burn
    shut = GaugeMetricFamily("echopilot_deploy_gate_shut", "1 while the deploy gate is shut")
    shut.add_metric([], 1.0 if gate.GateShut.objects.filter(lifted_at__isnull=True).exists() else 0.0)
    yield shut
