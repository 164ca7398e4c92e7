"""The console's own requests become samples of service "console", written in batches, not per request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slo import middleware
from slo.models import Rollup

from .conftest import fold_all


@pytest.fixture(autouse=True)
def recording(settings):
    settings.SLO_RECORD_CONSOLE_IN_TESTS = True
    settings.SLO_BUFFER_MAX_SAMPLES = 1000
    settings.SLO_BUFFER_MAX_SECONDS = 3600
    middleware.BUFFER.take()
    yield
    middleware.BUFFER.take()


def _console_rows():
    fold_all()
    return Rollup.objects.filter(service="console", resolution="m")


def test_requests_are_buffered_without_touching_the_rollups(analyst_api):
    for _ in range(5):
        assert analyst_api.get("/api/slo/status").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        analyst_api.get("/api/deploy/gate")
    assert not any("slo_rollup" in q["sql"] for q in queries.captured_queries)
    assert len(middleware.BUFFER) == 6
    assert not _console_rows().exists()
    assert middleware.flush() == 6
    minutes = _console_rows().values_list("route", "count")
    routes: dict[str, int] = {}
    for route, count in minutes:
        routes[route] = routes.get(route, 0) + count
    assert routes == {"*": 6, "/api/slo/status": 5, "/api/deploy/gate": 1}


def test_probes_and_scrapes_are_left_out(client, db):
    client.get("/health")
    client.get("/metrics")
    client.get("/healthz/strict")
    assert len(middleware.BUFFER) == 0


def test_buffer_writes_itself_when_full(analyst_api, settings):
    settings.SLO_BUFFER_MAX_SAMPLES = 3
    for _ in range(3):
        analyst_api.get("/api/deploy/gate")
    assert len(middleware.BUFFER) == 0
    assert sum(_console_rows().filter(route="*").values_list("count", flat=True)) == 3


def test_errors_are_counted_with_their_status(api):
    api.get("/api/slo/status?period=nope")
    middleware.flush()
    row = _console_rows().get(route="*")
    assert row.statuses == {"400": 1} and row.errors == 0


def test_nothing_is_recorded_under_tests_unless_asked(analyst_api, settings):
    settings.SLO_RECORD_CONSOLE_IN_TESTS = False
    analyst_api.get("/api/deploy/gate")
    assert len(middleware.BUFFER) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quiet_process_writes_what_it_holds_from_the_background(settings):
    import time

    settings.SLO_BUFFER_MAX_SECONDS = 0.2
    middleware.BUFFER.add(time.time(), 12.0, 200, "/api/slo/status")
    middleware.BUFFER._start_flusher()
    try:
        deadline = time.monotonic() + 5
        while not _console_rows().exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        middleware.BUFFER.stop_flusher()
    assert _console_rows().get(route="*").count == 1
    assert len(middleware.BUFFER) == 0
