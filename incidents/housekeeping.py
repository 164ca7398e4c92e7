"""How long resolved incidents and their pages are kept (INCIDENT_RETENTION_DAYS)."""

from datetime import datetime

from django.conf import settings
from django.db.models import Q

from echopilot.housekeeping import Retained, cutoff, delete_in_batches

from .models import Delivery, DeliveryAttempt, Incident


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


def retained() -> list[Retained]:
    """Resolved incidents by when they were resolved; the deliveries and attempts go with them (or,
    of no incident, once finished), so an open incident's old pages are still here."""
    return [
        Retained(
            Incident,
            "resolved_at",
            "INCIDENT_RETENTION_DAYS",
            name="Resolved incidents",
            where={"status": Incident.RESOLVED},
            note="open and acknowledged incidents stay however old",
        ),
        Retained(
            Delivery,
            "created_at",
            "INCIDENT_RETENTION_DAYS",
            name="Incident deliveries",
            note="an incident's pages stay until it has been resolved for the retention",
        ),
        Retained(
            DeliveryAttempt,
            "at",
            "INCIDENT_RETENTION_DAYS",
            name="Delivery attempts",
            pruned_by="with their delivery",
        ),
    ]
