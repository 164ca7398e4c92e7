"""Validly signed but unusual Stripe events: never a 500 (Stripe would retry it for days), never a
partial write; what cannot be applied is acknowledged and reported to the operator."""

import json

import pytest

from incidents.models import Incident
from portal.models import Customer, Purchase, StripeEvent

from .conftest import charge_refunded, charge_succeeded, checkout_session_completed, invoice_paid, stripe_signature

pytestmark = pytest.mark.django_db

REJECTED_FINGERPRINT = "portal:stripe-event-rejected"


@pytest.fixture
def post_raw(client):
    """POST a body exactly as given, correctly signed."""

    def post(body: str):
        return client.post(
            "/api/portal/stripe/webhook",
            body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=stripe_signature(body),
        )

    return post


def assert_nothing_stored():
    assert not StripeEvent.objects.exists()
    assert not Purchase.objects.exists()
    assert not Customer.objects.exists()


def assert_rejected_and_reported(response):
    assert response.status_code == 200, response.content
    assert response.json()["detail"].startswith("rejected: ")
    assert Incident.objects.filter(fingerprint=REJECTED_FINGERPRINT).exists()
    assert_nothing_stored()


@pytest.mark.parametrize("created", [1e308, 10**30, -1e15, 253402300800])
def test_a_timestamp_no_calendar_holds_is_treated_as_absent(post_event, created):
    event = charge_succeeded()
    event["created"] = created
    event["data"]["object"]["created"] = created
    assert post_event(event).status_code == 200
    assert StripeEvent.objects.get().created is None
    assert Purchase.objects.get().amount == 4900


def test_the_edge_of_the_calendar_is_still_a_date(post_event):
    event = charge_succeeded()
    event["created"] = 253402300799
    assert post_event(event).status_code == 200
    assert StripeEvent.objects.get().created.year == 9999


@pytest.mark.parametrize("obj", [[1, 2], "ch_3Pq1", 5])
def test_an_object_that_is_not_an_object_is_recorded_and_skipped(post_event, obj):
    event = charge_succeeded()
    event["data"]["object"] = obj
    response = post_event(event)
    assert response.status_code == 200
    assert response.json()["detail"].startswith("skipped")
    assert StripeEvent.objects.count() == 1
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("value", [["x"], "x", 7])
def test_a_charge_whose_billing_details_are_of_the_wrong_type_still_records_the_purchase(post_event, value):
    event = charge_succeeded()
    event["data"]["object"]["billing_details"] = value
    assert post_event(event).status_code == 200
    assert Purchase.objects.get().customer.email == "jenny.rosen@example.com"  # from receipt_email


@pytest.mark.parametrize("field", ["customer_details", "metadata"])
@pytest.mark.parametrize("value", [["x"], "x", 7])
def test_a_checkout_session_with_a_nested_field_of_the_wrong_type_is_acknowledged(post_event, field, value):
    event = checkout_session_completed()
    event["data"]["object"][field] = value
    assert post_event(event).status_code == 200
    assert StripeEvent.objects.count() == 1


@pytest.mark.parametrize("field", ["lines", "status_transitions", "payments"])
@pytest.mark.parametrize("value", [["x"], "x", 7, {"data": "x"}, {"data": ["x", 7]}])
def test_an_invoice_with_a_nested_field_of_the_wrong_type_still_records_the_purchase(post_event, field, value):
    event = invoice_paid()
    invoice = event["data"]["object"]
    del invoice["payment_intent"]  # so the payments list is read
    invoice[field] = value
    assert post_event(event).status_code == 200
    assert Purchase.objects.get().stripe_invoice == "in_1Pq9"


@pytest.mark.parametrize("email", [42, {"address": "jenny.rosen@example.com"}])
def test_an_email_that_is_not_a_string_counts_as_no_email(post_event, email):
    event = charge_succeeded(email=email)
    response = post_event(event)
    assert response.status_code == 200
    assert response.json()["detail"] == "skipped: no customer email and no known purchase"
    assert not Customer.objects.exists()


@pytest.mark.parametrize("body", ["[1,2]", "[" * 100_000 + "]" * 100_000, '"just a string"', "{"])
def test_an_authentic_body_that_is_no_event_is_acknowledged_and_reported(post_raw, body):
    assert_rejected_and_reported(post_raw(body))


def test_a_lone_surrogate_in_the_event_id_is_acknowledged_and_reported(post_raw):
    body = json.dumps(charge_succeeded(event_id="evt_\ud800"))
    assert "\\ud800" in body
    assert_rejected_and_reported(post_raw(body))


def test_lone_surrogates_in_text_are_dropped(post_event):
    event = charge_succeeded(description="Pro \ud800plan")
    event["data"]["object"]["billing_details"]["name"] = "Jenny \udfffRosen"
    assert post_event(event).status_code == 200
    purchase = Purchase.objects.get()
    assert (purchase.description, purchase.customer.name) == ("Pro plan", "Jenny Rosen")


