"""POST /api/portal/stripe/webhook: verified, idempotent, one purchase per payment."""

import json
import time
from decimal import Decimal

import pytest
import stripe
from django.db import connection

from portal import stripe_events
from portal.models import Customer, Purchase, StripeEvent
from tests.races import race

from .conftest import (
    WEBHOOK_SECRET,
    charge,
    charge_refunded,
    charge_succeeded,
    checkout_session_completed,
    invoice_paid,
    stripe_signature,
)

pytestmark = pytest.mark.django_db


def test_checkout_session_completed_creates_the_customer_and_purchase(post_event):
    response = post_event(checkout_session_completed())
    assert response.status_code == 200, response.content
    assert response.json()["duplicate"] is False
    customer = Customer.objects.get()
    assert customer.email == "jenny.rosen@example.com"  # stored lower-cased
    assert customer.name == "Jenny Rosen"
    assert customer.stripe_customer_id == "cus_QJ1aB2"
    purchase = Purchase.objects.get()
    assert (purchase.amount, purchase.currency, purchase.status) == (4900, "usd", Purchase.PAID)
    assert purchase.description == "EchoPilot Pro, monthly"
    assert purchase.stripe_checkout_session == "cs_test_a1B2c3"
    assert purchase.stripe_payment_intent == "pi_3Pq1"
    assert StripeEvent.objects.get().purchase == purchase


