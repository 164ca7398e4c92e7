"""Signals read from the console's own queue: the ORM broker, the Redis broker, finished tasks, and
the arrivals history the forecast reads."""

import os
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf
from django_q.models import OrmQ, Task
from django_q.signing import SignedPackage

from scaling import services, signals
from scaling.models import SignalSample

pytestmark = pytest.mark.django_db


def package(started):
    return SignedPackage.dumps(
        {"id": uuid.uuid4().hex, "name": "job", "func": "math.floor", "args": (1.5,), "kwargs": {}, "started": started}
    )


def test_orm_broker_depth_and_the_oldest_waiting_jobs_queue_time(settings):
    now = timezone.now()
    broker = ORM(list_key="scaling-test")
    for age in (95, 40, 5):
        OrmQ.objects.create(key="scaling-test", payload=package(now), lock=now - timedelta(seconds=age))
    # A package a cluster has claimed has its lock in the future: running, not waiting.
    OrmQ.objects.create(key="scaling-test", payload=package(now), lock=now + timedelta(seconds=170))
    depth, queue_time = signals.queue_reading(now, broker)
    assert depth == 3
    assert queue_time == pytest.approx(95, abs=0.5)


def test_an_empty_queue_has_no_wait():
    assert signals.queue_reading(timezone.now(), ORM(list_key="scaling-empty")) == (0, 0.0)


def test_redis_broker_depth_and_the_oldest_jobs_queue_time(monkeypatch):
    url = os.environ.get("ECHOPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setattr(Conf, "REDIS", url)
    monkeypatch.setattr(Conf, "DJANGO_REDIS", None)
    broker = Redis(list_key=f"scaling-test-{uuid.uuid4().hex[:8]}")
    now = timezone.now()
    try:
        for age in (130, 20):
            broker.enqueue(package(now - timedelta(seconds=age)))
        depth, queue_time = signals.queue_reading(now, broker)
        assert depth == 2
        assert queue_time == pytest.approx(130, abs=0.5)
    finally:
        broker.delete_queue()


def test_per_worker_throughput_comes_from_the_last_hours_finished_tasks(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 2}
    now = timezone.now()
    for i, seconds in enumerate((2, 3, 4, 3, 3)):
        stopped = now - timedelta(minutes=i)
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=f"t{i}",
            func="math.floor",
            started=stopped - timedelta(seconds=seconds),
            stopped=stopped,
            success=True,
        )
    old = now - timedelta(hours=3)
    Task.objects.create(
        id=uuid.uuid4().hex,
        name="old",
        func="math.floor",
        started=old - timedelta(seconds=60),
        stopped=old,
        success=True,
    )
    assert signals.jobs_per_worker_min(now) == pytest.approx(2 * 60 / 3)


def test_without_finished_tasks_the_throughput_is_unknown():
    assert signals.jobs_per_worker_min(timezone.now()) is None


def test_measured_signals_feed_the_status_when_nothing_is_pushed(api):
    now = timezone.now()
    OrmQ.objects.create(key=ORM().list_key, payload=package(now), lock=now - timedelta(seconds=70))
    body = api.get("/api/scale/status").json()
    assert body["signals"]["source"] == "measured"
    assert body["signals"]["queue_depth"] == 1
    assert body["signals"]["queue_time_s"] >= 70


def test_the_arrivals_history_holds_each_rate_until_the_next_and_is_bucketed():
    now = timezone.now().replace(second=0, microsecond=0)
    for minutes_ago, rate in ((30, 10.0), (20, 40.0), (10, 70.0)):
        SignalSample.objects.create(
            at=now - timedelta(minutes=minutes_ago), source="measured", queue_depth=0, arrivals_per_min=rate
        )
    assert services.arrivals_history("measured", now, None) == [10.0, 10.0, 40.0, 40.0, 70.0, 70.0]


def test_idle_minutes_count_from_the_last_busy_sample():
    now = timezone.now()
    SignalSample.objects.create(at=now - timedelta(minutes=25), source="pushed", queue_depth=4)
    latest = SignalSample.objects.create(at=now - timedelta(minutes=1), source="pushed", queue_depth=0)
    assert services.idle_minutes("pushed", now, latest) == pytest.approx(25, abs=0.1)
