"""What the retained tables hold: each app declares its tables (`ConsoleApp.retained`), the kernel
measures them without reading them (`housekeeping.retention_report`, `manage.py prune --report`), and
the daily prune keeps its last run for that report."""

from datetime import timedelta

import orjson
import pytest
from django.apps import apps
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.utils import timezone

from echopilot import housekeeping, table_stats
from echopilot.models import HostClock, JobRun
from incidents.models import Delivery, DeliveryAttempt, Incident
from ops.models import UptimeCheck, UptimeResult
from portal.models import AccessLog, RateBucket, StripeEvent
from scaling.models import Decision, SignalSample
from slo.models import Rollup, Slo, SloTick

pytestmark = pytest.mark.django_db

# Every table a prune job keeps in check, by its line's name.
EXPECTED = {
    "Django sessions",
    "Queue task results (failures too)",
    "Resolved incidents",
    "Incident deliveries",
    "Delivery attempts",
    "SLO tick history",
    "SLO rollups, minute",
    "SLO rollups, hour",
    "SLO rollups, day",
    "Cost ledger",
    "Scaling signal samples",
    "Scaling decisions",
    "Portal access audit",
    "Stripe events",
    "Portal rate counters",
    "Uptime results",
    "Host clocks",
}
UNINDEXED = {
    "Queue task results (failures too)": "stopped",
    "Portal rate counters": "window_start",
}


def days_ago(days):
    return timezone.now() - timedelta(days=days)


def an_slo():
    return Slo.objects.get_or_create(
        name="api",
        defaults={"service": "api", "p95_ms": 800, "p99_ms": 1200, "error_budget_pct": 1.0, "window_days": 30},
    )[0]


def tick(at):
    return SloTick(slo=an_slo(), at=at, requests=1, error_rate=0, burn=0, weekly_burn=0, burn_alert="none")


def one_row_each(moment):
    """A row at `moment` in every retained table whose time column is indexed."""
    from costs.models import SpendEntry

    session = SessionStore()
    session.set_expiry(moment)
    session.save()
    delivery = Delivery.objects.create(channel="email", subject="s", body="b", created_at=moment)
    DeliveryAttempt.objects.create(delivery=delivery, number=1, at=moment)
    Incident.objects.create(
        fingerprint="f", severity="WARNING", source="s", message="m", status=Incident.RESOLVED, resolved_at=moment
    )
    tick(moment).save()
    for resolution in (Rollup.MINUTE, Rollup.HOUR, Rollup.DAY):
        Rollup.objects.create(service="api", route="*", resolution=resolution, start=moment)
    SpendEntry.objects.create(request_id="r1", day=moment.date(), ts=moment, usd_micros=1)
    SignalSample.objects.create(at=moment, source=SignalSample.Source.MEASURED, queue_depth=1)
    Decision.objects.create(at=moment, outcome="held", desired=1, actual=1, recommended=1, raw=1.0, reason="r")
    AccessLog.objects.create(ts=moment, action="download", outcome=AccessLog.ALLOWED, status=200)
    UptimeResult.objects.create(
        check_ref=UptimeCheck.objects.create(name="shop", target="127.0.0.1:1"), at=moment, ok=True, latency_ms=1
    )
    StripeEvent.objects.create(event_id="evt_1", type="checkout.session.completed", received=moment)
    HostClock.objects.create(host="web-a", role="web", offset_s=0.0, measured_at=moment, pid=1)


def by_name(report):
    return {line.name: line for line in report}


def test_every_retained_table_reports_its_oldest_rows_age_and_its_keep_setting(settings):
    moment = days_ago(2)
    one_row_each(moment)
    report = by_name(housekeeping.retention_report())
    assert set(report) == EXPECTED
    for name, line in report.items():
        assert line.keep_days == (getattr(settings, line.setting) if line.setting else line.keep_days), name
        if name in UNINDEXED:
            assert (line.oldest, line.unindexed) == (None, f"no index on {UNINDEXED[name]}"), name
        elif name == "Cost ledger":  # a cost day counts from its midnight
            assert line.oldest.date() == moment.date() and line.age_days == 2, name
        else:
            assert abs(line.oldest - moment) < timedelta(milliseconds=1) and line.age_days == 2, name
    assert report["SLO tick history"].keep_days == settings.SLO_TICK_RETENTION_DAYS == 90
    assert report["SLO rollups, minute"].keep_days == settings.SLO_MINUTE_RETENTION_DAYS
    assert report["Cost ledger"].setting == "COST_LEDGER_RETENTION_DAYS"
    # Only the session, whose expiry passed two days ago, has outlived its keep (until expiry) by a day.
    assert {name for name, line in report.items() if line.behind} == {"Django sessions"}
    assert report["Django sessions"].expires and not report["SLO tick history"].expires


