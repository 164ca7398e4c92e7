"""Emails to customers, through Django's SMTP backend (EMAIL_* come from SMTP_*).

Every email carries an unsubscribe link and the RFC 8058 one-click headers. Links are built from
PORTAL_BASE_URL (services.public_url).
"""

from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone

from echopilot.events import append_event

from . import services
from .models import Customer

EMAIL_RATE_WINDOW = timedelta(hours=1)
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
NOT_SET_UP = "email is not set up on this server (SMTP_HOST is empty)"


class EmailNotSetUp(Exception):
    """No email can go out: SMTP is not configured (and no other backend is)."""


def email_is_set_up() -> bool:
    """True when an email sent now can reach someone (or, with a non-SMTP backend, a log or a test)."""
    return settings.EMAIL_BACKEND != SMTP_BACKEND or bool(settings.EMAIL_HOST)


def unsubscribe_url(customer: Customer) -> str:
    return services.public_url(reverse("portal-unsubscribe"), token=services.unsubscribe_token(customer))


def receipts_page_email(customer: Customer, now=None) -> EmailMessage:
    """The email carrying a short-lived link to the customer's receipts page."""
    link = services.self_service_link(customer, now)
    page = services.public_url(reverse("portal-receipts-page"), token=link.token)
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
    EmailNotSetUp when no email can go out (no SMTP_HOST), rather than a refused connection.
    Only emails that went out count: a throttled or failed attempt gives its slot back, so a mail
    server that was down does not leave the customer throttled once it is back.
    """
    now = now or timezone.now()
    if not email_is_set_up():
        raise EmailNotSetUp(NOT_SET_UP)
    customer = services.find_customer(email)
    if customer is None:
        return "unknown"
    if customer.is_unsubscribed and not requested:
        return "unsubscribed"
    key = f"email:{customer.email}"
    if services.hit(key, settings.PORTAL_EMAIL_RATE_PER_HOUR, EMAIL_RATE_WINDOW, now):
        services.give_back_hit(key, EMAIL_RATE_WINDOW, now)
        return "throttled"
    try:
        receipts_page_email(customer, now).send(fail_silently=False)
    except Exception:
        services.give_back_hit(key, EMAIL_RATE_WINDOW, now)
        raise
    append_event("portal_access", "link_emailed", email=customer.email, requested=requested)
    return "sent"
