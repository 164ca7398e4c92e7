"""Context for the "Incidents" card on the admin index."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from echopilot.charts import stacked_bars

from .channels import HOW_TO_TURN_ON
from .models import SEVERITIES, Delivery, Incident
from .pager import route_for
from .services import pager_status

TEST_SEVERITY = "CRITICAL"
SEVERITY_COLOURS = {"CRITICAL": "#c5221f", "ERROR": "#e8710a", "WARNING": "#f9ab00", "INFO": "#8ab4f8"}
HOURS_SHOWN = 24


def card_context(request) -> dict:
    status = pager_status()
    return {
        "open_by_severity": status["open_by_severity"],
        "open_total": sum(status["open_by_severity"].values()),
        "channels": status["channels"],
        "no_channel_on": not any(c["configured"] for c in status["channels"]),
        "how_to_turn_on": HOW_TO_TURN_ON,
        "deliveries": Delivery.objects.order_by("-created_at", "-pk")[:8],
        "failed_24h": status["deliveries_failed_24h"],
        "pending": status["deliveries_pending"],
        "silences": status["active_silences"],
        "test_severity": TEST_SEVERITY,
        "test_channels": channels_paged_for(TEST_SEVERITY, status["channels"]),
        "per_hour_chart": per_hour_chart(),
    }


def new_per_hour(now: datetime) -> tuple[list[datetime], dict[str, list[int]]]:
    """The last 24 hours (the current one last) and, per severity, how many incidents began in
    each, worst severity first; one grouped query."""
    hour = timedelta(hours=1)
    last = now.astimezone(dt_timezone.utc).replace(minute=0, second=0, microsecond=0)
    starts = [last - (HOURS_SHOWN - 1 - i) * hour for i in range(HOURS_SHOWN)]
    counts = {severity: [0] * HOURS_SHOWN for severity in reversed(SEVERITIES)}
    rows = (
        Incident.objects.filter(first_seen__gte=starts[0], first_seen__lt=last + hour)
        .annotate(hour=TruncHour("first_seen", tzinfo=dt_timezone.utc))
        .values_list("hour", "severity")
        .annotate(n=Count("pk"))
    )
    for began, severity, n in rows:
        counts.setdefault(severity, [0] * HOURS_SHOWN)[starts.index(began.astimezone(dt_timezone.utc))] += n
    return starts, counts


def per_hour_chart(now: datetime | None = None) -> str:
    """Stacked bars of the incidents that began in each of the last 24 hours, by severity."""
    starts, counts = new_per_hour(now or timezone.now())
    return stacked_bars(
        "New incidents per hour, last 24 h, by severity",
        starts,
        timedelta(hours=1),
        counts,
        SEVERITY_COLOURS,
        empty="no incidents in the last 24 h",
    )


def channels_paged_for(severity: str, channels: list[dict]) -> list[str]:
    """The channels a new incident of `severity` would reach now: routed, configured and not broken."""
    route = route_for(severity)
    if not route.page_now:
        return []
    routed = set(route.channel_names())
    return [c["channel"] for c in channels if c["channel"] in routed and c["configured"] and not c["broken"]]
