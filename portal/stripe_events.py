"""Purchases in: verified Stripe webhook events become customers and purchases.

Stripe sends each payment as several events (a checkout session, a charge, maybe an invoice), in
no guaranteed order and sometimes more than once. So:
- an event is processed at most once: its id is inserted first, in the same transaction as the
  purchase change, and the unique index makes a replay (even a simultaneous one) change nothing;
- the events of one payment meet on one purchase through any of its Stripe ids;
- updates only ever add information (a refund is never undone by a late charge.succeeded);
- an authentic event that can never be applied (not JSON, an id that is no Stripe id, a new payment
  whose email is no address) is acknowledged, so Stripe stops retrying it, and reported to the
  operator; nothing of it is stored, so sending it again from Stripe's dashboard still applies it.
Fields of the wrong type count as absent, and text is stored as far as its column allows.
"""

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal

import stripe
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q

from costs import record_spend
from echopilot.events import append_event

from .models import Customer, Purchase, StripeEvent, normalize_email
from .services import report_incident, upsert_customer

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_S = 300
ID_FIELDS = ("stripe_payment_intent", "stripe_charge", "stripe_checkout_session", "stripe_invoice")
# PostgreSQL refuses NUL in text, and UTF-8 (so every database and the NDJSON log) lone surrogates.
UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


class InvalidEvent(Exception):
    """The body is not signed by Stripe, or the signature is stale."""


class UnusableEvent(Exception):
    """An authentic event that can never be applied; the message says why."""


@dataclass(frozen=True)
class Outcome:
    event_id: str
    type: str
    duplicate: bool
    detail: str
    purchase_id: int | None = None

    @property
    def rejected(self) -> bool:
        return self.detail.startswith("rejected:")

    @property
    def created_purchase(self) -> bool:
        # The one place that words a detail as "created purchase N" is `_merge`.
        return self.detail.startswith("created purchase")


def receive(payload: bytes, sig_header: str | None) -> Outcome:
    """Verify and apply one webhook delivery; InvalidEvent when Stripe did not sign it. An authentic
    event that cannot be applied answers a rejected Outcome (see `reject`), never an exception."""
    verify(payload, sig_header)
    try:
        event = parse(payload)
    except UnusableEvent as exc:
        return reject({}, str(exc))
    return process(event)


def verify(payload: bytes, sig_header: str | None, now: float | None = None) -> None:
    """Raise InvalidEvent unless `payload` has a good Stripe-Signature by one of the webhook secrets,
    dated within 5 minutes of `now` either way (Stripe's library only refuses the old ones)."""
    now = time.time() if now is None else now
    if not any(_signed_with(payload, sig_header, secret) for secret in webhook_secrets()):
        raise InvalidEvent()
    signed_at = _timestamp_of(sig_header or "")
    if signed_at is None or signed_at > now + SIGNATURE_TOLERANCE_S:
        raise InvalidEvent()


def webhook_secrets() -> list[str]:
    """STRIPE_WEBHOOK_SECRET, split at commas: while a secret is rolled, the new one and the old one."""
    return [part.strip() for part in settings.STRIPE_WEBHOOK_SECRET.split(",") if part.strip()]


def _signed_with(payload: bytes, sig_header: str | None, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(payload, sig_header, secret, tolerance=SIGNATURE_TOLERANCE_S)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        return False
    return True


def _timestamp_of(sig_header: str) -> int | None:
    for item in sig_header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return None


def parse(payload: bytes) -> dict:
    """The event in an authentic body; UnusableEvent when it is no event with a storable id."""
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError):
        raise UnusableEvent("the body is not JSON") from None
    if not isinstance(event, dict):
        raise UnusableEvent("the body is not a JSON object")
    if not _fits(event.get("id"), StripeEvent, "event_id"):
        raise UnusableEvent("the event id is missing or is no Stripe id")
    return event


