"""Caps that hold under concurrency: near a cap, authorize holds the call's estimate against the
shared counters until its usage report settles it; unsettled holds expire."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from costs import authorize, spend_cache
from costs.models import CapReservation, ModelPrice, SpendEntry
from costs.services import guardrails_tick, record_spend, set_cap
from tests.loopback import free_port
from tests.races import race

MODEL = "claude-haiku"  # a model with no fallback: at its cap it throttles


@pytest.fixture
def margins(settings):
    """The shipped margins (the shared fixture turns them off for the one-call-at-a-time tests)."""
    settings.COST_RESERVE_CALLS = 200
    settings.COST_RESERVE_HEADROOM_PCT = 10
    settings.COST_RESERVE_DEFAULT_USD = 0.05
    settings.COST_RESERVATION_TTL_S = 300
    spend_cache.reset()


@pytest.fixture
def one_dollar_cap(caps, margins, now):
    # Priced, so authorize may judge a call of it without an estimate (an unpriced model needs est_usd).
    ModelPrice.objects.update_or_create(model=MODEL, defaults={"input_per_mtok": 1, "output_per_mtok": 5})
    set_cap("model", "1.00", MODEL, now=now)


def spend(usd, now, rid=None):
    return record_spend(model=MODEL, usd=Decimal(usd), request_id=rid, now=now, ts=now)


@pytest.mark.django_db
def test_near_a_cap_an_allowed_call_holds_its_estimate(one_dollar_cap, now):
    decision = authorize(MODEL, Decimal("0.05"), now=now)
    assert decision.decision == "allow"
    assert decision.to_dict()["reserved_usd"] == Decimal("0.05")
    assert list(CapReservation.objects.values_list("model", "usd_micros")) == [(MODEL, 50_000)]


@pytest.mark.django_db
def test_open_holds_count_as_spent_so_the_headroom_is_not_spent_twice(one_dollar_cap, now):
    spend("0.85", now)
    answers = [authorize(MODEL, Decimal("0.05"), now=now).decision for _ in range(4)]
    # $0.85 spent: the first call takes it to 0.90 (warns), the second to 0.95 (warns); the third
    # would reach the cap with the two calls under way.
    assert answers == ["warn", "warn", "throttle", "throttle"]
    assert CapReservation.objects.count() == 2


@pytest.mark.django_db
def test_without_an_estimate_the_models_typical_call_today_is_held(one_dollar_cap, now):
    spend("0.10", now, "a")
    spend("0.20", now, "b")
    authorize(MODEL, now=now)
    assert CapReservation.objects.get().usd_micros == 150_000  # $0.30 over 2 reports


@pytest.mark.django_db
def test_a_model_never_reported_today_holds_the_default_estimate(one_dollar_cap, now, settings):
    settings.COST_RESERVE_DEFAULT_USD = 0.07
    spend_cache.reset()
    authorize(MODEL, now=now)
    assert CapReservation.objects.get().usd_micros == 70_000


@pytest.mark.django_db
def test_the_usage_report_settles_the_hold(one_dollar_cap, now):
    authorize(MODEL, Decimal("0.05"), now=now)
    authorize(MODEL, Decimal("0.05"), now=now)
    spend("0.05", now)
    assert CapReservation.objects.count() == 1
    spend("0.05", now)
    assert CapReservation.objects.count() == 0


@pytest.mark.django_db
def test_a_hold_never_settled_stops_counting_when_it_expires(one_dollar_cap, now, settings):
    spend("0.85", now)
    authorize(MODEL, Decimal("0.05"), now=now)
    authorize(MODEL, Decimal("0.05"), now=now)
    assert authorize(MODEL, Decimal("0.05"), now=now).decision == "throttle"
    later = now + timedelta(seconds=settings.COST_RESERVATION_TTL_S + 1)
    assert authorize(MODEL, Decimal("0.05"), now=later).decision == "warn"
    guardrails_tick(now=later)  # the hourly job clears the expired rows
    assert CapReservation.objects.filter(expires__lte=later).count() == 0


@pytest.fixture
def high_caps(caps, margins, now):
    set_cap("daily", "100000", now=now)
    set_cap("model", "10000", "gpt-4o", now=now)


@pytest.mark.django_db
def test_far_from_every_cap_authorize_costs_no_query_and_holds_nothing(high_caps, now, django_assert_num_queries):
    authorize("gpt-4o", now=now)  # loads the cached copy
    with django_assert_num_queries(0):
        decision = authorize("gpt-4o", Decimal("0.01"), now=now)
    assert decision.decision == "allow" and decision.reserved_micros == 0
    assert not CapReservation.objects.exists()


@pytest.mark.django_db
def test_far_from_every_cap_a_usage_report_does_not_look_for_a_hold(high_caps, now):
    from django.test.utils import CaptureQueriesContext

    authorize("gpt-4o", now=now)
    with CaptureQueriesContext(connection) as captured:
        record_spend(model="gpt-4o", usd=Decimal("0.01"), now=now, ts=now)
    assert captured.captured_queries  # the ledger write
    assert not any("reservation" in q["sql"] for q in captured.captured_queries)


@pytest.mark.django_db
def test_a_downgraded_call_holds_against_its_fallback(caps, margins, now):
    record_spend(model="gpt-4o", usd=Decimal("10"), now=now, ts=now)
    decision = authorize("gpt-4o", Decimal("0.40"), now=now)
    assert (decision.decision, decision.model) == ("downgrade", "gpt-4o-mini")
    assert CapReservation.objects.get().model == "gpt-4o-mini"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("mode", "answer"), [("open", "allow"), ("closed", "throttle")])
def test_during_a_database_outage_the_fail_mode_answers_and_says_it_did_not_check(settings, mode, answer, now):
    settings.COST_FAIL_MODE = mode
    spend_cache.reset()
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())  # nothing listens there: the server is down
    try:
        decision = authorize("gpt-4o", now=now)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
    assert decision.decision == answer
    assert decision.to_dict()["checked"] is False
    assert "not checked" in decision.reason


# --- the race, on PostgreSQL -------------------------------------------------------------------------------


CLIENTS = 16
CALL = Decimal("0.05")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_clients_racing_to_a_cap_end_at_most_one_call_over(one_dollar_cap, now, settings):
    # A worker re-reads the shared counters only every COST_STATE_TTL_S: here never during the race,
    # so only the reservations stand between the racing clients and the cap.
    settings.COST_STATE_TTL_S = 3600
    spend_cache.reset()
    spend_cache.current(now)  # the cached copy, loaded once before the race

    def client(n):
        calls = 0
        for i in range(100):
            decision = authorize(MODEL, now=now)
            if decision.decision == "throttle":
                return calls
            record_spend(model=MODEL, usd=CALL, request_id=f"race-{n}-{i}", now=now, ts=now)
            calls += 1
        return calls

    calls = race(client, range(CLIENTS))
    spent = sum(SpendEntry.objects.filter(model=MODEL).values_list("usd_micros", flat=True))
    assert sum(calls) * 50_000 == spent
    assert 1_000_000 - 50_000 <= spent <= 1_050_000  # the cap is reached, and held within one call
    assert not CapReservation.objects.filter(model=MODEL).exists()  # every hold settled by its report


@pytest.mark.django_db
def test_the_admin_lists_open_holds_and_releases_them(one_dollar_cap, now, staff_with):
    authorize(MODEL, Decimal("0.05"), now=now)
    client = staff_with("costs.view_capreservation", "costs.delete_capreservation")
    page = client.get("/admin/costs/capreservation/")
    assert page.status_code == 200 and MODEL in page.content.decode()
    pk = CapReservation.objects.get().pk
    answer = client.post("/admin/costs/capreservation/", {"action": "release", "_selected_action": [pk]}, follow=True)
    assert "Released 1 hold(s)." in answer.content.decode()
    assert not CapReservation.objects.exists()
