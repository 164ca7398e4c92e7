"""Prometheus gauges for today's spend and cap utilization, computed at scrape time."""

import logging

from prometheus_client.core import GaugeMetricFamily

from . import services

log = logging.getLogger(__name__)


def cost_metrics():

    try:
        current = services.status()
    except Exception:  # a scrape must not fail because of one app's gauges
        log.exception("cost gauges unavailable")
        return
    spend = GaugeMetricFamily("echopilot_cost_today_usd", "Spend on the current cost day", labels=["kind"])
    spend.add_metric(["ai"], float(current["spend_today_usd"]))
    spend.add_metric(["stripe_fee"], float(current["stripe_fees_today_usd"]))
    yield spend
    util = GaugeMetricFamily(
        "echopilot_cost_cap_utilization_pct", "Spend today as % of each cap", labels=["scope", "key"]
    )
    for cap in current["caps"]:
        util.add_metric([cap["scope"], cap["key"]], float(cap["utilization_pct"]))
    yield util
