"""authorize: the thresholds at their edges, the fallback chain, overrides, the day boundary."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
from django.db.models import F

from costs import authorize, spend_cache
from costs.models import CapOverride, CostCap, CostConfig
from costs.services import record_spend, set_cap

pytestmark = pytest.mark.django_db


def spend(model, usd, now, rid=None):
    return record_spend(model=model, usd=Decimal(usd), request_id=rid, now=now, ts=now)


def test_below_90_percent_of_a_model_cap_is_allowed(caps, now):
    spend("gpt-4o", "8.999", now)  # 89.99% of $10
    decision = authorize("gpt-4o", now=now)
    assert decision.decision == "allow"
    assert decision.model == "gpt-4o"


def test_exactly_90_percent_warns(caps, now):
    spend("gpt-4o", "9.000", now)
    decision = authorize("gpt-4o", now=now)
    assert decision.decision == "warn"
    assert decision.utilization_pct == 90.0


def test_exactly_100_percent_without_usable_fallback_throttles_until_midnight(caps, now):
    set_cap("model", "0", "gpt-4.1-nano", now=now)  # the only fallback is shut
    spend("gpt-4o-mini", "5", now)  # exactly 100% of $5
    decision = authorize("gpt-4o-mini", now=now)
    assert decision.decision == "throttle"
    assert decision.utilization_pct == 100.0
    assert decision.retry_after == datetime(2026, 3, 11, tzinfo=dt_timezone.utc)


def test_the_answer_to_a_report_is_the_decision_after_it(caps, now):
    assert spend("gpt-4o", "8.99", now).decision.decision == "allow"
    assert spend("gpt-4o", "0.01", now).decision.decision == "warn"


def test_estimated_cost_that_would_cross_the_cap_counts(caps, now):
    spend("gpt-4o-mini", "4.50", now)  # 90%: warn on its own
    set_cap("model", "0", "gpt-4.1-nano", now=now)  # the fallback is shut, so no downgrade either
    assert authorize("gpt-4o-mini", now=now).decision == "warn"
    assert authorize("gpt-4o-mini", Decimal("0.50"), now=now).decision == "throttle"


def test_model_at_its_cap_downgrades_to_its_fallback(caps, now):
    spend("gpt-4o", "10", now)
    decision = authorize("gpt-4o", now=now)
    assert (decision.decision, decision.model, decision.requested_model) == ("downgrade", "gpt-4o-mini", "gpt-4o")


def test_a_capped_fallback_is_skipped_for_the_next_in_the_chain(caps, now):
    spend("gpt-4o", "10", now)
    spend("gpt-4o-mini", "5", now)  # the first fallback is itself at 100%
    decision = authorize("gpt-4o", now=now)
    assert (decision.decision, decision.model) == ("downgrade", "gpt-4.1-nano")


def test_throttles_when_every_fallback_is_at_its_cap(caps, now):
    set_cap("model", "1", "gpt-4.1-nano", now=now)
    spend("gpt-4o", "10", now)
    spend("gpt-4o-mini", "5", now)
    spend("gpt-4.1-nano", "1", now)
    decision = authorize("gpt-4o", now=now)
    assert decision.decision == "throttle"
    assert "gpt-4o-mini" in decision.reason and "gpt-4.1-nano" in decision.reason


def test_a_loop_in_the_fallbacks_ends_in_throttle_not_a_hang(caps, now):
    from costs.models import ModelFallback

    ModelFallback.objects.filter(model="gpt-4o-mini").update(fallback="gpt-4o")
    spend_cache.bump_version()
    spend("gpt-4o", "10", now)
    spend("gpt-4o-mini", "5", now)
    assert authorize("gpt-4o", now=now).decision == "throttle"


def test_global_cap_reached_throttles_even_with_a_free_fallback(caps, now):
    set_cap("daily", "20", now=now)
    spend("some-other-model", "20", now)
    decision = authorize("gpt-4o", now=now)
    assert decision.decision == "throttle"
    assert "global" in decision.reason
    assert decision.retry_after == datetime(2026, 3, 11, tzinfo=dt_timezone.utc)


def test_90_percent_of_the_global_cap_warns_every_model(caps, now):
    spend("some-other-model", "90", now)
    assert authorize("gpt-4o", now=now).decision == "warn"
    assert authorize("never-seen", Decimal("0.01"), now=now).decision == "warn"  # unpriced: sends its amount


def test_an_override_lets_a_capped_model_through_until_it_ends(caps, now):
    spend("gpt-4o-mini", "5", now)
    set_cap("model", "0", "gpt-4.1-nano", now=now)
    CapOverride.objects.create(scope="model", key="gpt-4o-mini", until=now + timedelta(hours=2), reason="launch day")
    during = authorize("gpt-4o-mini", now=now + timedelta(hours=1))
    assert during.decision == "allow"
    assert during.override_until == now + timedelta(hours=2)
    assert authorize("gpt-4o-mini", now=now + timedelta(hours=2, minutes=1)).decision == "throttle"


def test_the_day_boundary_follows_cost_timezone(caps, settings):
    settings.COST_TIMEZONE = "Asia/Kolkata"  # UTC+5:30, so the cost day turns at 18:30 UTC
    before = datetime(2026, 3, 10, 18, 29, tzinfo=dt_timezone.utc)
    after = datetime(2026, 3, 10, 18, 31, tzinfo=dt_timezone.utc)
    set_cap("model", "0", "gpt-4.1-nano", now=before)
    result = record_spend(model="gpt-4o-mini", usd=Decimal(5), ts=before, now=before)
    assert result.day.isoformat() == "2026-03-10"
    throttled = authorize("gpt-4o-mini", now=before)
    assert throttled.decision == "throttle"
    assert throttled.retry_after == datetime(2026, 3, 10, 18, 30, tzinfo=dt_timezone.utc)
    assert authorize("gpt-4o-mini", now=after).decision == "allow"
    late = record_spend(model="gpt-4o-mini", usd=Decimal(1), ts=after, now=after)
    assert late.day.isoformat() == "2026-03-11"


def test_a_cap_edit_applies_to_the_next_decision(caps, now):
    spend("gpt-4o", "5", now)
    assert authorize("gpt-4o", now=now).decision == "allow"
    set_cap("model", "5.5", "gpt-4o", now=now)
    assert authorize("gpt-4o", now=now).decision == "warn"


def test_spend_reported_by_another_worker_is_seen_after_the_ttl(caps, now, settings):
    from costs.models import DailyCounter

    settings.COST_STATE_TTL_S = 0
    authorize("gpt-4o", now=now)
    # Another process's committed report, as this process sees it: only in the database.
    DailyCounter.objects.create(day=now.date(), scope="model", key="gpt-4o", usd_micros=9_500_000, reports=1)
    assert authorize("gpt-4o", now=now).decision == "warn"


def test_a_daily_row_left_by_a_worker_from_before_the_upgrade_is_not_counted_twice(caps, now, settings):
    """Until every worker is restarted after migration 0007, old ones still add each AI report to a
    "daily" row as well as to its model's row: the model rows alone are all AI spend."""
    from costs.forecast import forecast
    from costs.models import DailyCounter
    from costs.services import status

    settings.COST_STATE_TTL_S = 0
    spend("gpt-4o", "4", now)
    DailyCounter.objects.create(day=now.date(), scope="daily", key="", shard=7, usd_micros=4_000_000, reports=1)
    by_key = {(c["scope"], c["key"]): c for c in status(now=now)["caps"]}
    assert by_key[("daily", "")]["spent_usd"] == Decimal("4")
    DailyCounter.objects.update(day=now.date() - timedelta(days=1))  # yesterday, for the forecast's history
    outlook = forecast(now=now)
    assert outlook["total"]["daily_usd"][0] == 4.0 * 1.2  # one day of history: flat, plus the 20% buffer
    assert outlook["budget"]["month_to_date_usd"] == 4.0