def process(event: dict) -> Outcome:
    """Apply one verified event exactly once; a replay answers duplicate=True and changes nothing,
    and an event that cannot be applied changes nothing and answers a rejected Outcome."""
    for attempt in (1, 2):
        try:
            outcome = _apply_once(event)
            break
        except UnusableEvent as exc:
            return reject(event, str(exc))
        except IntegrityError:
            if StripeEvent.objects.filter(event_id=event["id"]).exists():
                return Outcome(event["id"], _text(event.get("type"), 80), True, "already processed")
            if attempt == 2:
                raise
            # A sibling event of the same payment created the customer or purchase first; the retry
            # finds it and updates it.
    transaction.on_commit(lambda: report_fee(event), robust=True)
    append_event("portal_access", "stripe_event", id=outcome.event_id, type=outcome.type, detail=outcome.detail)
    return outcome


def reject(event: dict, reason: str) -> Outcome:
    """Acknowledge an authentic event that cannot be applied, and tell the operator at once.

    Stripe retries any other answer for days and each retry would fail alike, while every such
    event may be a payment the portal does not know about: it raises an ERROR incident (repeats
    only count up on it while it is open), logs, and writes an NDJSON line.
    """
    event_id, event_type = _text(event.get("id"), 80), _text(event.get("type"), 80)
    log.warning("rejected a Stripe event (%s %s): %s", event_type, event_id, reason)
    append_event("portal_access", "stripe_event_rejected", id=event_id, type=event_type, reason=reason)
    report_incident(
        "ERROR",
        f"a Stripe event could not be applied: {reason}",
        {"event_id": event_id, "type": event_type},
        fingerprint="portal:stripe-event-rejected",
    )
    return Outcome(event_id, event_type, False, f"rejected: {reason}")


def _apply_once(event: dict) -> Outcome:
    obj = _dict(_dict(event.get("data")).get("object"))
    with transaction.atomic():
        # Inserted first: a concurrent delivery of the same event blocks here until we commit,
        # then fails on the unique index instead of applying the event a second time.
        record = StripeEvent.objects.create(
            event_id=event["id"],
            type=_text(event.get("type"), 80),
            livemode=bool(event.get("livemode")),
            created=_ts(event.get("created")),
        )
        handler = HANDLERS.get(record.type)
        purchase, detail = handler(obj) if handler else (None, "ignored: event type not handled")
        record.purchase = purchase
        record.outcome = detail[:200]
        record.save(update_fields=["purchase", "outcome"])
    return Outcome(record.event_id, record.type, False, detail, purchase.pk if purchase else None)


# --- one function per event type ----------------------------------------------------------------------


def _checkout_completed(session: dict) -> tuple[Purchase | None, str]:
    """checkout.session.completed, and async_payment_succeeded: the fulfilment event of a delayed
    method (SEPA, ACH), whose completed event said payment_status "unpaid"."""
    if session.get("payment_status") != "paid":
        return None, f"skipped: payment_status {_text(session.get('payment_status'), 40)}"
    details = _dict(session.get("customer_details"))
    email = details.get("email") or session.get("customer_email")
    ids = {
        "stripe_checkout_session": session.get("id"),
        "stripe_payment_intent": _id(session.get("payment_intent")),
        "stripe_invoice": _id(session.get("invoice")),
    }
    facts = {
        "amount": session.get("amount_total"),
        "currency": session.get("currency"),
        "description": _dict(session.get("metadata")).get("description", ""),
        "kind": Purchase.INVOICE if ids["stripe_invoice"] else Purchase.RECEIPT,
        "purchased_at": _ts(session.get("created")),
    }
    return _merge(email, details.get("name", ""), _id(session.get("customer")), ids, facts)


def _checkout_payment_failed(session: dict) -> tuple[Purchase | None, str]:
    """checkout.session.async_payment_failed: the delayed payment never arrived; nothing to record,
    but a purchase already known by this session is linked to the event."""
    ids = _stripe_ids(
        {"stripe_checkout_session": session.get("id"), "stripe_payment_intent": _id(session.get("payment_intent"))}
    )
    purchase = Purchase.objects.filter(_any_of(ids)).first() if ids else None
    return purchase, "skipped: the delayed payment failed"


