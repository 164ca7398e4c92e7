"""The ops card's "Data kept": each retained table's rows, size, oldest row, keep and last prune, in
a fixed number of queries whatever the tables hold."""

import re
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from echopilot import housekeeping, table_stats
from ops import dashboard
from portal.models import AccessLog
from scaling.models import SignalSample
from slo.models import Rollup, Slo, SloTick

pytestmark = pytest.mark.django_db


def days_ago(days):
    return timezone.now() - timedelta(days=days)


def ticks(n, oldest_days):
    slo = Slo.objects.get_or_create(
        name="api",
        defaults={"service": "api", "p95_ms": 800, "p99_ms": 1200, "error_budget_pct": 1.0, "window_days": 30},
    )[0]
    SloTick.objects.bulk_create(
        SloTick(
            slo=slo,
            at=days_ago(oldest_days) + timedelta(minutes=i),
            requests=1,
            error_rate=0,
            burn=0,
            weekly_burn=0,
            burn_alert="none",
        )
        for i in range(n)
    )


def rows_in_several_tables(n, start=0):
    ticks(n, oldest_days=5)
    AccessLog.objects.bulk_create(
        AccessLog(ts=days_ago(3), action="download", outcome=AccessLog.ALLOWED, status=200) for _ in range(n)
    )
    Rollup.objects.bulk_create(
        Rollup(service="api", route=f"/r{start + i}", resolution=Rollup.MINUTE, start=days_ago(1)) for i in range(n)
    )
    SignalSample.objects.bulk_create(
        SignalSample(at=days_ago(2), source=SignalSample.Source.MEASURED, queue_depth=i) for i in range(n)
    )
    Session.objects.bulk_create(
        Session(session_key=f"k{start + i:039d}", session_data="x", expire_date=days_ago(-7)) for i in range(n)
    )


def row_of(html, name):
    match = re.search(rf'<tr id="retention-{name}"[^>]*>.*?</tr>', html, re.S)
    assert match, name
    return match.group(0)


def test_the_card_shows_each_tables_figures_and_marks_one_behind(admin_client, settings):
    settings.SLO_TICK_RETENTION_DAYS = 90
    ticks(3, oldest_days=92)
    AccessLog.objects.create(ts=days_ago(10), action="download", outcome=AccessLog.ALLOWED, status=200)
    call_command("prune", "--report")  # deletes nothing
    html = admin_client.get("/admin/").content.decode()
    assert '<div class="ep-scroll">\n<table id="retention-card">' in html
    for heading in ("Table", "Rows", "Size", "Oldest", "Keep", "Last prune"):
        assert f">{heading}</th>" in html
    slo_ticks = row_of(html, "slo-tick-history")
    oldest = SloTick.objects.order_by("at").first().at
    assert 'class="ep-state-warn"' in slo_ticks and "<strong>behind</strong>" in slo_ticks
    assert f'title="{oldest:%Y-%m-%d %H:%M} UTC">{oldest:%Y-%m-%d} · 92 d</span>' in slo_ticks
    assert '<td class="ep-num" title="SLO_TICK_RETENTION_DAYS"><span class="ep-nowrap">90 d</span></td>' in slo_ticks
    assert ">never<" in slo_ticks
    audit = row_of(html, "portal-access-audit")
    assert "ep-state-warn" not in audit and " · 10 d</span>" in audit and ">400 d<" in audit
    assert "no index on window_start" in row_of(html, "portal-rate-counters")
    assert "budget tick (15 min)" in row_of(html, "slo-rollups-hour")
    assert 'title="the same table as the line above">″</td>' in row_of(html, "slo-rollups-hour")


def test_after_a_prune_the_card_shows_when_it_ran_and_what_went(admin_client, settings):
    settings.SLO_TICK_RETENTION_DAYS = 90
    ticks(4, oldest_days=95)
    ticks(1, oldest_days=1)
    call_command("prune")
    html = admin_client.get("/admin/").content.decode()
    slo_ticks = row_of(html, "slo-tick-history")
    assert f'<span class="ep-nowrap">{timezone.now():%m-%d} ' in slo_ticks
    assert '<span class="ep-nowrap">4 deleted</span>' in slo_ticks
    assert "ep-state-warn" not in slo_ticks and " · 1 d</span>" in slo_ticks


def card_queries(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    with CaptureQueriesContext(connection) as queries:
        dashboard.card_context(request)
    return len(queries)


def test_the_cards_queries_are_as_many_with_1000_rows_as_with_10(admin_user, django_assert_max_num_queries):
    rows_in_several_tables(10)
    with django_assert_max_num_queries(4):
        housekeeping.retention_report()
    few = card_queries(admin_user)
    rows_in_several_tables(990, start=10)
    assert SloTick.objects.count() == AccessLog.objects.count() == 1000
    assert card_queries(admin_user) == few
    with django_assert_max_num_queries(4):
        report = {line.name: line for line in housekeeping.retention_report()}
    assert report["Portal access audit"].age_days == 3 and report["Scaling signal samples"].age_days == 2


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's row estimate and dbstat sizes")
def test_on_sqlite_rows_are_a_rowid_span_and_sizes_come_from_dbstat_while_the_file_is_small(monkeypatch):
    rows_in_several_tables(50)
    report = {line.name: line for line in housekeeping.retention_report()}
    assert report["SLO tick history"].rows == 50 and report["Portal rate counters"].rows == 0
    assert all(line.bytes > 0 for line in report.values() if not line.same_table)
    monkeypatch.setattr(table_stats, "DBSTAT_MAX_BYTES", 0)
    assert all(line.bytes is None for line in housekeeping.retention_report())


@pytest.mark.postgres
def test_on_postgresql_sizes_are_pg_total_relation_size():
    rows_in_several_tables(50)
    report = housekeeping.retention_report()
    assert all(line.bytes > 0 for line in report if not line.same_table)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('slo_slotick'), pg_total_relation_size('portal_accesslog')")
        ticks_bytes, audit_bytes = cursor.fetchone()
    lines = {line.table: line for line in report}
    assert (lines["slo_slotick"].bytes, lines["portal_accesslog"].bytes) == (ticks_bytes, audit_bytes)
    assert all(line.rows is not None and line.rows >= 0 for line in report)
