"""Silences keep incidents but stop pages; an alert storm is capped at N pages a minute plus one summary."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents import pager, raise_incident
from incidents.models import Delivery, Incident
from incidents.services import silence

pytestmark = pytest.mark.django_db


def test_silence_stops_pages_but_keeps_the_incident(telegram):
    now = timezone.now()
    quiet = silence(source="batch", hours=1, by="alice", now=now)
    result = raise_incident("CRITICAL", "nightly export failed", "batch", now=now)
    assert result.created and result.incident.silenced_by == quiet
    assert Incident.objects.count() == 1
    assert not Delivery.objects.exists()
    # Another source is not covered by this silence.
    raise_incident("CRITICAL", "db down", "db", now=now)
    assert Delivery.objects.count() == 1


def test_an_expired_silence_pages_again(telegram):
    now = timezone.now()
    silence(fingerprint="fp-x", hours=1, now=now)
    raise_incident("CRITICAL", "x", "y", fingerprint="fp-x", now=now)
    assert not Delivery.objects.exists()
    raise_incident("CRITICAL", "x", "y", fingerprint="fp-x", now=now + timedelta(hours=3))
    assert Delivery.objects.count() == 1


def test_silence_by_severity(telegram):
    silence(severity="critical", hours=24)
    raise_incident("CRITICAL", "anything", "anywhere")
    assert not Delivery.objects.exists()


def test_a_silence_needs_a_scope():
    with pytest.raises(ValidationError):
        silence(hours=1)


def test_storm_is_capped_and_summarised_in_one_page(telegram, settings):
    settings.PAGER_STORM_MAX_PER_MIN = 3
    now = timezone.now()
    for n in range(8):
        raise_incident("CRITICAL", f"service {chr(97 + n)} down", "storm", now=now + timedelta(seconds=n))
    pages = Delivery.objects.filter(kind=Delivery.PAGE)
    assert pages.exclude(status=Delivery.CAPPED).count() == 3
    assert pages.filter(status=Delivery.CAPPED).count() == 5
    summary = Delivery.objects.get(kind=Delivery.STORM)
    assert pager.send_due(now=now + timedelta(seconds=30)) == {"sent": 3}
    assert pager.send_due(now=now + timedelta(seconds=64)) == {"sent": 1}
    summary.refresh_from_db()
    assert summary.subject.startswith("5 more incidents")
    assert len(telegram.requests) == 4
    assert "5 more incidents" in telegram.requests[-1]["json"]["text"]
    # A minute later the budget is back.
    raise_incident("CRITICAL", "fresh trouble", "later", now=now + timedelta(minutes=2))
    assert Delivery.objects.filter(kind=Delivery.PAGE).latest("pk").status == Delivery.PENDING


def test_page_again_sends_on_every_configured_channel(telegram, smtp):
    incident = raise_incident("ERROR", "not normally paged", "x").incident
    assert not Delivery.objects.exists()
    assert pager.page_again(Incident.objects.filter(pk=incident.pk)) == 2
    assert set(Delivery.objects.values_list("kind", flat=True)) == {Delivery.REPAGE}


def test_storm_summary_is_scheduled_for_the_end_of_the_minute(telegram, settings):
    from django_q.models import Schedule

    settings.PAGER_STORM_MAX_PER_MIN = 1
    now = timezone.now()
    raise_incident("CRITICAL", "first", "a", now=now)
    raise_incident("CRITICAL", "second", "b", now=now)
    summary = Delivery.objects.get(kind=Delivery.STORM)
    job = Schedule.objects.get(func="incidents.tasks.send_deliveries")
    assert job.schedule_type == Schedule.ONCE and job.next_run == summary.next_attempt_at == now + timedelta(minutes=1)
    assert f"[{summary.pk}]" in job.args
