"""Context for the "Customer Portal" card on the admin index."""

from django.conf import settings

from . import mail, reconcile, retention, services
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
        "setup_problems": setup_problems(),
    }


def setup_problems() -> list[str]:
    """What stops the portal from working end to end on this server, in the operator's words."""
    problems = []
    if not settings.STRIPE_WEBHOOK_SECRET:
        problems.append("Stripe webhooks are refused (503): STRIPE_WEBHOOK_SECRET is not set.")
    if not mail.email_is_set_up():
        problems.append("Customers cannot get their link by email: SMTP_HOST is not set.")
    return problems
