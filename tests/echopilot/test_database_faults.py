"""A database that is down or frozen: a 503 with Retry-After in the API's error shape, within
seconds, never a 500 or a hang (PostgreSQL: the faults are made with real sockets)."""

import time

import pytest
from django.db import close_old_connections, connection

from tests.faults import FreezableProxy, database_at, silent_listener
from tests.loopback import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def caller(client, settings):
    settings.DASHBOARD_KEY = "fault-test-admin-key"
    client.defaults["HTTP_X_DASH_KEY"] = settings.DASHBOARD_KEY
    client.raise_request_exception = False  # answer as the server would, not re-raise in the test
    return client


def assert_unavailable(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"error": "database unavailable; try again shortly", "fields": {}}


def test_a_stopped_database_answers_503_with_retry_after_and_the_error_shape(caller):
    with database_at(free_port()):  # nothing listens there
        assert_unavailable(caller.get("/api/costs/status"))
        assert_unavailable(caller.post("/api/incidents/raise", {"severity": "INFO", "msg": "x"}, "application/json"))


def test_a_database_that_accepts_but_never_answers_is_given_up_after_the_connect_timeout(caller):
    with silent_listener() as port, database_at(port, connect_timeout=1):
        started = time.monotonic()
        response = caller.get("/api/costs/status")
        elapsed = time.monotonic() - started
    assert_unavailable(response)
    assert elapsed < 4


def test_a_database_frozen_mid_connection_answers_503_within_the_client_timeout(caller):
    db = connection.settings_dict
    proxy = FreezableProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    try:
        with database_at(proxy.port, client_timeout=1.5):
            assert caller.get("/api/costs/status").status_code == 200  # connected, and answering
            proxy.freeze()
            started = time.monotonic()
            response = caller.get("/api/costs/status")
            elapsed = time.monotonic() - started
            proxy.thaw()
    finally:
        proxy.close()
    assert_unavailable(response)
    assert elapsed < 5


def test_the_statement_timeout_comes_from_the_environment(settings):
    from django.conf import settings as live

    options = live.DATABASES["default"]["OPTIONS"]
    assert options["connect_timeout"] == live.DB_CONNECT_TIMEOUT_S
    assert options["options"] == f"-c statement_timeout={int(live.DB_STATEMENT_TIMEOUT_S * 1000)}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == f"{int(live.DB_STATEMENT_TIMEOUT_S)}s"


def test_a_usage_report_to_a_frozen_database_answers_503_in_time_and_its_retry_counts_once(caller):
    """The ledger writes through libpq itself, past psycopg's cursor: it must keep the same deadline."""
    from costs.models import SpendEntry

    db = connection.settings_dict
    proxy = FreezableProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    report = {"model": "gpt-4o-mini", "usd": "0.01", "request_id": "frozen-report-1"}
    try:
        with database_at(proxy.port, client_timeout=1.5):
            warm = {**report, "request_id": "warm"}
            assert caller.post("/api/costs/usage", warm, "application/json").status_code == 200
            proxy.freeze()
            started = time.monotonic()
            response = caller.post("/api/costs/usage", report, "application/json")
            elapsed = time.monotonic() - started
            proxy.thaw()
            close_old_connections()  # as the server does when a request ends (the test client does not)
            # The report sent before the freeze may have committed once the server answered again:
            # the client's retry, with the same request_id, is counted once either way.
            retried = caller.post("/api/costs/usage", report, "application/json")
    finally:
        proxy.close()
    assert_unavailable(response)
    assert elapsed < 5
    assert retried.status_code == 200
    assert SpendEntry.objects.filter(request_id="frozen-report-1").count() == 1