def test_shards_written_by_other_workers_add_up(caps, now, settings):
    from costs.models import DailyCounter
    from costs.services import status

    settings.COST_STATE_TTL_S = 0
    spend("gpt-4o", "4", now)
    mine = DailyCounter.objects.get(scope="model", key="gpt-4o").shard
    other = (mine + 1) % settings.COST_COUNTER_SHARDS
    DailyCounter.objects.create(
        day=now.date(), scope="model", key="gpt-4o", shard=other, usd_micros=5_000_000, reports=1
    )
    assert authorize("gpt-4o", now=now).decision == "warn"  # $4 + $5 of $10
    by_key = {(c["scope"], c["key"]): c for c in status(now=now)["caps"]}
    assert by_key[("model", "gpt-4o")]["spent_usd"] == Decimal("9")
    assert by_key[("daily", "")]["spent_usd"] == Decimal("9")
    assert spend("gpt-4o", "1", now).decision.decision == "downgrade"  # this worker's shard + the other's


def test_a_refresh_is_one_query_while_the_configuration_stands(caps, now, settings, django_assert_num_queries):
    # Every web worker refreshes every COST_STATE_TTL_S: the version and the day's counters come in
    # one round trip, and the caps, prices and fallbacks are read again only after an edit.
    settings.COST_STATE_TTL_S = 0
    spend("gpt-4o", "2", now)
    with django_assert_num_queries(1):
        assert authorize("gpt-4o", now=now).utilization_pct == 20.0
    # An admin's edit made through another worker: the cap row and the version, in the database only.
    CostCap.objects.filter(scope="model", key="gpt-4o").update(usd_cap=Decimal(4))
    CostConfig.objects.filter(pk=1).update(version=F("version") + 1)
    with django_assert_num_queries(5):  # the version moved: caps, fallbacks, overrides, prices too
        assert authorize("gpt-4o", now=now).utilization_pct == 50.0
