"""SLO_MAX_ROUTES_PER_SERVICE: a service's routes past the cap are counted under "other", nothing dropped."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import Incident
from slo import ingest, logfile, routes, services, sketch
from slo.models import ALL_ROUTES, Rollup, Slo

from .conftest import NOW, fold_all, on_routes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def limit(settings):
    settings.SLO_MAX_ROUTES_PER_SERVICE = 50
    return settings


def ids(first, last, each=1):
    return [(f"/orders/{i}", each) for i in range(first, last)]


def routes_of(service):
    fold_all()
    return set(Rollup.objects.filter(service=service).exclude(route=ALL_ROUTES).values_list("route", flat=True))


def minute_row(service, route):
    fold_all()
    return Rollup.objects.get(service=service, route=route, resolution=Rollup.MINUTE)


def test_the_51st_route_of_a_service_folds_into_other_with_its_counts_kept(db):
    ingest.ingest(on_routes("api", ids(0, 50)))
    late = on_routes("api", [("/orders/50", 40)], error_every=4)
    ingest.ingest(late)
    assert routes_of("api") == {f"/orders/{i}" for i in range(50)} | {routes.OTHER}
    other = minute_row("api", routes.OTHER)
    assert (other.count, other.errors, other.statuses) == (40, 10, {"200": 30, "503": 10})
    assert other.latency_sum_ms == pytest.approx(float(late.latency_ms.sum()))
    assert bytes(other.sketch) == sketch.encode(sketch.from_latencies(late.latency_ms))
    everything = minute_row("api", ALL_ROUTES)
    assert (everything.count, everything.errors) == (90, 10)


def test_folded_samples_still_count_toward_the_services_slo(slo):
    ingest.ingest(on_routes("api", ids(0, 300, each=2), error_every=10))
    window = services.window(slo, timedelta(hours=1), NOW)
    assert (window.requests, window.errors) == (600, 60)
    assert len(routes_of("api")) == 51


def test_routes_of_other_services_are_not_affected(db):
    ingest.ingest(on_routes("api", ids(0, 50)))
    both = on_routes("api", [("/orders/50", 3)])
    web = on_routes("web", [("/orders/50", 5), ("/orders/51", 5)])
    mixed = ingest.Samples(
        np.concatenate([both.epoch_s, web.epoch_s]),
        np.concatenate([both.latency_ms, web.latency_ms]),
        np.concatenate([both.status, web.status]),
        np.concatenate([both.stream, web.stream + 1]),
        [*both.streams, *web.streams],
    )
    ingest.ingest(mixed)
    assert routes.OTHER in routes_of("api") and "/orders/50" not in routes_of("api")
    assert routes_of("web") == {"/orders/50", "/orders/51"}
    assert minute_row("web", "/orders/50").count == 5


def test_an_existing_route_stays_itself_once_the_service_is_full(db, django_capture_on_commit_callbacks):
    ingest.ingest(on_routes("api", ids(0, 50)))
    ingest.ingest(on_routes("api", ids(50, 60)))  # folded
    for copy in ("cold", "warm"):
        if copy == "cold":
            routes.forget()
        with django_capture_on_commit_callbacks(execute=True):
            ingest.ingest(on_routes("api", [("/orders/7", 4), ("/orders/99", 1)]))
    assert minute_row("api", "/orders/7").count == 1 + 4 + 4
    assert minute_row("api", routes.OTHER).count == 10 + 1 + 1


def test_a_service_past_the_cap_before_it_existed_keeps_all_its_routes(db, limit):
    limit.SLO_MAX_ROUTES_PER_SERVICE = 100
    ingest.ingest(on_routes("api", ids(0, 80)))
    routes.forget()
    limit.SLO_MAX_ROUTES_PER_SERVICE = 50
    ingest.ingest(on_routes("api", [("/orders/79", 2), ("/orders/80", 2)]))
    assert minute_row("api", "/orders/79").count == 3
    assert minute_row("api", routes.OTHER).count == 2


def test_the_busiest_new_routes_of_a_batch_are_the_ones_admitted(db):
    ingest.ingest(on_routes("api", [*ids(0, 1000), ("/orders/{id}", 500), ("/health", 30)]))
    assert {"/orders/{id}", "/health"} <= routes_of("api")
    assert len(routes_of("api")) == 51
    assert minute_row("api", routes.OTHER).count == 1000 - 48


def test_a_route_named_twice_in_a_hand_made_batch_takes_one_place(db):
    ingest.ingest(on_routes("api", ids(0, 49)))
    twice = on_routes("api", [("/a", 2), ("/a", 3), ("/b", 1)])
    ingest.ingest(twice)
    assert minute_row("api", "/a").count == 5 and minute_row("api", routes.OTHER).count == 1


def test_a_route_an_slo_names_keeps_its_rows_and_is_not_counted(slo):
    Slo.objects.create(name="api-pay", service="api", route="/pay", error_budget_pct=1.0, window_days=30)
    ingest.ingest(on_routes("api", ids(0, 60)))
    ingest.ingest(on_routes("api", [("/pay", 7)]))
    assert minute_row("api", "/pay").count == 7
    assert len(routes_of("api") - {"/pay", routes.OTHER}) == 50


def test_a_client_route_named_other_shares_the_row_and_does_not_count(db):
    ingest.ingest(on_routes("api", [*ids(0, 50), (routes.OTHER, 2)]))
    assert len(routes_of("api")) == 51 and minute_row("api", routes.OTHER).count == 2


def test_overflow_raises_one_warning_per_service_naming_it_and_the_limit(db):
    ingest.ingest(on_routes("api", ids(0, 50)))
    assert not Incident.objects.exists()
    ingest.ingest(on_routes("api", [("/orders/50", 3), ("/orders/51", 2), ("/orders/52", 1), ("/orders/53", 1)]))
    ingest.ingest(on_routes("api", ids(60, 70)))
    incident = Incident.objects.get()
    assert (incident.severity, incident.source, incident.count) == ("WARNING", "slo", 1)
    assert incident.fingerprint == "slo:routes:api"
    assert "service api" in incident.message and "SLO_MAX_ROUTES_PER_SERVICE=50" in incident.message
    assert "/orders/50, /orders/51, /orders/52)" in incident.message  # busiest first, three shown
    assert "/orders/{id}" in incident.message and "raise SLO_MAX_ROUTES_PER_SERVICE" in incident.message
    assert incident.meta["service"] == "api" and incident.meta["limit"] == 50
    assert incident.meta["folded_routes"] == ["/orders/50", "/orders/51", "/orders/52"]
    ingest.ingest(on_routes("web", ids(0, 51)))
    assert set(Incident.objects.values_list("fingerprint", "count")) == {("slo:routes:api", 1), ("slo:routes:web", 1)}


def test_a_full_service_known_to_this_process_folds_new_routes_without_asking(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ingest.ingest(on_routes("api", ids(0, 51)))
    with CaptureQueriesContext(connection) as queries:
        ingest.ingest(on_routes("api", ids(100, 130)))
    # (The service's lock is still taken: every batch holds it, for the closing of hours.)
    assert not [q for q in queries.captured_queries if "RECURSIVE" in q["sql"]]
    assert minute_row("api", routes.OTHER).count == 31


def test_routes_are_read_once_per_batch_whatever_its_size(db):
    with CaptureQueriesContext(connection) as queries:
        ingest.ingest(on_routes("api", ids(0, 5000)))
    assert len([q for q in queries.captured_queries if "RECURSIVE" in q["sql"]]) == 1
    assert Rollup.objects.filter(service="api").count() == 3 * (50 + 1 + 1)


def test_the_api_and_an_access_log_fold_id_routes_too(api, tmp_path):
    base = timezone.now().timestamp() - 600
    lines = [{"ts": base + i, "latency_ms": 5, "status": 200, "route": f"/u/{i}"} for i in range(80)]
    response = api.post("/api/slo/ingest?service=web", orjson.dumps(lines), content_type="application/json").json()
    assert response["accepted"] == 80 and len(routes_of("web")) == 51
    path = tmp_path / "access.ndjson"
    path.write_bytes(b"".join(orjson.dumps({**line, "service": "log"}) + b"\n" for line in lines))
    logfile.ingest_file(path)
    assert len(routes_of("log")) == 51
    fold_all()
    assert (
        sum(Rollup.objects.filter(service="log", route=routes.OTHER, resolution="m").values_list("count", flat=True))
        == 30
    )


def _setting(tmp_path, value):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
            "LOG_DIR": str(tmp_path / "logs"),
            "SLO_MAX_ROUTES_PER_SERVICE": value,
        }
    )
    code = "from django.conf import settings; print(settings.SLO_MAX_ROUTES_PER_SERVICE)"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("raw, value", [("", "50"), ("7", "7")])
def test_the_limit_is_read_from_the_environment(tmp_path, raw, value):
    result = _setting(tmp_path, raw)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == value


@pytest.mark.parametrize("raw", ["0", "10001", "fifty"])
def test_a_limit_that_cannot_work_stops_the_console_naming_the_variable(tmp_path, raw):
    result = _setting(tmp_path, raw)
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(f"SLO_MAX_ROUTES_PER_SERVICE={raw!r} in the environment: must be an integer from 1 to 10,000")
    )
