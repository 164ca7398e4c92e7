"""How long resolved incidents and their pages are kept (INCIDENT_RETENTION_DAYS)."""

from datetime import datetime

from django.conf import settings
from django.db.models import Q

from echopilot.housekeeping import cutoff, delete_in_batches

from .models import Delivery, Incident


def prune(now: datetime) -> dict[str, int]:
    """Delete incidents resolved before the retention, with their deliveries and attempts, and the
    finished deliveries of no incident (digests, notices, storm summaries) made before it. Open and
    acknowledged incidents stay however old."""
    before = cutoff(settings.INCIDENT_RETENTION_DAYS, now)
    finished = Q(status__in=[Delivery.SENT, Delivery.FAILED, Delivery.CAPPED])
    return {
        "incidents.incident": delete_in_batches(
            Incident.objects.filter(status=Incident.RESOLVED, resolved_at__lt=before)
        ),
        "incidents.delivery": delete_in_batches(
            Delivery.objects.filter(finished, incident__isnull=True, created_at__lt=before)
        ),
    }
