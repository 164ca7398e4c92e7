"""Emails to customers, through Django's SMTP backend (EMAIL_* come from SMTP_*).

Every email carries an unsubscribe link and the RFC 8058 one-click headers. Links are built from
PORTAL_BASE_URL, never from a request's Host header: a forged Host would otherwise put a victim's
token in a link to the forger's site.
"""
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse

from echopilot.events import append_event

from . import services
from .models import Customer


def absolute(path: str, **query) -> str:
    base = settings.PORTAL_BASE_URL.rstrip("/")
    return f"{base}{path}" + (f"?{urlencode(query)}" if query else "")


def unsubscribe_url(customer: Customer) -> str:
    return absolute(reverse("portal-unsubscribe"), token=services.unsubscribe_token(customer))


def receipts_page_email(customer: Customer, now=None) -> EmailMessage:
    """The email carrying a short-lived link to the customer's receipts page."""
    link = services.self_service_link(customer, now)
    page = absolute(reverse("portal-receipts-page"), token=link.token)
    unsubscribe = unsubscribe_url(customer)
    minutes = settings.PORTAL_SELF_SERVICE_TTL_MIN
    body = (
        f"Hello{' ' + customer.name if customer.name else ''},\n\n"
        f"Here is the link to your EchoPilot receipts. It works for {minutes} minutes:\n\n"
        f"{page}\n\n"
        "If you did not ask for it, you can ignore this email; nothing else happens.\n\n"
        f"Stop emails from us: {unsubscribe}\n"
    )
    return EmailMessage(
        subject="Your EchoPilot receipts",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[customer.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )


def send_receipts_link(email: str, *, requested: bool, now=None) -> str:
    """Email the receipts-page link to `email`; returns what happened.

    `requested` is True when the customer asked for it themselves: that is the one email an
    unsubscribed customer still gets. An unknown address gets nothing, and no address gets more
    than PORTAL_EMAIL_RATE_PER_HOUR of these an hour (so the form cannot be used to flood someone).
    """
    customer = services.find_customer(email)
    if customer is None:
        return "unknown"
    if customer.is_unsubscribed and not requested:
        return "unsubscribed"
    if services.hit(f"email:{customer.email}", settings.PORTAL_EMAIL_RATE_PER_HOUR, timedelta(hours=1), now):
        return "throttled"
    receipts_page_email(customer, now).send(fail_silently=False)
    append_event("portal_access", "link_emailed", email=customer.email, requested=requested)
    return "sent"