def _charge(charge: dict) -> tuple[Purchase | None, str]:
    """charge.succeeded and charge.refunded carry the same Charge object."""
    if charge.get("status") != "succeeded" and not charge.get("refunded"):
        return None, f"skipped: charge status {_text(charge.get('status'), 40)}"
    billing = _dict(charge.get("billing_details"))
    ids = {
        "stripe_charge": charge.get("id"),
        "stripe_payment_intent": _id(charge.get("payment_intent")),
        "stripe_invoice": _id(charge.get("invoice")),
    }
    facts = {
        "amount": charge.get("amount"),
        "amount_refunded": charge.get("amount_refunded") or 0,
        "currency": charge.get("currency"),
        "description": charge.get("description") or "",
        "number": charge.get("receipt_number") or "",
        "purchased_at": _ts(charge.get("created")),
    }
    email = billing.get("email") or charge.get("receipt_email")
    return _merge(email, billing.get("name") or "", _id(charge.get("customer")), ids, facts)


def _invoice_paid(invoice: dict) -> tuple[Purchase | None, str]:
    ids = {
        "stripe_invoice": invoice.get("id"),
        "stripe_payment_intent": _id(invoice.get("payment_intent")) or _invoice_payment_intent(invoice),
        "stripe_charge": _id(invoice.get("charge")),
    }
    lines = _list(_dict(invoice.get("lines")).get("data"))
    first_line = _dict(lines[0]) if lines else {}
    paid_at = _dict(invoice.get("status_transitions")).get("paid_at") or invoice.get("created")
    facts = {
        "amount": invoice.get("amount_paid"),
        "currency": invoice.get("currency"),
        "description": first_line.get("description") or invoice.get("description") or "",
        "number": invoice.get("number") or "",
        "kind": Purchase.INVOICE,
        "purchased_at": _ts(paid_at),
    }
    email = invoice.get("customer_email")
    return _merge(email, invoice.get("customer_name") or "", _id(invoice.get("customer")), ids, facts)


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "checkout.session.async_payment_failed": _checkout_payment_failed,
    "charge.succeeded": _charge,
    "charge.refunded": _charge,
    "invoice.paid": _invoice_paid,
}


# --- merging an event into a purchase --------------------------------------------------------------------


def _merge(email, name, stripe_customer, ids: dict, facts: dict) -> tuple[Purchase | None, str]:
    ids = _stripe_ids(ids)
    facts["amount"] = _minor_units(facts.get("amount"))
    facts["amount_refunded"] = _minor_units(facts.get("amount_refunded")) or 0
    facts["currency"] = _currency(facts.get("currency"))
    purchase = Purchase.objects.select_for_update().filter(_any_of(ids)).first() if ids else None
    if purchase is None:
        if not isinstance(email, str) or not email:
            return None, "skipped: no customer email and no known purchase"
        if facts.get("amount") is None:
            return None, "skipped: no amount"
        customer = upsert_customer(
            _valid_email(email),
            _text(name, Customer._meta.get_field("name").max_length or 200),
            _stripe_customer_id(stripe_customer),
        )
        purchase = Purchase(customer=customer, amount=facts["amount"])
        action = "created"
    else:
        action = "updated"
    _fill(purchase, ids, facts)
    purchase.save()
    return purchase, f"{action} purchase {purchase.pk}"


def _fill(purchase: Purchase, ids: dict, facts: dict) -> None:
    """Add what this event knows without undoing what an earlier (or later-sent) one said."""
    for field, value in ids.items():
        if not getattr(purchase, field):
            setattr(purchase, field, value)
    if facts.get("amount") is not None:
        purchase.amount = facts["amount"]
    if facts.get("currency"):
        purchase.currency = facts["currency"]
    for field, limit in (("description", 300), ("number", 64)):
        value = _text(facts.get(field), limit)
        if value and not getattr(purchase, field):
            setattr(purchase, field, value)
    if facts.get("kind") == Purchase.INVOICE:
        purchase.kind = Purchase.INVOICE
        # An invoice's own number is what its PDF must show, even over a charge's receipt number.
        if stripe_number := _text(facts.get("number"), 64):
            purchase.number = stripe_number
    if facts.get("purchased_at") and purchase.pk is None:
        purchase.purchased_at = facts["purchased_at"]
    # Stripe never refunds more than was paid; a larger figure would show a negative net on the PDF.
    refunded = max(purchase.amount_refunded, facts.get("amount_refunded") or 0)
    purchase.amount_refunded = min(refunded, purchase.amount)
    purchase.status = _status(purchase.amount, purchase.amount_refunded)


