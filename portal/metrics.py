"""Portal figures for /metrics, computed at scrape time from the database."""

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from .models import AccessLog, Purchase


def portal_metrics(now=None):
    now = now or timezone.now()
    purchases = GaugeMetricFamily("echopilot_portal_purchases", "Purchases known to the portal", labels=["status"])
    for row in Purchase.objects.values("status").annotate(n=Count("id")):
        purchases.add_metric([row["status"]], row["n"])
    yield purchases
    accesses = GaugeMetricFamily(
        "echopilot_portal_accesses_last_hour", "Portal accesses in the last hour", labels=["outcome"]
    )
    recent = AccessLog.objects.filter(ts__gte=now - timedelta(hours=1))
    for access in recent.values("outcome").annotate(n=Count("id")):
        accesses.add_metric([access["outcome"]], access["n"])
    yield accesses
