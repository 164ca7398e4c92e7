"""Concurrent writers on PostgreSQL: ingest batches add up, one gate shut, one page."""

from collections import Counter
from datetime import timedelta

import numpy as np
import pytest

from incidents.models import Incident
from slo import alerts, gate, ingest, services, sketch
from slo.models import GateShut, Rollup, Slo
from tests.races import race

from .conftest import NOW, fold_all, traffic

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _slo(**kw):
    return Slo.objects.create(
        name="api", service="api", p95_ms=800, p99_ms=1200, error_budget_pct=1.0, window_days=30, min_events=10, **kw
    )


def test_concurrent_batches_into_the_same_minutes_add_up_exactly():
    slo = _slo()
    batches = [traffic("api", NOW - timedelta(minutes=3), 3, per_minute=400, error_share=0.1, seed=i) for i in range(8)]
    race(ingest.ingest, batches)
    window = services.window(slo, timedelta(hours=1), NOW)
    assert window.requests == 8 * 1200
    assert window.errors == sum(int((b.status >= 500).sum()) for b in batches)
    expected = sum(sketch.from_latencies(b.latency_ms) for b in batches)
    assert np.array_equal(window.counts, expected)
    minutes = {int(t // 60) for t in batches[0].epoch_s}
    assert Rollup.objects.filter(service="api", route="*", resolution="m").count() == len(minutes) == 4


def test_concurrent_gate_evaluations_shut_once_and_raise_one_incident():
    slo = _slo()
    ingest.ingest(traffic("api", NOW - timedelta(hours=1), 200, per_minute=60, error_share=0.2))
    for minutes in range(0, 120, 15):
        gate.evaluate(slo, NOW + timedelta(minutes=minutes))
    race(lambda i: gate.evaluate(slo, NOW + timedelta(hours=2)), range(6))
    assert GateShut.objects.filter(lifted_at__isnull=True).count() == 1
    assert Incident.objects.filter(fingerprint=f"slo:{slo.pk}:gate").count() == 1


def test_concurrent_alert_runs_page_once():
    slo = _slo()
    ingest.ingest(traffic("api", NOW - timedelta(minutes=59), 60, per_minute=60, error_share=0.3))
    race(lambda i: alerts.evaluate(slo, NOW), range(6))
    incident = Incident.objects.get()  # the SLO's one burn incident, raised once per rule that fired
    assert incident.fingerprint == f"slo:{slo.pk}:burn" and incident.count == len(alerts.RULES)


def test_watchdog_runs_of_three_clusters_for_one_due_time_count_one_look():
    from slo import watchdog
    from slo.models import RecoveryRequest, SloState

    slo = _slo()
    ingest.ingest(traffic("api", NOW - timedelta(minutes=10), 30, per_minute=60, error_share=0.05))
    race(lambda i: watchdog.check(slo, NOW + timedelta(milliseconds=87 * i)), range(3))
    assert not RecoveryRequest.objects.exists()
    assert not Incident.objects.exists()
    assert len(SloState.objects.get(slo=slo).watch_history) == 1


def test_two_readers_of_one_log_never_count_a_line_twice(tmp_path):
    import orjson
    from django.utils import timezone

    from slo import logfile

    base = timezone.now().timestamp() - 1800
    path = tmp_path / "access.ndjson"
    path.write_bytes(
        b"".join(
            orjson.dumps({"ts": base + i * 0.01, "latency_ms": 5, "status": 200, "service": "web"}) + b"\n"
            for i in range(30_000)
        )
    )
    race(lambda i: logfile.ingest_file(path), range(4))
    logfile.ingest_file(path)  # whoever lost a chunk race stopped early; a rerun picks up the rest
    fold_all()
    stored = sum(Rollup.objects.filter(service="web", route="*", resolution="m").values_list("count", flat=True))
    assert stored == 30_000


def test_concurrent_batches_of_many_services_in_any_order_add_up_without_deadlock():
    import orjson
    from django.utils import timezone

    base = timezone.now().timestamp() - 1800
    samples = [
        {"ts": base + i, "latency_ms": 10, "status": 200, "route": f"/r{i % 4}", "service": f"fz{i % 400}"}
        for i in range(1200)
    ]
    rng = np.random.default_rng(7)
    batches = [
        ingest.parse_body(orjson.dumps([samples[j] for j in rng.permutation(1200)]), "application/json")
        for _ in range(6)
    ]
    race(ingest.ingest, batches)
    fold_all()
    per_service = Counter()
    for service, count in Rollup.objects.filter(resolution="m", route="*").values_list("service", "count"):
        per_service[service] += count
    assert len(per_service) == 400 and set(per_service.values()) == {6 * 3}


def test_concurrent_demo_loads_store_the_traffic_once():
    from django.utils import timezone

    from slo import demo

    now = timezone.now()
    summaries = race(lambda i: demo.load(now), range(4))
    assert sum("already loaded" in s for s in summaries) == 3
    ingest.close_hours(now + timedelta(days=1, hours=1))  # today's day row too
    stored = sum(Rollup.objects.filter(service="shop", route="*", resolution="d").values_list("count", flat=True))
    assert stored == len(demo.day_of_traffic(now)) + len(demo.month_before(now))
    assert Slo.objects.filter(name="shop").count() == 1


@pytest.mark.parametrize("shared", [0, 2])
def test_two_workers_adding_routes_near_the_cap_admit_exactly_up_to_it(settings, shared):
    from slo import routes

    from .conftest import on_routes

    settings.SLO_MAX_ROUTES_PER_SERVICE = 50
    # Three rounds, each a fresh service 47 routes in: without the lock both workers read 47 and
    # admit their five (up to 57 routes); with it the second one reads the first one's.
    for n in range(3):
        service = f"api{n}"
        ingest.ingest(on_routes(service, [(f"/orders/{i}", 1) for i in range(47)]))
        routes.forget()  # each worker asks the database, as two fresh processes would
        news = [[(f"/new/{i}", 2) for i in range(first, first + 5)] for first in (0, 5 - shared)]
        race(ingest.ingest, [on_routes(service, new) for new in news])
        stored = set(Rollup.objects.filter(service=service).values_list("route", flat=True))
        assert len(stored - {"*", routes.OTHER}) == 50  # exact: the documented overshoot is none
        total = Rollup.objects.get(service=service, route="*", resolution="d").count
        assert total == 47 + 2 * 10
        incident = Incident.objects.get(fingerprint=f"slo:routes:{service}")
        assert incident.count == 1 and incident.severity == "WARNING"
