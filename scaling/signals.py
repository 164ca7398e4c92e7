"""The load as the console can read it: the django-q2 queue, finished tasks, the SLO's latency.

Queue time is the wait of the oldest job still waiting: the ORM broker keeps a waiting package's
enqueue time in `lock` (a claimed one's lock is in the future), the Redis broker's task carries its
enqueue time in `started`. Per-worker throughput comes from the finished tasks of the last hour: a
worker (the unit scaled: one django-q2 cluster) runs Q_WORKERS processes, each finishing a job every
median(stopped - started) seconds. Since `started` is the enqueue time, a backlog makes jobs look
longer and the estimate errs towards more workers, never fewer.
"""

import logging
import statistics
from datetime import timedelta

from django.conf import settings
from django.db.models import Min
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.models import OrmQ, Task
from django_q.signing import SignedPackage

from slo import services as slo_services

from .models import SignalSample

log = logging.getLogger(__name__)

THROUGHPUT_WINDOW = timedelta(hours=1)
THROUGHPUT_TASKS = 500
ARRIVALS_WINDOW = timedelta(minutes=10)
LATENCY_WINDOW = timedelta(minutes=10)


def queue_reading(now, broker=None) -> tuple[int, float | None]:
    """(depth, queue time of the oldest waiting job in seconds or None when the broker cannot say)."""
    broker = broker or get_broker()
    depth = int(broker.queue_size() or 0)
    if depth == 0:
        return 0, 0.0
    if isinstance(broker, ORM):
        oldest = (
            OrmQ.objects.using(settings.Q_CLUSTER.get("orm", "default"))
            .filter(key=broker.list_key, lock__lte=now)
            .aggregate(first=Min("lock"))["first"]
        )
        return depth, max(0.0, (now - oldest).total_seconds()) if oldest else None
    connection = getattr(broker, "connection", None)
    if connection is not None and hasattr(connection, "lindex"):
        return depth, _redis_oldest_wait(connection.lindex(broker.list_key, 0), now)
    return depth, None


def _redis_oldest_wait(payload, now) -> float | None:
    if payload is None:
        return None
    try:
        started = SignedPackage.loads(payload).get("started")
    except Exception:  # a package this console cannot read says nothing about the wait
        return None
    return max(0.0, (now - started).total_seconds()) if started else None


def jobs_per_worker_min(now) -> float | None:
    """Jobs one worker (a cluster of Q_WORKERS processes) finishes a minute, from the last hour's tasks."""
    rows = Task.objects.filter(stopped__gte=now - THROUGHPUT_WINDOW).order_by("-stopped")
    spans = [
        (stopped - started).total_seconds()
        for started, stopped in rows.values_list("started", "stopped")[:THROUGHPUT_TASKS]
        if started and stopped
    ]
    if not spans:
        return None
    median = max(statistics.median(spans), 0.001)
    return settings.Q_CLUSTER["workers"] * 60.0 / median


def arrivals_per_min(now, depth: int) -> float:
    """Jobs that arrived over the last 10 minutes, per minute: the finished ones enqueued in that time,
    and those still waiting (django-q2 keeps the last `save_limit` successes; push the rate above that)."""
    finished = Task.objects.filter(started__gte=now - ARRIVALS_WINDOW).count()
    return (finished + depth) / (ARRIVALS_WINDOW.total_seconds() / 60)


def latency(now) -> tuple[float | None, float | None]:
    """(p95 ms, error rate) over the last 10 minutes of the first SLO, or (None, None) without requests."""

    slo = slo_services.default_slo()
    if slo is None:
        return None, None
    window = slo_services.window(slo, LATENCY_WINDOW, now)
    if not window.requests:
        return None, None
    return window.percentile(0.95), window.error_rate


def measure(now=None) -> SignalSample:
    """A reading of the console's own queue and latency now (not saved)."""
    now = now or timezone.now()
    depth, queue_time = queue_reading(now)
    p95, error_rate = latency(now)
    return SignalSample(
        at=now,
        source=SignalSample.Source.MEASURED,
        queue_depth=depth,
        queue_time_s=queue_time,
        arrivals_per_min=arrivals_per_min(now, depth),
        p95_ms=p95,
        error_rate=error_rate,
        jobs_per_worker_min=jobs_per_worker_min(now),
    )
