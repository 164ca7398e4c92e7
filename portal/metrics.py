"""Portal figures for /metrics, computed at scrape time from the database."""

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .models import AccessLog, Purchase


def portal_metrics() -> Iterator[Metric]:
    purchases = GaugeMetricFamily("echopilot_portal_purchases", "Purchases known to the portal", labels=["status"])
    for status, n in Purchase.objects.values_list("status").annotate(n=Count("id")).order_by():
        purchases.add_metric([status], n)
    yield purchases
    # The access audit only grows: a counter, windowed by increase() rather than by us.
    accesses = CounterMetricFamily("echopilot_portal_accesses", "Portal link accesses audited", labels=["outcome"])
    for outcome, n in AccessLog.objects.values_list("outcome").annotate(n=Count("id")).order_by():
        accesses.add_metric([outcome], n)
    yield accesses
