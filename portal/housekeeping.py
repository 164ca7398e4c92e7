"""How long the access audit and the Stripe events are kept."""

from datetime import datetime

from django.conf import settings

from echopilot.housekeeping import Retained, cutoff, delete_in_batches

from .models import AccessLog, RateBucket, StripeEvent


def prune(now: datetime) -> dict[str, int]:
    """Delete access audit rows older than PORTAL_ACCESS_LOG_RETENTION_DAYS and Stripe events
    received before STRIPE_EVENT_RETENTION_DAYS (Stripe can no longer replay them)."""
    return {
        "portal.accesslog": delete_in_batches(
            AccessLog.objects.filter(ts__lt=cutoff(settings.PORTAL_ACCESS_LOG_RETENTION_DAYS, now))
        ),
        "portal.stripeevent": delete_in_batches(
            StripeEvent.objects.filter(received__lt=cutoff(settings.STRIPE_EVENT_RETENTION_DAYS, now))
        ),
    }


def retained() -> list[Retained]:
    """The access audit and the Stripe events (console_prune), and the rate-limit counters, which
    their own hourly job keeps to a day."""
    return [
        Retained(AccessLog, "ts", "PORTAL_ACCESS_LOG_RETENTION_DAYS", name="Portal access audit"),
        Retained(StripeEvent, "received", "STRIPE_EVENT_RETENTION_DAYS", name="Stripe events"),
        Retained(RateBucket, "window_start", days=1, name="Portal rate counters", pruned_by="hourly job"),
    ]