def test_a_table_whose_oldest_row_is_past_its_retention_and_a_day_is_behind(settings):
    settings.SLO_TICK_RETENTION_DAYS = 90
    settings.PORTAL_ACCESS_LOG_RETENTION_DAYS = 400
    tick(days_ago(91.5)).save()
    AccessLog.objects.create(ts=days_ago(400.5), action="download", outcome=AccessLog.ALLOWED, status=200)
    report = by_name(housekeeping.retention_report())
    ticks, audit = report["SLO tick history"], report["Portal access audit"]
    assert (ticks.behind, ticks.age_days, ticks.keep_days) == (True, 91, 90)
    assert (audit.behind, audit.age_days, audit.keep_days) == (False, 400, 400)  # a day late is not yet behind
    settings.SLO_TICK_RETENTION_DAYS = 91
    assert not by_name(housekeeping.retention_report())["SLO tick history"].behind


def test_every_table_console_prune_deletes_from_is_reported():
    reported = {line.key for line in housekeeping.retention_report()}
    assert set(housekeeping.run_prune()) <= reported


def test_an_index_counts_only_when_it_starts_with_the_filter_then_the_time_column():
    from costs.models import SpendEntry

    assert table_stats.has_time_index(Rollup, "start", ["resolution"])
    assert not table_stats.has_time_index(Rollup, "start")  # (resolution, start): start alone is not its head
    assert table_stats.has_time_index(SpendEntry, "day")  # (day, kind, model)
    assert table_stats.has_time_index(SloTick, "at")
    assert table_stats.has_time_index(StripeEvent, "received")
    assert table_stats.has_time_index(Incident, "resolved_at", ["status"])  # (status, resolved_at)
    assert not table_stats.has_time_index(Incident, "resolved_at")
    assert not table_stats.has_time_index(RateBucket, "window_start")


def test_the_report_takes_at_most_four_queries(django_assert_max_num_queries):
    one_row_each(days_ago(1))
    with django_assert_max_num_queries(4):
        housekeeping.retention_report()


def test_the_daily_prune_keeps_its_run_and_the_report_shows_it(settings, log_dir):
    settings.SLO_TICK_RETENTION_DAYS = 90
    tick(days_ago(95)).save()
    tick(days_ago(1)).save()
    assert by_name(housekeeping.retention_report())["SLO tick history"].last_prune is None
    call_command("prune")
    run = JobRun.objects.get(name="console_prune")
    assert run.outcome == JobRun.Outcome.OK and run.result["deleted"]["slo.slotick"] == 1
    assert run.summary.startswith("1 rows deleted from ")
    line = by_name(housekeeping.retention_report())["SLO tick history"]
    assert (line.last_prune, line.last_deleted, line.prune_failed, line.behind) == (run.started, 1, False, False)
    [event] = [orjson.loads(raw) for raw in (log_dir / "housekeeping.ndjson").read_bytes().splitlines()]
    assert event["job"] == "console_prune" and event["result"]["deleted"]["slo.slotick"] == 1
    # A table another job prunes says which, not console_prune's figures.
    minute = by_name(housekeeping.retention_report())["SLO rollups, minute"]
    assert (minute.pruned_by, minute.last_prune) == ("budget tick (15 min)", None)


def broken_prune(now):
    raise RuntimeError("disk on fire")


def test_a_failed_prune_is_kept_as_failed_and_the_others_still_prune(settings, monkeypatch):
    monkeypatch.setattr(apps.get_app_config("slo"), "prune", f"{__name__}.broken_prune")
    AccessLog.objects.create(ts=days_ago(500), action="download", outcome=AccessLog.ALLOWED, status=200)
    with pytest.raises(RuntimeError, match="disk on fire"):
        call_command("prune")
    assert not AccessLog.objects.exists()
    run = JobRun.objects.get(name="console_prune")
    assert run.outcome == JobRun.Outcome.FAILED and "slo: RuntimeError: disk on fire" in run.summary
    report = by_name(housekeeping.retention_report())
    assert report["SLO tick history"].prune_failed and not report["Portal access audit"].prune_failed
    assert report["Portal access audit"].last_deleted == 1


def test_prune_report_prints_every_table_and_deletes_nothing(settings, capsys):
    settings.SLO_TICK_RETENTION_DAYS = 90
    tick(days_ago(100)).save()
    call_command("prune", "--report")
    out = capsys.readouterr().out
    assert SloTick.objects.count() == 1 and not JobRun.objects.exists()
    header, *lines = out.splitlines()
    assert header.split() == ["table", "rows", "size", "oldest", "(UTC)", "keep", "last", "prune", "(UTC)"]
    ticks = next(line for line in lines if line.startswith("SLO tick history"))
    assert "(100 d) BEHIND" in ticks and " 90 d " in ticks and "never" in ticks
    assert all(any(line.startswith(name) for line in lines) for name in EXPECTED)
    assert lines[-1] == "behind (oldest row past its retention plus a day): SLO tick history"
