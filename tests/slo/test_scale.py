"""Reading the windows of many SLOs at once: the same figures as one by one, in queries that do not
grow with the number of SLOs."""

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slo import health, ingest, metrics, services
from slo.models import Slo

from .conftest import NOW, traffic

pytestmark = pytest.mark.django_db


def _slos(n):
    slos = []
    for i in range(n):
        service = f"svc{i}"
        ingest.ingest(traffic(service, NOW - timedelta(hours=2), 120, error_share=0.02 * (i % 3), seed=i))
        slos.append(
            Slo.objects.create(
                name=service,
                service=service,
                p95_ms=None if i % 4 == 3 else 120,
                error_budget_pct=1.0,
                window_days=30,
                min_events=10,
                error_statuses="5xx, 429" if i % 2 else "5xx",
            )
        )
    return slos


def test_windows_of_many_slos_are_the_windows_of_each():
    slos = _slos(5)
    for length in (timedelta(minutes=5), timedelta(hours=6), timedelta(days=30)):
        together = services.windows_of(slos, length, NOW)
        for slo in slos:
            alone = services.window(slo, length, NOW)
            got = together[slo.pk]
            assert (got.requests, got.errors) == (alone.requests, alone.errors)
            assert (got.start, got.end) == (alone.start, alone.end)
            assert got.latency_sum_ms == pytest.approx(alone.latency_sum_ms)
            assert np.array_equal(got.counts, alone.counts) and got.burn(slo) == alone.burn(slo)


def _queries(fn):
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_metrics_and_strict_health_queries_do_not_grow_with_the_slos(settings):
    settings.HEALTHZ_STRICT_SLOS = ["*"]
    _slos(3)
    few = (_queries(lambda: list(metrics.slo_metrics())), _queries(health.slo_check))
    Slo.objects.all().delete()
    _slos(12)
    more = (_queries(lambda: list(metrics.slo_metrics())), _queries(health.slo_check))
    assert Slo.objects.count() == 12 and few == more
