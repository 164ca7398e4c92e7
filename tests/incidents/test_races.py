"""Races on PostgreSQL with real threads: one send per delivery, the storm cap, pacing across senders."""
import threading

import pytest
from django.db import connection

from incidents import pager, raise_incident
from incidents.models import Delivery

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(n, fn):
    barrier = threading.Barrier(n)
    errors = []

    def run(i):
        try:
            barrier.wait()
            fn(i)
        except Exception as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_ten_senders_of_one_delivery_send_it_once(telegram):
    raise_incident("CRITICAL", "db down", "db")
    delivery_id = Delivery.objects.get().pk
    assert race(10, lambda i: pager.deliver(delivery_id)) == []
    assert len(telegram.requests) == 1
    assert Delivery.objects.get().status == Delivery.SENT


def test_storm_cap_holds_under_concurrent_raises(telegram, settings):
    settings.PAGER_STORM_MAX_PER_MIN = 5
    assert race(30, lambda i: raise_incident("CRITICAL", f"service {chr(65 + i)} down", f"svc-{i}")) == []
    pages = Delivery.objects.filter(kind=Delivery.PAGE)
    assert pages.count() == 30
    assert pages.exclude(status=Delivery.CAPPED).count() == 5
    assert Delivery.objects.filter(kind=Delivery.STORM).count() == 1


def test_parallel_senders_share_one_telegram_pace(telegram, settings):
    settings.TELEGRAM_MIN_INTERVAL_S = 0.3
    for i in range(4):
        raise_incident("CRITICAL", f"problem {chr(65 + i)}", f"svc-{i}")
    ids = list(Delivery.objects.values_list("pk", flat=True))
    assert race(4, lambda i: pager.deliver(ids[i])) == []
    times = sorted(r["at"] for r in telegram.requests)
    assert len(times) == 4
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.25
