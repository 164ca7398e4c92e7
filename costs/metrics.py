"""Prometheus figures of spend and caps, computed at scrape time.

Spend is a counter (all spend ever, by kind: `increase()` gives any window); cap utilization a
ratio from 0 to 1 of each cap on the current cost day.
"""

import logging
from collections.abc import Iterator

from django.db.models import Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import services
from .models import CostCap, DailyCounter

log = logging.getLogger(__name__)
# The daily cap has no key; Prometheus asks for no empty label values.
ALL_KEYS = "*"


def cost_metrics() -> Iterator[Metric]:

    try:
        current = services.status()
        spent = spend_by_kind()
    except Exception:  # a scrape must not fail because of one app's figures
        log.exception("cost metrics unavailable")
        return
    spend = CounterMetricFamily("echopilot_cost_spend_usd", "Spend recorded, in USD", labels=["kind"])
    for kind, usd in sorted(spent.items()):
        spend.add_metric([kind], usd)
    yield spend
    util = GaugeMetricFamily(
        "echopilot_cost_cap_utilization_ratio",
        "Spend on the current cost day over each cap (1 = at the cap)",
        labels=["scope", "key"],
    )
    for cap in current["caps"]:
        util.add_metric([cap["scope"], cap["key"] or ALL_KEYS], float(cap["utilization_pct"]) / 100)
    yield util


def spend_by_kind() -> dict[str, float]:
    """All spend ever recorded, in USD, by kind ("ai" and the other kinds), from the daily counters."""
    rows = DailyCounter.objects.values("scope", "key").annotate(micros=Sum("usd_micros")).order_by()
    spent = {"ai": 0.0}
    for row in rows:
        kind = "ai" if row["scope"] == CostCap.MODEL else row["key"] if row["scope"] == DailyCounter.KIND else None
        if kind:
            spent[kind] = spent.get(kind, 0.0) + row["micros"] / 1_000_000
    return spent
