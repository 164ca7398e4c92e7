"""Granting an override at 3 a.m.: the service, POST /api/costs/override, and the card's "Override for
1 h" button (its click in Chromium: tests/costs/test_card_browser.py)."""

import re
from datetime import timedelta
from decimal import Decimal

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from costs import authorize, spend_cache
from costs.dashboard import override_view
from costs.models import CapOverride, CostConfig
from costs.services import override_answer, override_cap, record_spend, set_cap

pytestmark = pytest.mark.django_db


def spend(model, usd, now):
    return record_spend(model=model, usd=Decimal(usd), now=now, ts=now)


def post(client, body):
    return client.post("/api/costs/override", body, content_type="application/json")


def version() -> int:
    return CostConfig.objects.get(pk=1).version


@pytest.fixture
def throttled(caps, now):
    """gpt-4o-mini past its $5 cap with its only fallback shut: its calls throttle."""
    set_cap("model", "0", "gpt-4.1-nano", now=now)
    spend("gpt-4o-mini", "5", now)
    assert authorize("gpt-4o-mini", now=now).decision == "throttle"


@pytest.fixture
def throttled_today(caps):
    """The same at the real time of day, for the endpoint (it takes its own now)."""
    set_cap("model", "0", "gpt-4.1-nano")
    record_spend(model="gpt-4o-mini", usd=Decimal(5))
    assert authorize("gpt-4o-mini").decision == "throttle"


