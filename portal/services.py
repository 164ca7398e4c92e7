"""The portal's domain: customers, receipt links, downloads, self-service, unsubscribe, the audit.

Plain functions over the models; nothing here knows about HTTP. Anything that judges a time window
takes `now`.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from echopilot.events import append_event
from incidents import raise_incident

from . import signing
from .models import AccessLog, Customer, Purchase, RateBucket, normalize_email

UA_MAX = 300

log = logging.getLogger(__name__)


# --- customers ---------------------------------------------------------------------------------------


def find_customer(email: str) -> Customer | None:
    """The customer with this email (any case), or None."""
    return Customer.objects.filter(email=normalize_email(email)).first()


def upsert_customer(email: str, name: str = "", stripe_customer_id: str = "") -> Customer:
    """The customer with this email, created if new; fills name and Stripe id when they were blank."""
    email = normalize_email(email)
    try:
        with transaction.atomic():
            customer, _ = Customer.objects.get_or_create(
                email=email, defaults={"name": name or "", "stripe_customer_id": stripe_customer_id or ""}
            )
    except IntegrityError:
        # Another request created the same email between our read and our insert.
        customer = Customer.objects.get(email=email)
    changed = {}
    if name and not customer.name:
        changed["name"] = name
    if stripe_customer_id and not customer.stripe_customer_id:
        changed["stripe_customer_id"] = stripe_customer_id
    if changed:
        Customer.objects.filter(pk=customer.pk).update(**changed)
        for field, value in changed.items():
            setattr(customer, field, value)
    return customer


def revoke_links(customer: Customer, now=None) -> int:
    """Make every link issued so far to this customer fail; returns the new link generation."""
    now = now or timezone.now()
    Customer.objects.filter(pk=customer.pk).update(link_generation=F("link_generation") + 1, links_revoked_at=now)
    customer.refresh_from_db(fields=["link_generation", "links_revoked_at"])
    append_event("portal_access", "links_revoked", email=customer.email, generation=customer.link_generation)
    return customer.link_generation


# --- receipt links and downloads ---------------------------------------------------------------------


def download_link(purchase: Purchase, now=None) -> signing.SignedLink:
    """A link to this purchase's PDF for its customer, valid PORTAL_LINK_TTL_HRS from `now`."""
    payload = {
        "p": purchase.pk,
        "c": purchase.customer_id,
        "g": purchase.customer.link_generation,
        "k": purchase.kind,
    }
    return signing.sign(signing.DOWNLOAD, payload, signing.link_ttl(), now)


def public_url(path: str, **query) -> str:
    """`path` on PORTAL_BASE_URL. Every link handed out is built from it, never from a request's Host
    header: a forged Host would otherwise put a customer's token in a link to the forger's site."""
    base = settings.PORTAL_BASE_URL.rstrip("/")
    return f"{base}{path}" + (f"?{urlencode(query)}" if query else "")


def download_url(link: signing.SignedLink) -> str:
    """The public address of a signed download link."""
    return public_url(reverse("portal-download"), token=link.token)


def recent_purchases(customer: Customer) -> list[Purchase]:
    """The customer's purchases, newest first, at most PORTAL_RECEIPTS_LIMIT."""
    return list(customer.purchases.select_related("customer")[: settings.PORTAL_RECEIPTS_LIMIT])


def receipts_with_links(customer: Customer | None, now=None) -> list[tuple[Purchase, signing.SignedLink]]:
    """(purchase, fresh signed link) for each recent purchase of the customer; [] for None."""
    if customer is None:
        return []
    return [(purchase, download_link(purchase, now)) for purchase in recent_purchases(customer)]


def open_download(token: str, now=None) -> Purchase:
    """The purchase a download token grants, or signing.LinkRefused (for any reason at all)."""
    payload = signing.verify(signing.DOWNLOAD, token, signing.link_ttl(), now)
    granted = Purchase.objects.filter(pk=payload.get("p", 0), customer_id=payload.get("c", 0))
    purchase = granted.select_related("customer").first()
    if purchase is None or purchase.kind != payload.get("k"):
        raise signing.LinkRefused()
    if purchase.customer.link_generation != payload.get("g"):
        raise signing.LinkRefused()
    return purchase


def customer_behind(purpose: str, token: str) -> Customer | None:
    """Who an authentic but refused token was issued to, so the audit can name them."""
    payload = signing.inspect(purpose, token)
    if not payload:
        return None
    return Customer.objects.filter(pk=payload.get("c", 0)).first()


# --- self-service page and unsubscribe -----------------------------------------------------------------


def self_service_link(customer: Customer, now=None) -> signing.SignedLink:
    """A short-lived link to the customer's own receipts page (PORTAL_SELF_SERVICE_TTL_MIN)."""
    payload = {"c": customer.pk, "g": customer.link_generation}
    return signing.sign(signing.SELF_SERVICE, payload, signing.self_service_ttl(), now)


