"""Fixtures for the portal: Stripe-shaped events signed as Stripe signs them, customers with
purchases, and a real SMTP server on loopback."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.models import Customer, Purchase
from tests.loopback import smtp_server

WEBHOOK_SECRET = "whsec_test_5cY1r7mTq2dXo8wq"
API_VERSION = "2024-06-20"


@pytest.fixture(autouse=True)
def portal_settings(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.PORTAL_SIGNING_SECRET = "portal-signing-secret-current"
    settings.PORTAL_SIGNING_SECRET_FALLBACKS = []
    settings.PORTAL_LINK_TTL_HRS = 24
    settings.PORTAL_BASE_URL = "https://portal.example.test"
    return settings


def stripe_signature(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header exactly as Stripe builds it: t=<ts>,v1=<hex HMAC-SHA256>."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@pytest.fixture
def post_event(client):
    """POST an event to the webhook, signed (by default correctly and now)."""

    def post(event: dict, *, secret=WEBHOOK_SECRET, timestamp=None, header=None):
        payload = json.dumps(event, separators=(",", ":"))
        signature = header if header is not None else stripe_signature(payload, secret, timestamp)
        return client.post(
            "/api/portal/stripe/webhook", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )

    return post


def _event(event_type: str, obj: dict, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_1{event_type.replace('.', '_')}_{obj['id']}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def checkout_session_completed(
    *,
    email="Jenny.Rosen@Example.com",
    amount=4900,
    session="cs_test_a1B2c3",
    payment_intent="pi_3Pq1",
    event_id=None,
    description="EchoPilot Pro, monthly",
):
    session_obj = {
        "id": session,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "created": 1719500000,
        "currency": "usd",
        "customer": "cus_QJ1aB2",
        "customer_creation": "if_required",
        "customer_details": {
            "address": {"country": "US", "postal_code": "94103"},
            "email": email,
            "name": "Jenny Rosen",
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        "customer_email": None,
        "invoice": None,
        "livemode": False,
        "metadata": {"description": description},
        "mode": "payment",
        "payment_intent": payment_intent,
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "status": "complete",
        "success_url": "https://echopilot.example/thanks",
        "url": None,
    }
    return _event("checkout.session.completed", session_obj, event_id)


def charge(
    *,
    email="jenny.rosen@example.com",
    amount=4900,
    refunded=0,
    charge_id="ch_3Pq1",
    payment_intent="pi_3Pq1",
    balance_transaction="txn_3Pq1",
    description="EchoPilot Pro, monthly",
):
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "balance_transaction": balance_transaction,
        "billing_details": {"address": {"country": "US"}, "email": email, "name": "Jenny Rosen", "phone": None},
        "captured": True,
        "created": 1719500005,
        "currency": "usd",
        "customer": "cus_QJ1aB2",
        "description": description,
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "outcome": {
            "network_status": "approved_by_network",
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": payment_intent,
        "payment_method": "pm_1Pq1",
        "receipt_email": email,
        "receipt_number": "1846-2213",
        "receipt_url": "https://pay.stripe.com/receipts/payment/CAcaFwoV",
        "refunded": refunded >= amount and refunded > 0,
        "status": "succeeded",
    }


def charge_succeeded(event_id=None, **kwargs):
    return _event("charge.succeeded", charge(**kwargs), event_id)


def charge_refunded(event_id=None, **kwargs):
    kwargs.setdefault("refunded", kwargs.get("amount", 4900))
    return _event("charge.refunded", charge(**kwargs), event_id)


def invoice_paid(
    *,
    email="billing@northwind.example",
    amount=119000,
    invoice_id="in_1Pq9",
    payment_intent="pi_3Pq9",
    charge_id="ch_3Pq9",
    event_id=None,
):
    invoice = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": amount,
        "amount_paid": amount,
        "amount_remaining": 0,
        "attempted": True,
        "billing_reason": "subscription_cycle",
        "charge": charge_id,
        "collection_method": "charge_automatically",
        "created": 1719400000,
        "currency": "usd",
        "customer": "cus_NW77",
        "customer_email": email,
        "customer_name": "Northwind Ops",
        "description": None,
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_YWNjd",
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": "il_1Pq9",
                    "object": "line_item",
                    "amount": amount,
                    "currency": "usd",
                    "description": "1 × EchoPilot Team (at $1,190.00 / year)",
                    "quantity": 1,
                }
            ],
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "number": "NW-0007",
        "paid": True,
        "payment_intent": payment_intent,
        "status": "paid",
        "status_transitions": {"finalized_at": 1719400100, "paid_at": 1719400200},
        "subscription": "sub_1Pq9",
        "total": amount,
    }
    return _event("invoice.paid", invoice, event_id)


@pytest.fixture
def customer(db):
    return Customer.objects.create(email="jenny.rosen@example.com", name="Jenny Rosen")


@pytest.fixture
def purchases(customer):
    """Two purchases of one customer, the older one refunded."""
    now = timezone.now()
    paid = Purchase.objects.create(
        customer=customer,
        description="EchoPilot Pro, monthly",
        amount=4900,
        currency="usd",
        purchased_at=now - timedelta(days=1),
        stripe_charge="ch_paid_1",
        number="1846-0001",
    )
    refunded = Purchase.objects.create(
        customer=customer,
        description="Automation credits",
        amount=1900,
        amount_refunded=1900,
        status=Purchase.REFUNDED,
        currency="usd",
        purchased_at=now - timedelta(days=9),
        stripe_charge="ch_ref_1",
    )
    return paid, refunded


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server (aiosmtpd) on loopback; Django's SMTP backend is pointed at it."""
    with smtp_server() as (inbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.DEFAULT_FROM_EMAIL = "receipts@echopilot.example"
        yield inbox
