"""The PostgreSQL backend's cheap health check, against the real server."""

import select
import time

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql import base as django_pg

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def select_one_calls(monkeypatch):
    calls = []
    real = django_pg.DatabaseWrapper.is_usable
    monkeypatch.setattr(django_pg.DatabaseWrapper, "is_usable", lambda self: calls.append(1) or real(self))
    return calls


def terminate_from_outside(pid: int) -> None:
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's termination notice reaches the socket a moment later.
    deadline = time.monotonic() + 5
    while not select.select([connection.connection.fileno()], [], [], 0.05)[0]:
        assert time.monotonic() < deadline, "the server never closed the connection"


def test_a_quiet_connection_is_usable_without_a_round_trip(select_one_calls):
    connection.ensure_connection()
    assert connection.is_usable() is True
    assert select_one_calls == []


def test_a_connection_the_server_closed_is_replaced_before_the_request_uses_it(client, admin_key, select_one_calls):
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    terminate_from_outside(pid)

    assert connection.is_usable() is False
    assert select_one_calls == [1]  # a readable socket gets the real check
    # A request after the server restarted answers normally: Django reconnects before its first query.
    connection.health_check_done = False
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=admin_key).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
