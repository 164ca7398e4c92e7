from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string

from echopilot.models import JobRun
from portal import retention
from portal.dashboard import card_context
from portal.models import ActiveDay, RetentionDay

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 31, 0, 5, tzinfo=UTC)  # the job's run on the 31st counts the 30th


def at(day: int, hour: int = 12) -> str:
    return datetime(2026, 3, day, hour, tzinfo=UTC).isoformat()


def known_series() -> list[dict]:
    """Users 0-9 active every day of March 1-30; users 100+d once, on day d; user "weekly" on the
    1st, 8th, 15th, 22nd and 29th."""
    events = [{"user_id": f"u{u}", "ts": at(d)} for d in range(1, 31) for u in range(10)]
    events += [{"user_id": f"u{100 + d}", "ts": at(d, 23)} for d in range(1, 31)]
    events += [{"user_id": "weekly", "ts": at(d)} for d in (1, 8, 15, 22, 29)]
    return events


def counts(day: int) -> tuple[int, int, int]:
    row = RetentionDay.objects.get(day=date(2026, 3, day))
    return row.dau, row.wau, row.mau


def test_dau_wau_mau_of_a_known_series():
    retention.record_activity(known_series(), now=NOW)

    retention.aggregate(now=NOW)

    # Day 29: 10 regulars + u129 + weekly; the 7 days 23-29: 10 + 7 one-offs + weekly;
    # the 30 days ending the 29th (Feb 28 - Mar 29): 10 + 29 one-offs + weekly.
    assert counts(29) == (12, 18, 40)
    # Day 30: the weekly user was last seen on the 29th; the window ending the 30th holds days 1-30.
    assert counts(30) == (11, 18, 41)
    # Day 3: WAU covers days 1-3 only (nothing before March).
    assert counts(3) == (11, 14, 14)
    assert RetentionDay.objects.count() == 30


def test_the_same_user_twice_a_day_counts_once():
    retention.record_activity([{"user_id": "a", "ts": at(30, 1)}, {"user_id": "a", "ts": at(30, 22)}], now=NOW)
    retention.record_activity([{"user_id": "a", "ts": at(30, 23)}], now=NOW)
    retention.aggregate(now=NOW)
    assert counts(30) == (1, 1, 1)


def test_late_events_mark_the_days_they_touch_and_the_next_run_recounts_them():
    retention.record_activity(known_series(), now=NOW)
    retention.aggregate(now=NOW)
    later = NOW + timedelta(hours=5)

    stored = retention.record_activity([{"user_id": "late", "ts": at(10)}], now=later)

    assert stored["late_days"] == ["2026-03-10"]
    stale = set(RetentionDay.objects.filter(stale=True).values_list("day", flat=True))
    assert stale == {date(2026, 3, d) for d in range(10, 31)}  # every day whose 30-day window holds the 10th
    result = retention.aggregate(now=later)
    assert result["days"] == [f"2026-03-{d:02d}" for d in range(10, 31)]
    assert counts(10)[0] == 12 and counts(16)[1] == 19 and counts(30)[2] == 42
    assert not RetentionDay.objects.filter(stale=True).exists()


def test_a_second_run_with_nothing_new_counts_nothing():
    retention.record_activity(known_series(), now=NOW)
    retention.aggregate(now=NOW)
    assert retention.aggregate(now=NOW)["days"] == []


def test_the_api_takes_a_batch_and_answers_the_series(client, admin_key, analyst_key):
    body = {"events": [{"user_id": "u1", "ts": "2026-03-29T10:00:00Z"}, {"user_id": 7, "ts": "2026-03-30T10:00:00Z"}]}

    answer = client.post("/api/analytics/activity", body, content_type="application/json", HTTP_X_DASH_KEY=admin_key)

    assert answer.status_code == 200 and answer.json()["accepted"] == 2
    call_command("aggregate_retention")
    series = client.get("/api/analytics/retention?days=400", HTTP_X_DASH_KEY=analyst_key).json()["series"]
    by_day = {row["day"]: row for row in series}
    assert by_day["2026-03-30"]["dau"] == 1 and by_day["2026-03-30"]["wau"] == 2
    assert JobRun.objects.get(name="retention").outcome == JobRun.Outcome.OK


def test_a_batch_with_one_bad_event_is_refused_whole_naming_it(api):
    good = [{"user_id": f"u{n}", "ts": "2026-03-29T10:00:00Z"} for n in range(50)]
    bad = good + [{"user_id": "x", "ts": "yesterday"}] + good

    answer = api.post("/api/analytics/activity", bad, content_type="application/json")

    assert answer.status_code == 400 and "events[50].ts" in answer.json()["fields"]
    assert not ActiveDay.objects.exists()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"ts": "2026-03-29T10:00:00Z"}, "events[0].user_id"),
        ({"user_id": "", "ts": "2026-03-29T10:00:00Z"}, "events[0].user_id"),
        ({"user_id": True, "ts": "2026-03-29T10:00:00Z"}, "events[0].user_id"),
        ({"user_id": "a"}, "events[0].ts"),
        ({"user_id": "a", "ts": "2999-01-01T00:00:00Z"}, "events[0].ts"),
        ("not an object", "events[0]"),
    ],
)
def test_each_bad_event_is_named(api, event, field):
    answer = api.post("/api/analytics/activity", [event], content_type="application/json")
    assert answer.status_code == 400 and field in answer.json()["fields"]


def test_a_batch_over_the_limit_is_refused(api, settings):
    settings.ANALYTICS_BATCH_MAX = 10_000
    events = [{"user_id": "u", "ts": "2026-03-29T10:00:00Z"}] * 10_001
    answer = api.post("/api/analytics/activity", {"events": events}, content_type="application/json")
    assert answer.status_code == 400 and "10,000" in answer.json()["fields"]["events"]
    assert (
        api.post("/api/analytics/activity", {"events": events[:10_000]}, content_type="application/json").status_code
        == 200
    )


def test_an_analyst_may_read_but_not_post(analyst_api):
    assert analyst_api.get("/api/analytics/retention").status_code == 200
    answer = analyst_api.post("/api/analytics/activity", [], content_type="application/json")
    assert answer.status_code == 403


def test_retention_days_out_of_range_is_a_400(analyst_api):
    answer = analyst_api.get("/api/analytics/retention?days=0")
    assert answer.status_code == 400 and "days" in answer.json()["fields"]


def test_the_portal_card_draws_the_chart_as_inline_svg():
    retention.record_activity(known_series(), now=NOW)
    retention.aggregate(now=NOW)

    html = render_to_string("portal/retention_chart.html", {"retention": retention.chart(30, now=NOW)})

    assert '<svg id="portal-retention"' in html and html.count("<polyline") == 3
    assert "DAU 11" in html and "MAU 41" in html and "<script" not in html


def test_the_card_says_how_to_start_without_data(rf):
    context = card_context(rf.get("/admin/"))
    assert "No activity counted yet" in render_to_string("portal/retention_chart.html", context)
