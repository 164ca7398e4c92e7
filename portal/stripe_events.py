"""Purchases in: verified Stripe webhook events become customers and purchases.

Stripe sends each payment as several events (a checkout session, a charge, maybe an invoice), in
no guaranteed order and sometimes more than once. So:
- an event is processed at most once: its id is inserted first, in the same transaction as the
  purchase change, and the unique index makes a replay (even a simultaneous one) change nothing;
- the events of one payment meet on one purchase through any of its Stripe ids;
- updates only ever add information (a refund is never undone by a late charge.succeeded).
"""
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from decimal import Decimal

import stripe
from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from echopilot.events import append_event

from .models import Purchase, StripeEvent
from .services import upsert_customer

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_S = 300
ID_FIELDS = ("stripe_payment_intent", "stripe_charge", "stripe_checkout_session", "stripe_invoice")


class InvalidEvent(Exception):
    """The body is not a genuine, recent Stripe event (bad or stale signature, or not JSON)."""


@dataclass(frozen=True)
class Outcome:
    event_id: str
    type: str
    duplicate: bool
    detail: str
    purchase_id: int | None = None


def verify(payload: bytes, sig_header: str | None) -> dict:
    """The event in `payload` if its Stripe-Signature is good and at most 5 minutes old."""
    try:
        stripe.Webhook.construct_event(
            payload, sig_header, settings.STRIPE_WEBHOOK_SECRET, tolerance=SIGNATURE_TOLERANCE_S
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError):
        raise InvalidEvent() from None
    if not isinstance(event, dict) or not event.get("id") or not isinstance(event.get("data"), dict):
        raise InvalidEvent()
    return event


def process(event: dict) -> Outcome:
    """Apply one verified event exactly once; a replay answers duplicate=True and changes nothing."""
    for attempt in (1, 2):
        try:
            outcome = _apply_once(event)
            break
        except IntegrityError:
            if StripeEvent.objects.filter(event_id=event["id"]).exists():
                return Outcome(event["id"], event.get("type", ""), True, "already processed")
            if attempt == 2:
                raise
            # A sibling event of the same payment created the customer or purchase first; the retry
            # finds it and updates it.
    transaction.on_commit(lambda: report_fee(event), robust=True)
    append_event("portal_access", "stripe_event", id=outcome.event_id, type=outcome.type, detail=outcome.detail)
    return outcome


def _apply_once(event: dict) -> Outcome:
    obj = event["data"].get("object") or {}
    with transaction.atomic():
        # Inserted first: a concurrent delivery of the same event blocks here until we commit,
        # then fails on the unique index instead of applying the event a second time.
        record = StripeEvent.objects.create(
            event_id=event["id"],
            type=str(event.get("type", ""))[:80],
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


def _checkout_completed(session: dict):
    if session.get("payment_status") != "paid":
        return None, f"skipped: payment_status {session.get('payment_status')}"
    details = session.get("customer_details") or {}
    email = details.get("email") or session.get("customer_email")
    ids = {
        "stripe_checkout_session": session.get("id"),
        "stripe_payment_intent": _id(session.get("payment_intent")),
        "stripe_invoice": _id(session.get("invoice")),
    }
    facts = {
        "amount": session.get("amount_total"),
        "currency": session.get("currency"),
        "description": (session.get("metadata") or {}).get("description", ""),
        "kind": Purchase.INVOICE if ids["stripe_invoice"] else Purchase.RECEIPT,
        "purchased_at": _ts(session.get("created")),
    }
    return _merge(email, details.get("name", ""), _id(session.get("customer")), ids, facts)


def _charge(charge: dict):
    """charge.succeeded and charge.refunded carry the same Charge object."""
    if charge.get("status") != "succeeded" and not charge.get("refunded"):
        return None, f"skipped: charge status {charge.get('status')}"
    billing = charge.get("billing_details") or {}
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


def _invoice_paid(invoice: dict):
    ids = {
        "stripe_invoice": invoice.get("id"),
        "stripe_payment_intent": _id(invoice.get("payment_intent")) or _invoice_payment_intent(invoice),
        "stripe_charge": _id(invoice.get("charge")),
    }
    lines = (invoice.get("lines") or {}).get("data") or []
    paid_at = (invoice.get("status_transitions") or {}).get("paid_at") or invoice.get("created")
    facts = {
        "amount": invoice.get("amount_paid"),
        "currency": invoice.get("currency"),
        "description": (lines[0].get("description") if lines else "") or invoice.get("description") or "",
        "number": invoice.get("number") or "",
        "kind": Purchase.INVOICE,
        "purchased_at": _ts(paid_at),
    }
    email = invoice.get("customer_email")
    return _merge(email, invoice.get("customer_name") or "", _id(invoice.get("customer")), ids, facts)


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "charge.succeeded": _charge,
    "charge.refunded": _charge,
    "invoice.paid": _invoice_paid,
}


# --- merging an event into a purchase --------------------------------------------------------------------


def _merge(email, name, stripe_customer, ids: dict, facts: dict):
    ids = {field: str(value)[:80] for field, value in ids.items() if value}
    facts["amount"] = _minor_units(facts.get("amount"))
    facts["amount_refunded"] = _minor_units(facts.get("amount_refunded")) or 0
    if not isinstance(facts.get("currency"), str) or len(facts["currency"]) != 3:
        facts["currency"] = None
    purchase = Purchase.objects.select_for_update().filter(_any_of(ids)).first() if ids else None
    if purchase is None:
        if not email:
            return None, "skipped: no customer email and no known purchase"
        if facts.get("amount") is None:
            return None, "skipped: no amount"
        customer = upsert_customer(email, name, stripe_customer or "")
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
        value = facts.get(field)
        if isinstance(value, str) and value and not getattr(purchase, field):
            setattr(purchase, field, value[:limit])
    if facts.get("kind") == Purchase.INVOICE:
        purchase.kind = Purchase.INVOICE
        # An invoice's own number is what its PDF must show, even over a charge's receipt number.
        if stripe_number := facts.get("number"):
            purchase.number = str(stripe_number)[:64]
    if facts.get("purchased_at") and purchase.pk is None:
        purchase.purchased_at = facts["purchased_at"]
    purchase.amount_refunded = max(purchase.amount_refunded, facts.get("amount_refunded") or 0)
    purchase.status = _status(purchase.amount, purchase.amount_refunded)


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
    for item in (invoice.get("payments") or {}).get("data") or []:
        found = _id((item.get("payment") or {}).get("payment_intent"))
        if found:
            return found
    return None


def _id(value) -> str | None:
    """A Stripe reference is an id string, or the expanded object carrying one."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _ts(value) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=dt_timezone.utc)
    return None


# --- Stripe fees to the costs app ----------------------------------------------------------------------


def stripe_fee(event: dict) -> tuple[str, Decimal, datetime | None] | None:
    """(balance transaction id, fee in USD, when) of a charge.succeeded whose balance transaction
    is expanded; None otherwise (an id alone carries no fee, and we do not call Stripe for it)."""
    if event.get("type") != "charge.succeeded":
        return None
    txn = (event["data"].get("object") or {}).get("balance_transaction")
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
        from costs import record_spend

        kwargs = {"kind": "stripe_fee", "usd": usd, "request_id": f"stripe:{txn_id}"}
        if when is not None:
            kwargs["ts"] = when
        record_spend(**kwargs)
    except Exception:
        log.exception("could not report Stripe fee of %s to costs", txn_id)
        return False
    return True
