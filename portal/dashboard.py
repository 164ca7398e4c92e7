"""Context for the "Customer Portal" card on the admin index."""

from django.conf import settings

from . import reconcile, retention, services
from .models import Customer, Purchase


def card_context(request) -> dict:
    return {
        "customers": Customer.objects.count(),
        "purchases": Purchase.objects.count(),
        "refunded": Purchase.objects.filter(status=Purchase.REFUNDED).count(),
        "refused": services.refused_accesses(8),
        "ttl_hours": settings.PORTAL_LINK_TTL_HRS,
        "reconcile_on": reconcile.is_enabled(),
        "reconcile_last": reconcile.last_run(),
        "retention": retention.chart(30),
    }
