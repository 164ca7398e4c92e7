"""Context for the "Incidents" card on the admin index."""

from .channels import HOW_TO_TURN_ON
from .models import Delivery
from .pager import route_for
from .services import pager_status

TEST_SEVERITY = "CRITICAL"


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
    }


def channels_paged_for(severity: str, channels: list[dict]) -> list[str]:
    """The channels a new incident of `severity` would reach now: routed, configured and not broken."""
    route = route_for(severity)
    if not route.page_now:
        return []
    routed = set(route.channel_names())
    return [c["channel"] for c in channels if c["channel"] in routed and c["configured"] and not c["broken"]]
