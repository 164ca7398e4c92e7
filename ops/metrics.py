"""Prometheus gauges of the ops app, computed at scrape time from the database."""

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from .checks import RANK, last_run
from .models import UptimeCheck, UptimeState

log = logging.getLogger(__name__)


def ops_metrics() -> Iterator[GaugeMetricFamily]:
    try:
        families = list(_families())
    except Exception as exc:  # a scrape before migrate, or with the database away, skips ours only
        log.warning("ops metrics skipped: %s", exc)
        return
    yield from families


def _families() -> Iterator[GaugeMetricFamily]:
    up = GaugeMetricFamily("echopilot_uptime_up", "1 while the uptime check is up, 0 while down", labels=["check"])
    latency = GaugeMetricFamily("echopilot_uptime_latency_ms", "The last probe's latency", labels=["check"])
    for check in UptimeCheck.objects.filter(enabled=True).exclude(state=UptimeState.UNKNOWN):
        up.add_metric([check.name], 1.0 if check.state == UptimeState.UP else 0.0)
        if check.last_latency_ms is not None:
            latency.add_metric([check.name], check.last_latency_ms)
    yield up
    yield latency
    run = last_run()
    if run is not None:
        worst = GaugeMetricFamily("echopilot_ops_check_worst", "Last ops check's worst: 0 ok, 1 warn, 2 fail")
        worst.add_metric([], float(RANK[run.worst]))
        yield worst
