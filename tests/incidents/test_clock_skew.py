"""Hosts whose clocks disagree share one clock for the pager: the database's (PostgreSQL)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import channels, pager, raise_incident
from incidents.models import ChannelState, Delivery

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

REAL_NOW = timezone.now


@pytest.fixture
def host_clock(monkeypatch):
    """host_clock(seconds): from now on this process's clock runs `seconds` off the database's."""

    def skew(seconds):
        monkeypatch.setattr(timezone, "now", lambda: REAL_NOW() + timedelta(seconds=seconds))

    return skew


def test_a_worker_whose_clock_runs_ahead_does_not_take_over_a_page_still_being_sent(telegram, host_clock):
    raise_incident("CRITICAL", "db down", "db")
    delivery = Delivery.objects.get(channel="telegram")
    assert pager.claim(delivery.pk) is not None  # a worker on time is sending it
    host_clock(200)
    assert pager.claim(delivery.pk) is None
    assert pager.due_ids() == []
    assert pager.send_due() == {}
    assert telegram.requests == []


def test_a_page_raised_on_a_web_host_ahead_is_sent_at_once_by_a_worker_on_time(telegram, host_clock):
    host_clock(90)
    raise_incident("CRITICAL", "payments down", "billing")
    host_clock(0)
    delivery = pager.deliver(Delivery.objects.get(channel="telegram").pk)
    assert delivery is not None and delivery.status == Delivery.SENT
    assert len(telegram.requests) == 1


def test_a_sender_ahead_does_not_push_the_shared_telegram_slot_forward(host_clock, settings):
    settings.TELEGRAM_MIN_INTERVAL_S = 1.0
    host_clock(200)
    channels.pace(sleep=lambda s: None)
    host_clock(0)
    slept = []
    channels.pace(sleep=slept.append)
    assert slept and slept[0] <= 1.0, "the next sender waits one interval, not the other host's skew"
    state = ChannelState.objects.get(name="telegram")
    assert state.next_send_at <= REAL_NOW() + timedelta(seconds=2.5)
