"""Races on PostgreSQL with real threads: one send per delivery, the storm cap, pacing across senders,
escalation, an acknowledge link."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import pager, raise_incident, services
from incidents.links import AckRefused
from incidents.models import Delivery, Incident
from tests.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_ten_senders_of_one_delivery_send_it_once(telegram):
    raise_incident("CRITICAL", "db down", "db")
    delivery_id = Delivery.objects.get().pk
    race(lambda i: pager.deliver(delivery_id), range(10))
    assert len(telegram.requests) == 1
    assert Delivery.objects.get().status == Delivery.SENT


def test_storm_cap_holds_under_concurrent_raises(telegram, settings):
    settings.PAGER_STORM_MAX_PER_MIN = 5
    race(lambda i: raise_incident("CRITICAL", f"service {chr(65 + i)} down", f"svc-{i}"), range(30))
    pages = Delivery.objects.filter(kind=Delivery.PAGE)
    assert pages.count() == 30
    assert pages.exclude(status=Delivery.CAPPED).count() == 5
    assert Delivery.objects.filter(kind=Delivery.STORM).count() == 1


def test_parallel_senders_share_one_telegram_pace(telegram, settings):
    settings.TELEGRAM_MIN_INTERVAL_S = 0.3
    for i in range(4):
        raise_incident("CRITICAL", f"problem {chr(65 + i)}", f"svc-{i}")
    ids = list(Delivery.objects.values_list("pk", flat=True))
    race(pager.deliver, ids)
    times = sorted(r["at"] for r in telegram.requests)
    assert len(times) == 4
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.25


def test_concurrent_more_severe_repeats_escalate_once_and_page_once(telegram):
    raise_incident("INFO", "m", "api", fingerprint="F")
    race(lambda i: raise_incident("CRITICAL", "m", "api", fingerprint="F"), range(20))
    incident = Incident.objects.get()
    assert (incident.severity, incident.count) == ("CRITICAL", 21)
    assert Delivery.objects.count() == 1


def test_concurrent_raises_of_mixed_severities_end_at_the_highest_with_one_page(telegram):
    severities = ["INFO", "WARNING", "ERROR", "CRITICAL"] * 5
    race(lambda severity: raise_incident(severity, "m", "api", fingerprint="G"), severities)
    incident = Incident.objects.get()
    assert (incident.severity, incident.count) == ("CRITICAL", 20)
    assert Delivery.objects.count() == 1


def test_concurrent_repeats_of_a_long_firing_alert_join_one_incident_with_one_reminder(telegram):
    now = timezone.now()
    raise_incident("CRITICAL", "queue stuck", "worker", fingerprint="R", now=now - timedelta(hours=4))
    race(lambda i: raise_incident("CRITICAL", "queue stuck", "worker", fingerprint="R", now=now), range(12))
    incident = Incident.objects.get()
    assert incident.count == 13
    assert Delivery.objects.filter(kind=Delivery.REPAGE).count() == 1


def test_ten_clicks_on_one_acknowledge_link_use_it_once(webhook):
    raise_incident("CRITICAL", "checkout down", "web")
    pager.send_due()
    token = webhook.requests[-1]["json"]["acknowledge_url"].rsplit("/", 1)[1]

    def click(_):
        try:
            return services.acknowledge_by_link(token).status
        except AckRefused:
            return "refused"

    outcomes = race(click, range(10))
    assert sorted(outcomes) == ["acknowledged"] + ["refused"] * 9
    assert Incident.objects.get().acknowledged_by == "webhook link"
