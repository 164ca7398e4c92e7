"""Links in pages that bring the operator back to the console: the incident's admin page, and a
one-click acknowledge link for email and webhook pages.

An acknowledge link is signed (Django's signing, SECRET_KEY), expires after PAGER_ACK_LINK_TTL_HRS
and works once: its delivery records when it was used. It is added when the page is sent, so the
delivery row that view-only staff can read never holds it.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .models import Delivery, Incident

ACK_SALT = "incidents.ack-link"


class AckRefused(Exception):
    """The acknowledge link cannot be used; the message says why, for the operator."""


def console_url(incident: Incident) -> str:
    """The incident's page in the console, on CONSOLE_BASE_URL (never on a request's Host header)."""
    return settings.CONSOLE_BASE_URL.rstrip("/") + reverse("admin:incidents_incident_change", args=[incident.pk])


def ack_url(delivery: Delivery) -> str:
    """The one-click acknowledge link for the page `delivery` (a GET shows a confirm page)."""
    token = signing.dumps({"d": delivery.pk}, salt=ACK_SALT)
    return settings.CONSOLE_BASE_URL.rstrip("/") + reverse("incidents-ack-link", args=[token])


def delivery_for(token: str) -> Delivery:
    """The page whose acknowledge link `token` is, or AckRefused (bad, expired, used, no incident)."""
    max_age = timedelta(hours=settings.PAGER_ACK_LINK_TTL_HRS)
    try:
        data = signing.loads(token, salt=ACK_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise AckRefused("This acknowledge link has expired.") from None
    except signing.BadSignature:
        raise AckRefused("This acknowledge link is not valid.") from None
    pk = data.get("d") if isinstance(data, dict) else None
    delivery = None
    if isinstance(pk, int):
        delivery = Delivery.objects.select_related("incident").filter(pk=pk, incident__isnull=False).first()
    if delivery is None or delivery.incident is None:
        raise AckRefused("This acknowledge link is not valid.")
    if delivery.ack_used_at is not None:
        raise AckRefused("This acknowledge link was already used.")
    return delivery


def incident_of(delivery: Delivery) -> Incident:
    """The incident of a delivery `delivery_for` returned (it always has one)."""
    if delivery.incident is None:
        raise AckRefused("This acknowledge link is not valid.")
    return delivery.incident