def open_self_service(token: str, now=None) -> Customer:
    """The customer a self-service token was issued to, or signing.LinkRefused."""
    payload = signing.verify(signing.SELF_SERVICE, token, signing.self_service_ttl(), now)
    customer = Customer.objects.filter(pk=payload.get("c", 0)).first()
    if customer is None or customer.link_generation != payload.get("g"):
        raise signing.LinkRefused()
    return customer


def unsubscribe_token(customer: Customer) -> str:
    """A token for the unsubscribe link in the customer's emails; it does not expire."""
    return signing.sign(signing.UNSUBSCRIBE, {"c": customer.pk}, None).token


def unsubscribe(token: str, now=None) -> Customer:
    """Mark the token's customer unsubscribed (once; the first time is kept), or LinkRefused."""
    now = now or timezone.now()
    payload = signing.verify(signing.UNSUBSCRIBE, token, None, now)
    customer = Customer.objects.filter(pk=payload.get("c", 0)).first()
    if customer is None:
        raise signing.LinkRefused()
    Customer.objects.filter(pk=customer.pk, unsubscribed_at__isnull=True).update(unsubscribed_at=now)
    customer.refresh_from_db(fields=["unsubscribed_at"])
    return customer


# --- the audit ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visitor:
    """Who is knocking: the request's address and user agent, as the audit records them."""

    ip: str | None
    user_agent: str = ""


def record_access(
    action: str,
    outcome: str,
    status: int,
    visitor: Visitor,
    *,
    resource: str = "",
    customer: Customer | None = None,
    purchase: Purchase | None = None,
    email: str = "",
    now=None,
) -> AccessLog:
    """Store one access in the database and in logs/portal_access.ndjson. Never pass a token."""
    now = now or timezone.now()
    entry = AccessLog.objects.create(
        ts=now,
        action=action,
        outcome=outcome,
        status=status,
        email=normalize_email(email or (customer.email if customer else "")),
        ip=visitor.ip,
        resource=resource[:200],
        user_agent=(visitor.user_agent or "")[:UA_MAX],
        customer=customer,
        purchase=purchase,
    )
    append_event(
        "portal_access",
        action,
        email=entry.email,
        ip=entry.ip,
        resource=entry.resource,
        status=status,
        outcome=outcome,
        user_agent=entry.user_agent,
    )
    return entry


def refused_accesses(limit: int = 10) -> list[AccessLog]:
    """The latest accesses that were not allowed, newest first."""
    return list(AccessLog.objects.exclude(outcome=AccessLog.ALLOWED).select_related("purchase")[:limit])


def report_incident(severity: str, msg: str, meta: dict, *, fingerprint: str, now=None) -> None:
    """Tell the incidents app, when it is installed; a failure there is logged and never breaks the
    portal's own answer."""
    if not apps.is_installed("incidents"):
        return
    try:
        raise_incident(severity, msg, "portal", meta, fingerprint=fingerprint, now=now)
    except Exception:
        log.exception("could not raise the incident %s", fingerprint)


# --- rate limits ------------------------------------------------------------------------------------------


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=dt_timezone.utc)


def hit(key: str, limit: int, window: timedelta, now=None) -> bool:
    """Count one request against `key` in the current fixed window; True when it is over `limit`."""
    return count_hit(key, window, now) > limit


def count_hit(key: str, window: timedelta, now=None) -> int:
    """Count one request against `key` in the current fixed window; returns the window's count.

    One INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the increment happens in the database under
    the row lock, so every web worker (and every host) shares the counter, two simultaneous requests
    never read the same count, and the lock is held for one statement only.
    """
    now = now or timezone.now()
    start = connection.ops.adapt_datetimefield_value(_window_start(now, window))
    table = connection.ops.quote_name(RateBucket._meta.db_table)
    key_col, start_col, count_col = (connection.ops.quote_name(c) for c in ("key", "window_start", "count"))
    sql = (
        f"INSERT INTO {table} ({key_col}, {start_col}, {count_col}) VALUES (%s, %s, 1) "
        f"ON CONFLICT ({key_col}, {start_col}) DO UPDATE SET {count_col} = {table}.{count_col} + 1 "
        f"RETURNING {count_col}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key[:200], start])
        return cursor.fetchone()[0]


def give_back_hit(key: str, window: timedelta, now: datetime) -> None:
    """Undo one `count_hit` made with the same `now`, for a request that did not happen after all.

    One UPDATE ... SET count = count - 1 in the database, so concurrent hits and give-backs never
    overwrite each other's change.
    """
    RateBucket.objects.filter(key=key[:200], window_start=_window_start(now, window), count__gt=0).update(
        count=F("count") - 1
    )


def prune_rate_buckets(now=None, keep: timedelta = timedelta(days=1)) -> int:
    """Delete counters of windows that ended long ago; returns how many."""
    now = now or timezone.now()
    deleted, _ = RateBucket.objects.filter(window_start__lt=now - keep).delete()
    return deleted
