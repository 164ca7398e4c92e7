"""Spend in: pricing, idempotent reports, Stripe fees, and the usage endpoint's validation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from costs import authorize, record_spend, spend_cache
from costs.models import DailyCounter, ModelPrice, SpendEntry
from costs.services import status

pytestmark = pytest.mark.django_db


def test_usd_is_priced_from_the_table_when_absent(prices, caps, now):
    result = record_spend(model="gpt-4o-mini", input_tokens=1_000_000, output_tokens=1_000_000, now=now, ts=now)
    assert result.usd == Decimal("0.750000")  # $0.15 in + $0.60 out per 1M tokens
    assert SpendEntry.objects.get(request_id=result.request_id).priced is True


def test_an_unknown_model_without_usd_is_refused_before_any_write(prices, caps, now):
    with pytest.raises(ValidationError) as refused:
        record_spend(model="mystery-9", input_tokens=10, now=now, ts=now)
    assert "model" in refused.value.message_dict
    assert not SpendEntry.objects.exists() and not DailyCounter.objects.exists()


def test_a_report_sent_twice_is_counted_once_and_answers_the_same_decision(caps, now):
    first = record_spend(model="gpt-4o", usd=Decimal("9.5"), request_id="req-1", now=now, ts=now)
    again = record_spend(model="gpt-4o", usd=Decimal("9.5"), request_id="req-1", now=now, ts=now)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert first.decision.decision == again.decision.decision == "warn"
    assert SpendEntry.objects.filter(request_id="req-1").count() == 1
    assert DailyCounter.objects.get().usd_micros == 9_500_000  # its model's: all AI spend sums the models


def test_stripe_fees_are_recorded_but_count_against_no_cap(caps, now):
    record_spend(kind="stripe_fee", usd=Decimal("500"), request_id="stripe:txn_1", now=now, ts=now)
    assert authorize("gpt-4o", now=now).decision == "allow"
    current = status(now=now)
    assert current["stripe_fees_today_usd"] == Decimal("500")
    assert current["spend_today_usd"] == Decimal("0")


def test_spend_with_a_past_timestamp_counts_to_its_own_day(caps, now):
    yesterday = now - timedelta(days=1)
    record_spend(model="gpt-4o", usd=Decimal("10"), ts=yesterday, now=now)
    assert DailyCounter.objects.get(scope="model", key="gpt-4o").day == yesterday.date()
    assert authorize("gpt-4o", now=now).decision == "allow"


# --- the endpoint -------------------------------------------------------------------------------------


def test_usage_endpoint_records_and_answers_the_decision(api, caps):
    response = api.post(
        "/api/costs/usage", {"model": "gpt-4o", "usd": 9.25, "request_id": "r-9"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["decision"]["decision"] == "warn"
    assert body["duplicate"] is False
    assert SpendEntry.objects.get(request_id="r-9").usd == Decimal("9.25")


def test_usage_endpoint_accepts_a_stripe_fee(api, caps):
    response = api.post(
        "/api/costs/usage",
        {"kind": "stripe_fee", "usd": "0.59", "request_id": "stripe:ch_1"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["decision"] is None
    assert SpendEntry.objects.get(request_id="stripe:ch_1").kind == "stripe_fee"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"model": "gpt-4o", "usd": -1}, "usd"),
        ({"model": "gpt-4o", "usd": "lots"}, "usd"),
        ({"model": "gpt-4o", "usd": True}, "usd"),
        ({"model": "gpt-4o", "usd": "1e15"}, "usd"),
        ({"model": "gpt-4o", "usd": "1e400"}, "usd"),  # more digits than a Decimal holds
        ({"model": "gpt-4o", "usd": 1e308}, "usd"),
        ({"model": "gpt-4o", "usd": "Infinity"}, "usd"),
        ({"model": "gpt-4o", "input_tokens": -5, "usd": 1}, "input_tokens"),
        ({"model": "gpt-4o", "input_tokens": 10**19, "usd": 1}, "input_tokens"),
        ({"model": "gpt-4o", "output_tokens": 1.5, "usd": 1}, "output_tokens"),
        ({"model": "no-such-model", "input_tokens": 100}, "model"),
        ({"usd": 1}, "model"),
        ({"kind": "stripe_fee"}, "usd"),
        ({"kind": "refund", "usd": 1}, "kind"),
        ({"model": "gpt-4o", "usd": 1, "ts": "yesterday-ish"}, "ts"),
        ({"model": "gpt-4o", "usd": 1, "ts": "2026-02-30T10:00:00Z"}, "ts"),
        ({"model": "gpt-4o", "usd": 1, "request_id": "x" * 201}, "request_id"),
        ({"model": ["gpt-4o"], "usd": 1}, "model"),
        ({"model": "gpt-4o", "usd": 1, "ts": "2999-01-01T00:00:00Z"}, "ts"),
        ({"model": "gpt-4o", "usd": 1, "ts": "0001-01-01T00:00:00+14:00"}, "ts"),  # no UTC date holds it
        ({"model": "gpt\u00004o", "usd": 1}, "model"),
        ({"model": "gpt-4o", "usd": 1, "request_id": "r\u00001"}, "request_id"),
        ({"model": "gpt-4o", "usd": 1, "ts": "1970-01-01T00:00:00Z"}, "ts"),  # seconds sent as a date
        ({"model": "gpt-4o", "usd": 1, "ts": "2026-03-10T10:00:00\u0000junk"}, "ts"),  # Python's parser stops at NUL
    ],
)
def test_bad_usage_is_a_400_naming_the_field_and_writes_nothing(api, caps, prices, body, field):
    response = api.post("/api/costs/usage", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not SpendEntry.objects.exists()


@pytest.mark.parametrize("blank", ["", "  ", None])
def test_a_blank_request_id_is_no_id_so_blank_reports_never_swallow_each_other(caps, now, blank):
    first = record_spend(model="gpt-4o", usd=Decimal(1), request_id=blank, now=now, ts=now)
    second = record_spend(model="gpt-4o", usd=Decimal(2), request_id=blank, now=now, ts=now)
    assert (first.duplicate, second.duplicate) == (False, False)
    assert first.request_id.startswith("auto:") and first.request_id != second.request_id
    assert DailyCounter.objects.get().usd_micros == 3_000_000


def test_a_report_that_would_overflow_the_days_counter_is_a_400_and_writes_nothing(api, caps, now):
    """A day's counter is a bigint of micro-dollars: the report that would pass it is refused by name
    (PostgreSQL raised "bigint out of range", a 500; SQLite silently turned the total into a float)."""
    record_spend(kind="stripe_fee", usd=Decimal(1), request_id="fee-0")
    counter = DailyCounter.objects.get()
    DailyCounter.objects.filter(pk=counter.pk).update(
        usd_micros=2**63 - 1_000_000_000_000_000
    )  # $9.2 trillion less $1bn
    response = api.post(
        "/api/costs/usage",
        {"kind": "stripe_fee", "usd": 1_000_000_000, "request_id": "fee-1"},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert "usd" in response.json()["fields"]
    assert not SpendEntry.objects.filter(request_id="fee-1").exists()
    assert DailyCounter.objects.get().usd_micros == 2**63 - 1_000_000_000_000_000
    # The ledger goes on counting what fits.
    spend_cache.reset()
    ok = api.post(
        "/api/costs/usage", {"kind": "stripe_fee", "usd": 1, "request_id": "fee-2"}, content_type="application/json"
    )
    assert ok.status_code == 200, ok.content


def test_malformed_json_is_a_400(api):
    response = api.post("/api/costs/usage", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_a_json_array_is_a_400_not_a_500(api):
    response = api.post("/api/costs/authorize", "[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_authorize_endpoint(api, caps, now):
    record_spend(model="gpt-4o", usd=Decimal(10))
    response = api.post("/api/costs/authorize", {"model": "gpt-4o", "est_usd": 0.02}, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert (body["decision"], body["model"], body["requested_model"]) == ("downgrade", "gpt-4o-mini", "gpt-4o")
    assert body["reason"]


def test_authorize_needs_a_model(api, caps):
    response = api.post("/api/costs/authorize", {"est_usd": 1}, content_type="application/json")
    assert response.status_code == 400
    assert "model" in response.json()["fields"]


def test_reporting_needs_an_admin_key(analyst_api, client, caps):
    assert (
        analyst_api.post("/api/costs/usage", {"model": "gpt-4o", "usd": 1}, content_type="application/json").status_code
        == 403
    )
    client.defaults.pop("HTTP_X_DASH_KEY", None)
    assert client.post("/api/costs/authorize", {"model": "gpt-4o"}, content_type="application/json").status_code == 401


def test_a_python_caller_gets_a_field_error_not_a_database_error(caps, now):
    with pytest.raises(ValidationError) as refused:
        record_spend(model="m" * 101, usd=Decimal(1), now=now, ts=now)
    assert "model" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        record_spend(model="gpt-4o", usd=Decimal(-1), now=now, ts=now)
    assert "usd" in refused.value.message_dict


def test_a_naive_timestamp_is_taken_as_utc(caps, now):
    result = record_spend(model="gpt-4o", usd=Decimal(1), ts=now.replace(tzinfo=None), now=now)
    assert SpendEntry.objects.get(request_id=result.request_id).ts == now


def test_a_request_id_reused_for_another_report_is_a_400_not_a_silent_duplicate(api, caps, now):
    first = {"model": "gpt-4o", "usd": 2, "request_id": "r-7"}
    assert api.post("/api/costs/usage", first, content_type="application/json").status_code == 200
    assert api.post("/api/costs/usage", first, content_type="application/json").json()["duplicate"] is True
    for other in ({**first, "usd": 3}, {**first, "model": "gpt-4o-mini"}, {**first, "input_tokens": 5}):
        response = api.post("/api/costs/usage", other, content_type="application/json")
        assert response.status_code == 400, other
        assert "already used for another report (ai gpt-4o $2.00" in response.json()["fields"]["request_id"]
    assert SpendEntry.objects.get().usd == Decimal(2)


def test_a_priced_report_repeated_after_a_price_change_is_still_a_duplicate(caps, prices, now):
    first = record_spend(model="gpt-4o", input_tokens=1_000_000, request_id="r-8", now=now, ts=now)
    ModelPrice.objects.filter(model="gpt-4o").update(input_per_mtok=Decimal("5.00"))
    spend_cache.reset()
    again = record_spend(model="gpt-4o", input_tokens=1_000_000, request_id="r-8", now=now, ts=now)
    assert again.duplicate and again.usd == first.usd == Decimal("2.5")
