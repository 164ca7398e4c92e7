"""The pager's Prometheus series, computed from the database at scrape time."""

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from .models import ChannelState, Delivery
from .services import open_by_severity


def collect_metrics() -> Iterator[GaugeMetricFamily]:
    """Open incidents by severity, deliveries of the last 24 h by channel and status, broken channels."""
    open_incidents = GaugeMetricFamily("echopilot_incidents_open", "Unresolved incidents", labels=["severity"])
    for severity, count in open_by_severity().items():
        open_incidents.add_metric([severity], count)
    yield open_incidents
    # Every delivery ever recorded, by where it stands now (no window baked in: deltas are PromQL's).
    deliveries = GaugeMetricFamily(
        "echopilot_pager_deliveries", "Pager deliveries by channel and current status", labels=["channel", "status"]
    )
    for row in Delivery.objects.values("channel", "status").annotate(n=Count("id")).order_by():
        deliveries.add_metric([row["channel"], row["status"]], row["n"])
    yield deliveries
    broken = GaugeMetricFamily(
        "echopilot_pager_channel_broken", "1 when a channel was marked broken", labels=["channel"]
    )
    for state in ChannelState.objects.all():
        broken.add_metric([state.name], 1 if state.broken_at else 0)
    yield broken
