"""Cost guardrails as a script meets them: no model slips past the price table, a cap for a model
never seen is flagged, a report is seen by the next decision, alerts agree with themselves, and a
bad report names every bad field at once."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from costs import authorize, record_spend
from costs.models import CapAlert, CostCap, SpendEntry
from incidents.models import Incident

pytestmark = pytest.mark.django_db


def post(api, path, body):
    return api.post(path, body, content_type="application/json")


def test_authorize_refuses_a_model_with_no_price_and_no_amount_naming_the_price_table(api, caps, prices):
    response = post(api, "/api/costs/authorize", {"model": "gpt-5-experimental"})
    assert response.status_code == 400
    assert "price table" in response.json()["fields"]["model"]


def test_an_unpriced_model_with_an_amount_is_checked_against_the_global_cap(api, caps, prices, now):
    record_spend(model="gpt-5-experimental", usd=Decimal("95"), ts=now, now=now)
    decision = authorize("gpt-5-experimental", Decimal("0.10"), now=now)
    assert decision.decision == "warn" and "global daily cap" in decision.reason
    assert authorize("gpt-5-experimental", Decimal("6"), now=now).decision == "throttle"


def test_the_python_caller_gets_the_same_refusal(caps, prices, now):
    with pytest.raises(ValidationError, match="price table"):
        authorize("gpt-5-experimental", now=now)


def test_a_priced_model_without_a_cap_is_still_allowed(caps, prices, now):
    assert authorize("gpt-4.1-nano", now=now).decision == "allow"


def test_set_cap_for_a_model_never_seen_and_unpriced_warns_in_the_answer(api, caps, prices):
    response = post(api, "/api/costs/set-cap", {"scope": "model", "key": "gpt-5-experimentl", "usd_cap": 3})
    assert response.status_code == 200
    assert response.json()["warnings"] == [
        "no price for gpt-5-experimentl in the price table: its usage reports must send usd",
        "no spend was ever reported for gpt-5-experimentl: check the model's name",
    ]


def test_set_cap_for_a_known_priced_model_has_no_warning(api, caps, prices, now):
    record_spend(model="gpt-4o", input_tokens=1000, output_tokens=100, ts=now, now=now)
    response = post(api, "/api/costs/set-cap", {"scope": "model", "key": "gpt-4o", "usd_cap": 12})
    assert response.json()["warnings"] == []


def test_the_admin_warns_when_a_cap_is_saved_for_a_model_never_seen(client, caps, prices):
    client.force_login(get_user_model().objects.create_superuser("op", "op@example.com", "pw"))
    response = client.post(
        "/admin/costs/costcap/add/", {"scope": "model", "key": "claude-opus-x", "usd_cap": "4"}, follow=True
    )
    assert CostCap.objects.filter(key="claude-opus-x").exists()
    assert "Saved, but no spend was ever reported for claude-opus-x" in response.content.decode()


def test_a_report_is_seen_by_the_next_decision_in_the_same_process(api, caps, prices):
    assert post(api, "/api/costs/authorize", {"model": "gpt-4o"}).json()["decision"] == "allow"
    post(api, "/api/costs/usage", {"model": "gpt-4o", "usd": 9.5, "request_id": "req_ryw_1"})
    assert post(api, "/api/costs/authorize", {"model": "gpt-4o"}).json()["decision"] == "warn"


def test_one_report_past_90_and_100_percent_raises_only_the_consistent_100_percent_alert(caps, prices, now):
    record_spend(model="gpt-4o", usd=Decimal("10.49"), ts=now, now=now)
    incidents = list(Incident.objects.values_list("severity", "message"))
    assert incidents == [
        (
            "CRITICAL",
            "Cost cap 100%: gpt-4o spent $10.49 of $10.00 on 2026-03-10; calls are throttled or downgraded",
        )
    ]
    assert set(CapAlert.objects.filter(key="gpt-4o").values_list("level", flat=True)) == {90, 100}
    assert not CapAlert.objects.filter(raised__isnull=True).exists(), "the hourly check must not raise the 90% later"


def test_usage_names_every_bad_field_at_once(api, caps, prices):
    response = post(
        api,
        "/api/costs/usage",
        {"model": 42, "input_tokens": -5, "output_tokens": "many", "usd": "free", "ts": "yesterday"},
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"model", "input_tokens", "output_tokens", "usd", "ts"}


def test_a_report_breaking_several_rules_names_every_one(caps, prices, now):
    from datetime import timedelta

    with pytest.raises(ValidationError) as refused:
        record_spend(model="", input_tokens=10**12 + 1, ts=now + timedelta(days=2), request_id="x\x00", now=now)
    assert set(refused.value.message_dict) == {"model", "input_tokens", "ts", "request_id"}


def test_a_report_from_python_is_held_to_the_apis_field_rules(caps, prices, now):
    """The same rules as a body sent to /api/costs/usage (costs.rules): a field out of its form is
    named alone, before the report as a whole is judged."""
    with pytest.raises(ValidationError) as refused:
        record_spend(model="", input_tokens=10**12 + 1, request_id="x" * 201, now=now)
    assert refused.value.message_dict == {"request_id": ["must be a string of at most 200 characters"]}
    assert not SpendEntry.objects.exists()
