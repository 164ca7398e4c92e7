"""The SLOs' Prometheus series, from the last budget tick or, lacking one, the database at scrape time."""

import logging
from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from . import gate, services, ticks
from .models import Slo, SloState

log = logging.getLogger(__name__)


def slo_metrics() -> Iterator[GaugeMetricFamily]:
    try:
        families = list(_families())
    except Exception as exc:  # a scrape before migrate, or with the database away, skips ours only
        log.warning("SLO metrics skipped: %s", exc)
        return
    yield from families


def _families() -> Iterator[GaugeMetricFamily]:
    # A scrape every 15 s does not read 24 h of rollups for every SLO: the burn is the one the last
    # budget tick (every 15 minutes) computed, and echopilot_slo_burn_timestamp_seconds says when;
    # only an SLO without a current tick (new, edited, or the tick not running) is read now.
    burn = GaugeMetricFamily(
        "echopilot_slo_burn",
        "Error-budget burn over the last 24h, as of the last budget tick (every 15 minutes; see"
        " echopilot_slo_burn_timestamp_seconds), or read at the scrape when there is none",
        labels=["slo"],
    )
    at = GaugeMetricFamily(
        "echopilot_slo_burn_timestamp_seconds", "When echopilot_slo_burn of the SLO was computed", labels=["slo"]
    )
    slos = list(Slo.objects.filter(enabled=True))
    states = {state.slo_id: state for state in SloState.objects.filter(slo__in=slos)}
    recorded = ticks.last_ticks(slos, states)
    unticked = [slo for slo in slos if slo.pk not in recorded]
    now = timezone.now()
    days = services.windows_of(unticked, services.PERIODS["24h"], now) if unticked else {}  # one query
    for slo in slos:
        tick = recorded.get(slo.pk)
        burn.add_metric([slo.name], tick.burn if tick else days[slo.pk].burn(slo))
        at.add_metric([slo.name], (tick.at if tick else now).timestamp())
    yield burn
    yield at
    shut = GaugeMetricFamily("echopilot_deploy_gate_shut", "1 while the deploy gate is shut")
    shut.add_metric([], 1.0 if gate.GateShut.objects.filter(lifted_at__isnull=True).exists() else 0.0)
    yield shut
