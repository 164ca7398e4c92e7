"""Stripe's delayed payment methods (SEPA, ACH) and three-decimal currencies, played with the event and
checkout.session fixtures of Stripe's own OpenAPI repository (tests/fixtures/stripe/)."""

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from portal.models import Purchase, StripeEvent, minor_to_major

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent.parent / "fixtures" / "stripe"


def stripe_event(event_type: str, event_id: str, **session_fields) -> dict:
    """Stripe's fixture event carrying Stripe's fixture checkout.session, with the fields a flow sets."""
    event = json.loads((FIXTURES / "event.json").read_text())
    session = json.loads((FIXTURES / "checkout.session.json").read_text())
    session.update(session_fields)
    event.update(id=event_id, type=event_type, data={"object": copy.deepcopy(session)})
    return event


def sepa_session(**fields) -> dict:
    return {"amount_total": 5120, "currency": "eur", "payment_method_types": ["sepa_debit"], **fields}


def test_async_payment_succeeded_records_the_purchase_the_completed_event_could_not(post_event):
    completed = stripe_event("checkout.session.completed", "evt_completed", **sepa_session(payment_status="unpaid"))
    assert post_event(completed).status_code == 200
    assert not Purchase.objects.exists()

    succeeded = stripe_event(
        "checkout.session.async_payment_succeeded", "evt_succeeded", **sepa_session(payment_status="paid")
    )
    assert post_event(succeeded).status_code == 200
    purchase = Purchase.objects.get()
    session = json.loads((FIXTURES / "checkout.session.json").read_text())
    assert purchase.stripe_checkout_session == session["id"]
    assert purchase.stripe_payment_intent == session["payment_intent"]
    assert purchase.customer.email == session["customer_details"]["email"]
    assert (purchase.amount, purchase.currency, purchase.status) == (5120, "eur", Purchase.PAID)
    assert StripeEvent.objects.get(event_id="evt_succeeded").purchase == purchase


def test_async_payment_failed_records_no_purchase_and_is_not_refused(post_event):
    failed = stripe_event(
        "checkout.session.async_payment_failed", "evt_failed", **sepa_session(payment_status="unpaid")
    )
    response = post_event(failed)
    assert response.status_code == 200 and "failed" in response.json()["detail"]
    assert not Purchase.objects.exists()
    assert StripeEvent.objects.get().outcome.startswith("skipped")


def test_a_kwd_amount_is_thousandths(post_event):
    kwd = stripe_event(
        "checkout.session.async_payment_succeeded",
        "evt_kwd",
        **sepa_session(payment_status="paid", currency="kwd"),
    )
    post_event(kwd)
    purchase = Purchase.objects.get()
    assert purchase.amount_display == Decimal("5.120")
    assert str(purchase.amount_display) == "5.120"


@pytest.mark.parametrize(
    "currency, amount, shown",
    [
        ("kwd", 5120, "5.120"),
        ("bhd", 1, "0.001"),
        ("jod", 100000, "100.000"),
        ("omr", 2500, "2.500"),
        ("tnd", 999, "0.999"),
        ("usd", 5120, "51.20"),
        ("jpy", 5120, "5120"),
    ],
)
def test_minor_units_by_stripes_currency_lists(currency, amount, shown):
    assert str(minor_to_major(amount, currency)) == shown
