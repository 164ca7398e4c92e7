"""Prometheus series for worker scaling, computed at scrape time from the stored decisions (so every
gunicorn worker and host answers the same): `worker_target` and `autoscale_events_total`, the names
operators' dashboards know."""

import logging
from collections.abc import Iterator

from django.db.models import F
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .models import Decision

log = logging.getLogger(__name__)


def scaling_metrics() -> Iterator[Metric]:

    try:
        latest = Decision.objects.order_by("-at", "-pk").first()
        applied = Decision.objects.filter(outcome=Decision.Outcome.APPLIED).count()
    except Exception:  # a scrape must not fail because of one app's series
        log.exception("scaling series unavailable")
        return
    target = GaugeMetricFamily("echopilot_worker_target", "Workers the autoscaler wants (its latest decision)")
    actual = GaugeMetricFamily("echopilot_workers_actual", "Workers running when the autoscaler last decided")
    if latest is not None:
        target.add_metric([], latest.desired)
        actual.add_metric([], latest.actual if latest.outcome != Decision.Outcome.APPLIED else latest.desired)
    yield target
    yield actual
    events = CounterMetricFamily("echopilot_autoscale_events", "Scale changes applied", labels=["direction"])
    up = Decision.objects.filter(outcome=Decision.Outcome.APPLIED, desired__gt=F("actual")).count()
    events.add_metric(["up"], up)
    events.add_metric(["down"], applied - up)
    yield events
