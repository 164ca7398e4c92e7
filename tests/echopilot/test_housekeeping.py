"""Data kept as long as it is useful: `manage.py prune` (the daily console_prune job) deletes what
has outlived its retention setting in every app, and keeps everything younger."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone
from django_q.models import Schedule, Task

from costs import services as costs_services
from costs.models import DailyCounter, SpendEntry
from echopilot.registry import sync_schedules
from incidents import raise_incident, resolve_incident
from incidents.models import Delivery, DeliveryAttempt, Incident
from portal.models import AccessLog, StripeEvent
from slo.models import Slo, SloTick

pytestmark = pytest.mark.django_db


def days_ago(days):
    return timezone.now() - timedelta(days=days)


def prune(capsys):
    call_command("prune")
    return dict(line.removesuffix(" deleted").rsplit(": ", 1) for line in capsys.readouterr().out.splitlines())


def test_the_ledger_loses_old_rows_and_keeps_every_days_total_exact(settings, capsys):
    settings.COST_LEDGER_RETENTION_DAYS = 90
    for i, (age, usd) in enumerate([(120, "1.25"), (120, "2.50"), (100, "0.75"), (10, "4.00")]):
        moment = days_ago(age)
        costs_services.record_spend(model="gpt-4o-mini", usd=usd, request_id=f"r{i}", ts=moment, now=moment)
    totals = dict(DailyCounter.objects.values_list("day").annotate(t=Sum("usd_micros")).order_by())
    assert prune(capsys)["costs.spendentry"] == "3"
    assert list(SpendEntry.objects.values_list("request_id", flat=True)) == ["r3"]
    assert dict(DailyCounter.objects.values_list("day").annotate(t=Sum("usd_micros")).order_by()) == totals
    assert sorted(totals.values()) == [750_000, 3_750_000, 4_000_000]


def test_the_access_audit_and_stripe_events_go_after_their_periods(settings):
    settings.PORTAL_ACCESS_LOG_RETENTION_DAYS = 400
    settings.STRIPE_EVENT_RETENTION_DAYS = 400
    for age in (401, 399):
        AccessLog.objects.create(ts=days_ago(age), action="download", outcome=AccessLog.ALLOWED, status=200)
        StripeEvent.objects.create(event_id=f"evt_{age}", type="checkout.session.completed", received=days_ago(age))
    call_command("prune")
    assert AccessLog.objects.count() == 1 and AccessLog.objects.get().ts < days_ago(398)
    assert list(StripeEvent.objects.values_list("event_id", flat=True)) == ["evt_399"]


def test_slo_ticks_older_than_the_retention_go(settings):
    settings.SLO_TICK_RETENTION_DAYS = 90
    slo = Slo.objects.create(name="api", service="api", p95_ms=800, p99_ms=1200, error_budget_pct=1.0, window_days=30)
    for age in (91, 89):
        SloTick.objects.create(
            slo=slo, at=days_ago(age), requests=1, error_rate=0, burn=0, weekly_burn=0, burn_alert="none"
        )
    call_command("prune")
    assert SloTick.objects.count() == 1 and SloTick.objects.get().at > days_ago(90)


def test_resolved_incidents_go_with_their_deliveries_and_attempts_open_ones_stay(settings):
    settings.INCIDENT_RETENTION_DAYS = 180
    long_ago = days_ago(200)
    raise_incident("CRITICAL", "old and resolved", "db", fingerprint="old", now=long_ago)
    raise_incident("CRITICAL", "old and still open", "db", fingerprint="open", now=long_ago)
    raise_incident("CRITICAL", "recently resolved", "db", fingerprint="recent", now=days_ago(10))
    resolve_incident("old", now=long_ago + timedelta(hours=1))
    resolve_incident("recent", now=days_ago(9))
    old = Incident.objects.get(fingerprint="old")
    delivery = Delivery.objects.create(incident=old, channel="email", subject="s", body="b", status=Delivery.SENT)
    DeliveryAttempt.objects.create(delivery=delivery, number=1, ok=True, status="250", at=long_ago)
    Delivery.objects.create(channel="email", kind=Delivery.DIGEST, subject="d", body="b", created_at=long_ago)
    Delivery.objects.filter(kind=Delivery.DIGEST).update(status=Delivery.SENT)
    call_command("prune")
    assert sorted(Incident.objects.values_list("fingerprint", flat=True)) == ["open", "recent"]
    assert not Delivery.objects.filter(incident__isnull=True, kind=Delivery.DIGEST).exists()
    assert not DeliveryAttempt.objects.filter(delivery_id=delivery.pk).exists()
    assert not Delivery.objects.filter(pk=delivery.pk).exists()


def test_expired_sessions_and_old_queue_results_go(settings):
    settings.QUEUE_TASK_RETENTION_DAYS = 30
    expired, live = SessionStore(), SessionStore()
    expired.set_expiry(days_ago(1))
    expired.save()
    live.save()
    for age, ok in ((31, False), (31, True), (29, False)):
        Task.objects.create(
            id=f"t{age}{ok}",
            name=f"t{age}{ok}",
            func="math.floor",
            started=days_ago(age),
            stopped=days_ago(age),
            success=ok,
        )
    call_command("prune")
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
    assert list(Task.objects.values_list("name", flat=True)) == ["t29False"]


def test_one_daily_prune_job_is_scheduled():
    sync_schedules()
    job = Schedule.objects.get(name="console_prune")
    assert (job.func, job.schedule_type) == ("echopilot.tasks.prune_tick", Schedule.DAILY)
    assert (job.next_run.hour, job.next_run.minute) == (3, 15)