def test_a_header_made_by_the_stripe_library_is_accepted(client):
    payload = json.dumps(charge_succeeded())
    header = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
    response = client.post(
        "/api/portal/stripe/webhook", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 200
    assert Purchase.objects.get().stripe_charge == "ch_3Pq1"


def test_charge_succeeded_creates_a_receipt_with_stripe_ids(post_event):
    assert post_event(charge_succeeded()).status_code == 200
    purchase = Purchase.objects.get()
    assert purchase.kind == Purchase.RECEIPT
    assert purchase.stripe_charge == "ch_3Pq1"
    assert purchase.number == "1846-2213"
    assert purchase.customer.email == "jenny.rosen@example.com"


def test_charge_refunded_marks_the_purchase_refunded(post_event):
    post_event(charge_succeeded())
    assert post_event(charge_refunded()).status_code == 200
    purchase = Purchase.objects.get()
    assert purchase.status == Purchase.REFUNDED
    assert purchase.amount_refunded == 4900


def test_a_partial_refund_is_a_partial_refund(post_event):
    post_event(charge_refunded(refunded=900))
    purchase = Purchase.objects.get()
    assert purchase.status == Purchase.PARTIALLY_REFUNDED
    assert purchase.amount_refunded == 900


def test_invoice_paid_creates_an_invoice(post_event):
    assert post_event(invoice_paid()).status_code == 200
    purchase = Purchase.objects.get()
    assert purchase.kind == Purchase.INVOICE
    assert purchase.number == "NW-0007"
    assert purchase.amount == 119000
    assert purchase.description.startswith("1 × EchoPilot Team")
    assert purchase.stripe_invoice == "in_1Pq9"
    assert purchase.purchased_at.timestamp() == 1719400200  # paid_at, not created
    assert purchase.customer.name == "Northwind Ops"


def test_the_events_of_one_payment_meet_on_one_purchase(post_event):
    post_event(checkout_session_completed())
    post_event(charge_succeeded())
    post_event(charge_refunded())
    assert Purchase.objects.count() == 1
    purchase = Purchase.objects.get()
    assert purchase.stripe_checkout_session == "cs_test_a1B2c3"
    assert purchase.stripe_charge == "ch_3Pq1"
    assert purchase.status == Purchase.REFUNDED
    assert Customer.objects.count() == 1
    assert StripeEvent.objects.count() == 3


def test_a_late_charge_succeeded_does_not_undo_a_refund(post_event):
    post_event(charge_refunded())
    post_event(charge_succeeded())
    assert Purchase.objects.get().status == Purchase.REFUNDED


def test_an_existing_customer_is_found_whatever_the_case_of_the_email(post_event, customer):
    post_event(checkout_session_completed(email="JENNY.ROSEN@EXAMPLE.COM"))
    assert Customer.objects.count() == 1
    assert Purchase.objects.get().customer == customer


def test_a_replayed_event_changes_nothing(post_event):
    event = charge_refunded()
    assert post_event(event).json()["duplicate"] is False
    purchase = Purchase.objects.get()
    # An operator corrects the purchase in the admin; a replay must not overwrite it.
    Purchase.objects.filter(pk=purchase.pk).update(status=Purchase.PAID, amount_refunded=0)
    replay = post_event(event)
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    purchase.refresh_from_db()
    assert (purchase.status, purchase.amount_refunded) == (Purchase.PAID, 0)
    assert StripeEvent.objects.count() == 1


def test_a_bad_signature_is_400_and_stores_nothing(post_event):
    response = post_event(checkout_session_completed(), secret="whsec_someone_else")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid Stripe signature"
    assert "Stripe-Signature" in response.json()["fields"]
    assert not Customer.objects.exists()
    assert not Purchase.objects.exists()
    assert not StripeEvent.objects.exists()


def test_a_stale_signature_is_400(post_event):
    response = post_event(checkout_session_completed(), timestamp=int(time.time()) - 301)
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_a_signature_dated_beyond_the_tolerance_in_the_future_is_400(post_event):
    response = post_event(checkout_session_completed(), timestamp=int(time.time()) + 3600)
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_a_signature_dated_a_little_ahead_by_a_skewed_clock_is_accepted(post_event):
    assert post_event(checkout_session_completed(), timestamp=int(time.time()) + 60).status_code == 200


def test_while_the_secret_is_rolled_events_signed_by_the_old_or_the_new_one_are_accepted(post_event, settings):
    settings.STRIPE_WEBHOOK_SECRET = f"whsec_new_9Qm2, {WEBHOOK_SECRET}"
    assert post_event(charge_succeeded(event_id="evt_old"), secret=WEBHOOK_SECRET).status_code == 200
    assert post_event(charge_succeeded(event_id="evt_new"), secret="whsec_new_9Qm2").status_code == 200
    assert post_event(charge_succeeded(event_id="evt_bad"), secret="whsec_gone").status_code == 400
    assert set(StripeEvent.objects.values_list("event_id", flat=True)) == {"evt_old", "evt_new"}


def test_a_missing_signature_is_400(post_event):
    assert post_event(checkout_session_completed(), header="").status_code == 400
    assert not Purchase.objects.exists()


def test_a_body_changed_after_signing_is_400(client):
    payload = json.dumps(charge_succeeded())
    header = stripe_signature(payload)
    tampered = payload.replace('"amount": 4900', '"amount": 1')
    assert tampered != payload
    response = client.post(
        "/api/portal/stripe/webhook", tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 400
    assert not Purchase.objects.exists()


def test_without_a_configured_secret_every_event_is_refused_with_a_503(post_event, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert post_event(charge_succeeded()).status_code == 503


def test_the_secret_never_appears_in_the_answer(post_event):
    response = post_event(charge_succeeded(), secret="whsec_wrong")
    assert WEBHOOK_SECRET not in response.content.decode()


def test_an_event_type_not_handled_is_acknowledged_and_recorded(post_event):
    event = charge_succeeded()
    event["type"] = "customer.created"
    event["id"] = "evt_1customer_created"
    response = post_event(event)
    assert response.status_code == 200
    assert StripeEvent.objects.get().outcome.startswith("ignored")
    assert not Purchase.objects.exists()


def test_an_unpaid_checkout_session_is_not_a_purchase(post_event):
    event = checkout_session_completed()
    event["data"]["object"]["payment_status"] = "unpaid"
    assert post_event(event).status_code == 200
    assert not Purchase.objects.exists()


def test_an_expanded_balance_transaction_gives_the_stripe_fee():
    event = charge_succeeded(
        balance_transaction={
            "id": "txn_3Pq1",
            "object": "balance_transaction",
            "amount": 4900,
            "currency": "usd",
            "fee": 172,
            "net": 4728,
            "created": 1719500006,
            "type": "charge",
        }
    )
    txn_id, usd, when = stripe_events.stripe_fee(event)
    assert txn_id == "txn_3Pq1"
    assert str(usd) == "1.72"
    assert when.timestamp() == 1719500006


def test_a_balance_transaction_id_alone_carries_no_fee():
    assert stripe_events.stripe_fee(charge_succeeded(balance_transaction="txn_3Pq1")) is None
    assert stripe_events.stripe_fee(checkout_session_completed()) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_deliveries_of_one_event_apply_it_once(live_server):
    """Eight threads deliver the same refund at once, through the real HTTP stack."""
    import requests

    payload = json.dumps(charge_refunded(refunded=900))
    header = stripe_signature(payload)

    def deliver(_):
        response = requests.post(
            f"{live_server.url}/api/portal/stripe/webhook",
            data=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
            timeout=30,
        )
        return response.status_code, response.json().get("duplicate")

    answers = race(deliver, range(8))
    connection.close()
    assert sorted(answers) == [(200, False)] + [(200, True)] * 7
    assert StripeEvent.objects.count() == 1
    assert Purchase.objects.count() == 1
    assert Purchase.objects.get().amount_refunded == 900


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sibling_events_of_one_payment_arriving_together_make_one_purchase():
    """checkout.session.completed and charge.succeeded of one payment, processed at the same moment."""
    events = [checkout_session_completed(), charge_succeeded()]
    race(stripe_events.process, events)
    purchase = Purchase.objects.get()
    assert purchase.stripe_checkout_session and purchase.stripe_charge
    assert Customer.objects.count() == 1


def test_a_charge_without_balance_transaction_details_still_records_the_purchase(post_event):
    obj = charge(balance_transaction=None)
    event = {
        "id": "evt_1nobt",
        "object": "event",
        "type": "charge.succeeded",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }
    assert post_event(event).status_code == 200
    assert Purchase.objects.count() == 1


def _with_fee(fee_cents: int, created: int) -> dict:
    return charge_succeeded(
        balance_transaction={
            "id": "txn_3Pq1",
            "object": "balance_transaction",
            "amount": 4900,
            "currency": "usd",
            "fee": fee_cents,
            "fee_details": [{"amount": fee_cents, "currency": "usd", "type": "stripe_fee"}],
            "net": 4900 - fee_cents,
            "created": created,
            "status": "pending",
            "type": "charge",
        }
    )


def test_a_stripe_fee_is_reported_to_costs_once_after_the_purchase_commits(
    post_event, django_capture_on_commit_callbacks
):
    from costs.services import status

    event = _with_fee(172, int(time.time()) - 5)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(event).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(event).json()["duplicate"] is True
    assert status()["stripe_fees_today_usd"] == Decimal("1.72")
    assert Purchase.objects.count() == 1


def test_a_fee_the_costs_app_refuses_does_not_lose_the_purchase(post_event, django_capture_on_commit_callbacks, caplog):
    from costs.services import status

    # A balance transaction dated in the future is refused by costs (a ValidationError).
    event = _with_fee(172, int(time.time()) + 86400)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(event).status_code == 200
    assert Purchase.objects.count() == 1
    assert status()["stripe_fees_today_usd"] == Decimal("0")
    assert "could not report Stripe fee of txn_3Pq1" in caplog.text


@pytest.mark.parametrize("amount", ["4900", -5, True, None, 1.5])
def test_an_authentic_event_with_a_nonsense_amount_is_acknowledged_without_a_purchase(post_event, amount):
    event = charge_succeeded()
    event["data"]["object"]["amount"] = amount
    response = post_event(event)
    assert response.status_code == 200
    assert response.json()["detail"] == "skipped: no amount"
    assert not Purchase.objects.exists()


def test_an_invoice_in_the_2025_shape_meets_its_charge_through_its_payments(post_event):
    """Since API 2025-03-31 an invoice has no payment_intent/charge, only a list of payments."""
    post_event(
        charge_succeeded(
            email="billing@northwind.example", charge_id="ch_3Pq9", payment_intent="pi_3Pq9", amount=119000
        )
    )
    event = invoice_paid()
    invoice = event["data"]["object"]
    del invoice["payment_intent"], invoice["charge"], invoice["paid"]
    invoice["payments"] = {
        "object": "list",
        "has_more": False,
        "data": [
            {
                "id": "inpay_1Pq9",
                "object": "invoice_payment",
                "amount_paid": 119000,
                "currency": "usd",
                "is_default": True,
                "payment": {"type": "payment_intent", "payment_intent": "pi_3Pq9"},
                "status": "paid",
            }
        ],
    }
    event["api_version"] = "2025-03-31.basil"
    assert post_event(event).status_code == 200
    purchase = Purchase.objects.get()
    assert (purchase.kind, purchase.stripe_invoice, purchase.stripe_charge) == (Purchase.INVOICE, "in_1Pq9", "ch_3Pq9")
    assert purchase.number == "NW-0007"  # the invoice's number wins over the charge's receipt number