@pytest.fixture
def superuser_client(client, db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


# --- the service --------------------------------------------------------------------------------------


def test_an_override_for_an_hour_lets_the_model_through_until_it_ends(throttled, now):
    before = version()
    override = override_cap({"scope": "model", "key": "gpt-4o-mini", "reason": "launch"}, by="ops", now=now)
    assert (override.until, override.created_by, override.reason) == (now + timedelta(hours=1), "ops", "launch")
    assert version() > before  # every worker reloads its caps
    assert authorize("gpt-4o-mini", now=now).decision == "allow"
    assert authorize("gpt-4o-mini", now=now + timedelta(minutes=59)).override_until == override.until
    assert authorize("gpt-4o-mini", now=now + timedelta(minutes=61)).decision == "throttle"


def test_minutes_set_how_long_and_the_event_log_has_the_line(throttled, now, log_dir):
    override = override_cap({"scope": "model", "key": "gpt-4o-mini", "minutes": 5}, by="key:ci", now=now)
    assert override.until == now + timedelta(minutes=5)
    events = [orjson.loads(line) for line in (log_dir / "costs.ndjson").read_bytes().splitlines()]
    line = [e for e in events if e["event"] == "cap_override"][-1]
    assert (line["scope"], line["key"], line["by"]) == ("model", "gpt-4o-mini", "key:ci")


def test_the_answer_warns_when_the_global_cap_still_blocks_the_model(caps, now):
    spend("gpt-4o", "100", now)
    answer = override_answer(override_cap({"scope": "model", "key": "gpt-4o"}, now=now), now)
    assert answer["cap"]["override_blocked_by_daily_cap"] is True
    assert answer["warnings"] and "the global daily cap is reached" in answer["warnings"][0]
    assert override_answer(override_cap({"scope": "daily"}, now=now), now)["warnings"] == []


# --- the card's button ------------------------------------------------------------------------------


def card_row(client, scope, key) -> str:
    """The HTML of one cap's rows on the cost card."""
    page = client.get("/admin/").content.decode()
    return re.search(rf'<tbody data-scope="{scope}" data-key="{key}">(.*?)</tbody>', page, re.S).group(1)


def test_a_throttled_cap_offers_the_button_and_an_overridden_one_does_not(superuser_client, throttled_today):
    assert "Override for 1 h" in card_row(superuser_client, "model", "gpt-4o-mini")
    assert "Override for 1 h" not in card_row(superuser_client, "model", "gpt-4o")  # under its cap
    override_cap({"scope": "model", "key": "gpt-4o-mini"}, by="ops")
    assert "Override for 1 h" not in card_row(superuser_client, "model", "gpt-4o-mini")


def test_a_reached_global_cap_offers_the_button_a_blocked_override_needs(superuser_client, caps):
    record_spend(model="gpt-4o", usd=Decimal(100))
    override_cap({"scope": "model", "key": "gpt-4o"}, by="ops")
    assert "Override for 1 h" in card_row(superuser_client, "daily", "")


def test_only_a_throttled_cap_not_yet_overridden_offers_the_button_and_its_question_names_the_cap(caps, now):
    cap = {"scope": "model", "key": "gpt-4o", "usd_cap": Decimal(10), "override_until": None, "state": "throttle"}
    assert override_view(cap)["can_override"] is True
    assert override_view({**cap, "state": "warn"})["can_override"] is False
    overridden = {**cap, "state": "throttle", "override_until": (now + timedelta(hours=1)).isoformat()}
    assert override_view(overridden)["can_override"] is False
    assert override_view(overridden)["override_until_text"] == "2026-03-10 13:00 UTC"
    assert "gpt-4o daily cap ($10.00)" in override_view(cap)["override_confirm"]
    daily = {**cap, "scope": "daily", "key": ""}
    assert "global daily cap ($10.00, all AI spend)" in override_view(daily)["override_confirm"]


def test_an_analyst_sees_no_override_button(client, throttled_today, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("analyst", "a@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="api_analyst"))
    client.force_login(user)
    page = client.get("/admin/").content.decode()
    assert 'id="card-costs"' in page and "Override for 1 h" not in page


# --- the endpoint -----------------------------------------------------------------------------------


def test_an_admin_key_overrides_a_throttled_cap_for_an_hour(api, throttled_today):
    before = version()
    response = post(api, {"scope": "model", "key": "gpt-4o-mini", "reason": "launch traffic"})
    assert response.status_code == 201, response.content
    body = response.json()
    override = CapOverride.objects.get()
    assert abs(override.until - (timezone.now() + timedelta(hours=1))) < timedelta(minutes=1)
    assert (override.created_by, override.reason) == ("key:test-admin", "launch traffic")
    assert body["until"] == override.until.isoformat() and body["warnings"] == []
    assert body["cap"]["override_until"] == override.until.isoformat() and body["cap"]["decision"] == "allow"
    assert version() > before
    assert authorize("gpt-4o-mini").decision == "allow"


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"scope"}),
        ({"scope": "weekly", "key": "gpt-4o-mini"}, {"scope"}),
        ({"scope": "model"}, {"key"}),
        ({"scope": "model", "key": "   "}, {"key"}),
        ({"scope": "model", "key": 7}, {"key"}),
        ({"scope": "model", "key": "gpt-4o-minii"}, {"key"}),  # no such cap: it would override nothing
        ({"scope": "model", "key": "x" * 101}, {"key"}),
        # A model's override sent with the wrong scope must not let all AI spend through.
        ({"scope": "daily", "key": "gpt-4o-mini"}, {"key"}),
        ({"scope": "model", "key": "gpt-4o-mini", "minutes": 0}, {"minutes"}),
        ({"scope": "model", "key": "gpt-4o-mini", "minutes": 1441}, {"minutes"}),
        ({"scope": "model", "key": "gpt-4o-mini", "minutes": -60}, {"minutes"}),
        ({"scope": "model", "key": "gpt-4o-mini", "minutes": "sixty"}, {"minutes"}),
        ({"scope": "model", "key": "gpt-4o-mini", "minutes": 1.5}, {"minutes"}),
        ({"scope": "model", "key": "gpt-4o-mini", "minutes": True}, {"minutes"}),
        ({"scope": "model", "key": "gpt-4o-mini", "minutes": 1e300}, {"minutes"}),
        ({"scope": "model", "key": "gpt-4o-mini", "reason": "r" * 201}, {"reason"}),
        ({"scope": "model", "key": "gpt-4o-mini", "reason": "two\nlines"}, {"reason"}),
        ({"scope": "model", "key": "gpt-4o-mini", "reason": ["a list"]}, {"reason"}),
        ({"scope": "hourly", "minutes": 0, "reason": 5}, {"scope", "minutes", "reason"}),  # every field at once
        (["scope", "model"], {"non_field_errors"}),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api, throttled_today, body, fields):
    before = version()
    response = post(api, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid input"
    assert set(response.json()["fields"]) == fields
    assert not CapOverride.objects.exists()
    assert version() == before


def test_a_daily_override_needs_a_daily_cap(api, throttled_today):
    from costs.models import CostCap

    CostCap.objects.filter(scope="daily").delete()
    response = post(api, {"scope": "daily"})
    assert response.status_code == 400
    assert "no global daily cap is set" in response.json()["fields"]["scope"]


def test_minutes_default_to_60_and_go_up_to_a_day(api, throttled_today):
    assert post(api, {"scope": "daily", "minutes": 1440}).status_code == 201
    daily = CapOverride.objects.get(scope="daily")
    assert abs(daily.until - (timezone.now() + timedelta(days=1))) < timedelta(minutes=1)
    assert post(api, {"scope": "model", "key": "gpt-4o-mini", "minutes": None}).status_code == 201
    model = CapOverride.objects.get(scope="model")
    assert abs(model.until - (timezone.now() + timedelta(hours=1))) < timedelta(minutes=1)


def test_an_analyst_key_may_not_override(analyst_api, throttled_today):
    assert post(analyst_api, {"scope": "model", "key": "gpt-4o-mini"}).status_code == 403
    assert not CapOverride.objects.exists()


def test_no_key_is_a_401(client, throttled_today):
    assert post(client, {"scope": "model", "key": "gpt-4o-mini"}).status_code == 401
    assert not CapOverride.objects.exists()


def test_a_staff_user_without_the_admin_role_may_not_override(staff_with, throttled_today):
    client = staff_with("costs.add_capoverride", "echopilot.api_analyst")
    assert post(client, {"scope": "model", "key": "gpt-4o-mini"}).status_code == 403
    assert not CapOverride.objects.exists()


def test_a_signed_in_admin_overrides_as_themself(superuser_client, throttled_today):
    response = post(superuser_client, {"scope": "model", "key": "gpt-4o-mini", "reason": "from the card"})
    assert response.status_code == 201, response.content
    assert CapOverride.objects.get().created_by == "ops"


def test_the_config_copy_of_this_worker_sees_the_override_at_once(api, throttled_today):
    spend_cache.current(timezone.now())  # a warm copy, as a busy worker has
    assert post(api, {"scope": "model", "key": "gpt-4o-mini"}).status_code == 201
    assert authorize("gpt-4o-mini").decision == "allow"