def test_a_rejected_event_is_logged_for_the_operator(post_raw, caplog):
    post_raw("[1,2]")
    assert "rejected a Stripe event" in caplog.text


@pytest.mark.parametrize(
    "change",
    [
        lambda event: event.update(id="evt_" + "x" * 77),
        lambda event: event.update(id="evt_\x00nul"),
        lambda event: event.update(id=12345),
        lambda event: event["data"]["object"].update(id="ch_" + "x" * 62),
        lambda event: event["data"]["object"].update(id="ch_\x00nul"),
        lambda event: event["data"]["object"].update(payment_intent="pi_" + "x" * 62),
        lambda event: event["data"]["object"].update(customer="cus_" + "x" * 61),
        lambda event: event["data"]["object"].update(customer="cus_\x00nul"),
    ],
    ids=[
        "long event id",
        "nul event id",
        "int event id",
        "long charge id",
        "nul charge id",
        "long payment intent",
        "long customer",
        "nul customer",
    ],
)
def test_an_id_that_is_no_stripe_id_rejects_the_whole_event(post_event, change):
    event = charge_succeeded()
    change(event)
    assert_rejected_and_reported(post_event(event))


def test_a_long_billing_name_is_stored_cut_to_its_column(post_event):
    event = charge_succeeded()
    event["data"]["object"]["billing_details"]["name"] = "J" * 500
    assert post_event(event).status_code == 200
    assert Customer.objects.get().name == "J" * 200


@pytest.mark.parametrize(
    "email",
    [
        "jenny.rosen@" + "e" * 250 + ".com",
        "jenny\x00rosen@example.com",
        "not an email",
    ],
)
def test_a_payment_whose_email_is_no_address_is_rejected_and_reported(post_event, email):
    assert_rejected_and_reported(post_event(charge_succeeded(email=email)))


def test_a_bad_email_does_not_stop_an_event_of_a_known_purchase(post_event):
    post_event(checkout_session_completed())
    assert post_event(charge_succeeded(email="not an email")).status_code == 200
    assert Purchase.objects.get().stripe_charge == "ch_3Pq1"
    assert Customer.objects.get().email == "jenny.rosen@example.com"


def test_nul_characters_in_text_are_dropped(post_event):
    event = charge_succeeded(description="Pro\x00 plan")
    obj = event["data"]["object"]
    obj["billing_details"]["name"] = "Jenny\x00 Rosen"
    obj["receipt_number"] = "1846\x00-2213"
    assert post_event(event).status_code == 200
    purchase = Purchase.objects.get()
    assert (purchase.description, purchase.number, purchase.customer.name) == ("Pro plan", "1846-2213", "Jenny Rosen")


def test_nul_characters_in_the_type_and_status_are_dropped(post_event):
    event = charge_succeeded()
    event["type"] = "charge.\x00odd"
    event["data"]["object"]["status"] = "fail\x00ed"
    assert post_event(event).status_code == 200
    assert StripeEvent.objects.get().type == "charge.odd"


def test_a_currency_with_a_nul_is_no_currency(post_event):
    event = charge_succeeded()
    event["data"]["object"]["currency"] = "eu\x00"
    assert post_event(event).status_code == 200
    assert Purchase.objects.get().currency == "usd"


def test_a_rejected_event_can_be_applied_when_stripe_sends_it_again(post_event):
    event = charge_succeeded(email="not an email")
    post_event(event)
    event["data"]["object"]["receipt_email"] = "jenny.rosen@example.com"
    event["data"]["object"]["billing_details"]["email"] = "jenny.rosen@example.com"
    assert post_event(event).json()["duplicate"] is False
    assert Purchase.objects.count() == 1


def test_a_validly_signed_body_that_is_no_event_is_not_counted_as_a_bad_signature(post_raw, settings):
    settings.PORTAL_WEBHOOK_FAILURES_BEFORE_INCIDENT = 1
    post_raw("[1,2]")
    assert not Incident.objects.filter(fingerprint="portal:stripe-webhook-signature").exists()


def test_a_refund_larger_than_the_payment_counts_as_a_full_refund(post_event):
    assert post_event(charge_refunded(refunded=9900)).status_code == 200
    purchase = Purchase.objects.get()
    assert (purchase.amount_refunded, purchase.status) == (4900, Purchase.REFUNDED)


def test_a_replay_of_an_event_whose_type_has_a_lone_surrogate_is_a_duplicate(post_event):
    event = charge_succeeded()
    event["type"] = "charge.\ud800odd"
    assert post_event(event).status_code == 200
    replay = post_event(event)
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
