"""Caps: env on first use, then set-cap wins; the status endpoint; admin endpoints at any spend."""

from decimal import Decimal

import pytest

from costs import authorize, record_spend, spend_cache
from costs.models import CostCap

pytestmark = pytest.mark.django_db


def test_env_gives_the_first_caps(settings):
    settings.COST_CAP_DAILY_USD = 25
    settings.MODEL_CAPS_JSON = {"gpt-4o-mini": 15, "embeddings": 2}
    authorize("gpt-4o")
    assert {(c.scope, c.key): c.usd_cap for c in CostCap.objects.all()} == {
        ("daily", ""): Decimal(25),
        ("model", "gpt-4o-mini"): Decimal(15),
        ("model", "embeddings"): Decimal(2),
    }


def test_an_unusable_env_cap_is_skipped_not_fatal(settings):
    settings.MODEL_CAPS_JSON = {"gpt-4o": "lots", "embeddings": -1, "gpt-4o-mini": 3}
    authorize("gpt-4o")
    assert set(CostCap.objects.filter(scope="model").values_list("key", flat=True)) == {"gpt-4o-mini"}


def test_an_env_cap_the_database_cannot_hold_is_skipped_and_decisions_go_on(settings):
    # Each of these once failed the seeding (numeric overflow, value too long, NUL on PostgreSQL), and
    # with it every authorize and usage call.
    settings.COST_CAP_DAILY_USD = 100_000_000
    settings.MODEL_CAPS_JSON = {"m" * 101: 5, "bad\x00name": 5, " ": 5, "gpt-4o-mini": 99_999_999}
    assert authorize("gpt-4o").decision == "allow"
    assert not record_spend(model="gpt-4o", usd="1.5").duplicate
    assert {(c.scope, c.key): c.usd_cap for c in CostCap.objects.all()} == {
        ("model", "gpt-4o-mini"): Decimal(99_999_999)
    }


def test_set_cap_wins_over_env_from_then_on(api, settings):
    response = api.post("/api/costs/set-cap", {"scope": "daily", "usd_cap": 30.0}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["usd_cap"] == 30.0
    settings.COST_CAP_DAILY_USD = 999
    spend_cache.reset()
    authorize("gpt-4o")
    assert CostCap.objects.get(scope="daily").usd_cap == Decimal(30)


def test_a_deleted_env_cap_stays_deleted(settings):
    authorize("gpt-4o")
    CostCap.objects.filter(key="gpt-4o-mini").delete()
    spend_cache.reset()
    authorize("gpt-4o")
    assert not CostCap.objects.filter(key="gpt-4o-mini").exists()


def test_set_cap_for_a_model(api):
    response = api.post(
        "/api/costs/set-cap", {"scope": "model", "key": "gpt-4.1", "usd_cap": "7.5"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert CostCap.objects.get(scope="model", key="gpt-4.1").usd_cap == Decimal("7.5")


@pytest.mark.parametrize(
    "body, field",
    [
        ({"scope": "daily", "usd_cap": -1}, "usd_cap"),
        ({"scope": "daily", "usd_cap": "thirty"}, "usd_cap"),
        ({"scope": "daily", "usd_cap": "NaN"}, "usd_cap"),
        ({"scope": "daily"}, "usd_cap"),
        ({"scope": "model", "usd_cap": 5}, "key"),
        ({"scope": "model", "key": "  ", "usd_cap": 5}, "key"),
        ({"scope": "weekly", "usd_cap": 5}, "scope"),
        ({"scope": "daily", "usd_cap": "1e12"}, "usd_cap"),
        # A model cap sent with the wrong scope must not change the global cap.
        ({"scope": "daily", "key": "gpt-4o", "usd_cap": 1}, "key"),
    ],
)
def test_bad_set_cap_is_a_400_naming_the_field(api, body, field):
    before = list(CostCap.objects.values_list("scope", "key", "usd_cap"))
    response = api.post("/api/costs/set-cap", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert list(CostCap.objects.values_list("scope", "key", "usd_cap")) == before


def test_analyst_reads_status_but_cannot_set_a_cap(analyst_api):
    assert analyst_api.get("/api/costs/status").status_code == 200
    response = analyst_api.post("/api/costs/set-cap", {"scope": "daily", "usd_cap": 1}, content_type="application/json")
    assert response.status_code == 403


def test_status_shows_every_cap_with_spend_utilization_and_state(api, caps):
    record_spend(model="gpt-4o", usd=Decimal("9.5"))
    record_spend(model="gpt-4o-mini", usd=Decimal("5"))
    record_spend(kind="stripe_fee", usd=Decimal("1.20"))
    body = api.get("/api/costs/status").json()
    by_key = {(c["scope"], c["key"]): c for c in body["caps"]}
    assert by_key[("model", "gpt-4o")]["utilization_pct"] == 95.0
    assert by_key[("model", "gpt-4o")]["state"] == "warn"
    assert by_key[("model", "gpt-4o-mini")]["state"] == "throttle"
    assert by_key[("model", "gpt-4o-mini")]["fallback_in_force"] == "gpt-4.1-nano"
    assert by_key[("daily", "")]["spent_usd"] == 14.5
    assert by_key[("daily", "")]["state"] == "ok"
    assert body["stripe_fees_today_usd"] == 1.2


def test_at_the_global_cap_ai_calls_throttle_but_admin_endpoints_keep_answering(api, caps, client):
    record_spend(model="gpt-4o", usd=Decimal("1000"))
    assert authorize("gpt-4.1-nano").decision == "throttle"
    assert api.get("/api/costs/status").json()["caps"][0]["state"] == "throttle"
    assert api.get("/api/costs/forecast").status_code == 200
    assert (
        api.post("/api/costs/set-cap", {"scope": "daily", "usd_cap": 2000}, content_type="application/json").status_code
        == 200
    )
    assert api.get("/api/queue/status").status_code == 200
    assert client.get("/health").status_code == 200
    assert authorize("gpt-4.1-nano").decision == "allow"  # the raised cap applies at once


def test_a_misspelt_cost_timezone_falls_back_to_utc_and_fails_readiness(client, caps, settings):
    settings.COST_TIMEZONE = "Mars/Olympus_Mons"
    assert authorize("gpt-4o").decision == "allow"  # decisions keep working, on UTC days
    response = client.get("/healthz/strict")
    assert "costs" in response.json()["failing"]
    assert "Mars/Olympus_Mons" in response.json()["checks"]["costs"]["detail"]