def _stripe_ids(ids: dict) -> dict:
    """The ids present; UnusableEvent when one is no Stripe id, as matching on a cut or cleaned id
    could merge two payments."""
    present = {field: value for field, value in ids.items() if value}
    for field, value in present.items():
        if not _fits(value, Purchase, field):
            raise UnusableEvent(f"{field} is no Stripe id")
    return present


def _stripe_customer_id(value) -> str:
    if value and not _fits(value, Customer, "stripe_customer_id"):
        raise UnusableEvent("the customer is no Stripe id")
    return value or ""


def _valid_email(value: str) -> str:
    """The email to file a new customer under. A malformed or over-long one is refused rather than
    cut or cleaned: either would be someone else's address, and links go to it."""
    email = normalize_email(value)
    if not _fits(email, Customer, "email") or not _is_email(email):
        raise UnusableEvent("the customer email is not a valid address")
    return email


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _fits(value, model, field: str) -> bool:
    """Whether `value` is a non-empty string the column stores exactly as it is."""
    return (
        isinstance(value, str)
        and bool(value)
        and len(value) <= model._meta.get_field(field).max_length
        and not UNSTORABLE_CHARACTERS.search(value)
    )


def _text(value, limit: int | None) -> str:
    """Free text as far as its column holds it, without what no database stores; "" for a non-string."""
    if not isinstance(value, str):
        return ""
    return UNSTORABLE_CHARACTERS.sub("", value)[:limit]


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _currency(value) -> str | None:
    if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha():
        return value
    return None


def _minor_units(value) -> int | None:
    """An amount as Stripe sends it (a non-negative integer of cents), or None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**15:
        return value
    return None


def _status(amount: int, refunded: int) -> str:
    if refunded <= 0:
        return Purchase.PAID
    return Purchase.REFUNDED if refunded >= amount else Purchase.PARTIALLY_REFUNDED


def _any_of(ids: dict) -> Q:
    query = Q()
    for field, value in ids.items():
        query |= Q(**{field: value})
    return query


def _invoice_payment_intent(invoice: dict) -> str | None:
    # Since API version 2025-03-31 an invoice lists its payments instead of one payment_intent.
    for item in _list(_dict(invoice.get("payments")).get("data")):
        found = _id(_dict(_dict(item).get("payment")).get("payment_intent"))
        if found:
            return found
    return None


def _id(value) -> str | None:
    """A Stripe reference is an id string, or the expanded object carrying one."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _ts(value) -> datetime | None:
    """A Unix timestamp as a datetime; None for anything else, or for one no calendar date holds."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, tz=dt_timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


# --- Stripe fees to the costs app ----------------------------------------------------------------------


def stripe_fee(event: dict) -> tuple[str, Decimal, datetime | None] | None:
    """(balance transaction id, fee in USD, when) of a charge.succeeded whose balance transaction
    is expanded; None otherwise (an id alone carries no fee, and we do not call Stripe for it)."""
    if event.get("type") != "charge.succeeded":
        return None
    txn = _dict(_dict(event.get("data")).get("object")).get("balance_transaction")
    if not isinstance(txn, dict) or txn.get("fee") is None:
        return None
    if (txn.get("currency") or "usd").lower() != "usd":
        log.warning("stripe fee of %s is in %s, not USD; not reported", txn.get("id"), txn.get("currency"))
        return None
    return txn.get("id") or event["id"], Decimal(int(txn["fee"])) / 100, _ts(txn.get("created"))


def report_fee(event: dict) -> bool:
    """Report the event's Stripe fee to the costs app, when both exist. Runs after the purchase is
    committed; a failure here is logged and never loses the purchase."""
    fee = stripe_fee(event)
    if fee is None or not apps.is_installed("costs"):
        return False
    txn_id, usd, when = fee
    try:
        kwargs = {"kind": "stripe_fee", "usd": usd, "request_id": f"stripe:{txn_id}"}
        if when is not None:
            kwargs["ts"] = when
        record_spend(**kwargs)
    except Exception:
        log.exception("could not report Stripe fee of %s to costs", txn_id)
        return False
    return True
