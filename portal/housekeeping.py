"""How long the access audit and the Stripe events are kept."""

from datetime import datetime

from django.conf import settings

from echopilot.housekeeping import cutoff, delete_in_batches

from .models import AccessLog, StripeEvent


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
