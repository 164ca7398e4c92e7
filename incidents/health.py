"""The pager's readiness check and its Prometheus metrics (computed from the database at scrape time)."""

from django.conf import settings
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from echopilot.health import CheckResult
from echopilot.zones import zone_problem

from .channels import configured_channels
from .models import ChannelState, Delivery
from .services import open_by_severity


def pager_check() -> CheckResult:
    """Failing when a configured channel is broken (pages would not reach a human there), or when
    the digest's time zone is misspelt (it goes out at the hour in UTC instead)."""
    problem = zone_problem("PAGER_DIGEST_TIMEZONE", settings.PAGER_DIGEST_TIMEZONE)
    if problem:
        return CheckResult(False, problem)
    configured = list(configured_channels())
    broken = list(
        ChannelState.objects.filter(name__in=configured, broken_at__isnull=False).values_list("name", flat=True)
    )
    if broken:
        return CheckResult(False, f"broken pager channel(s): {', '.join(sorted(broken))}")
    return CheckResult(True, f"channels on: {', '.join(configured) or 'none configured'}")


def collect_metrics():
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
