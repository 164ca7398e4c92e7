"""Every web worker and task runner notes its host's clock against the database's, about once a
minute per process, without ever failing the request or task it rides on."""

import os
import socket
import time

import pytest
from django.db import connection
from django.utils import timezone
from django_q.tasks import async_task

from echopilot import dbclock
from echopilot.dbclock import ClockReading, note_clock, record_clock
from echopilot.models import DashKey, HostClock
from tests.races import race

HOST = socket.gethostname()


@pytest.fixture(autouse=True)
def noting(settings):
    """Noting on, as on a server (the suite's conftest turns it off), and this process not yet noted."""
    settings.HOST_CLOCK_EVERY_S = 60
    dbclock._noted.clear()
    yield
    dbclock._noted.clear()


@pytest.mark.django_db
def test_a_web_request_notes_this_hosts_clock(client):
    assert client.get("/health").status_code == 200
    row = HostClock.objects.get()
    assert (row.host, row.role, row.pid) == (HOST, "web", os.getpid())
    # One host, one clock: what is left is the round trip's rounding (SQLite keeps milliseconds).
    assert abs(row.offset_s) < 0.5
    assert abs((timezone.now() - row.measured_at).total_seconds()) < 5


@pytest.mark.django_db
def test_two_requests_within_a_minute_write_once(client):
    client.get("/health")
    HostClock.objects.update(offset_s=99.0)  # a mark: a second write would replace it
    client.get("/health")
    assert HostClock.objects.get().offset_s == 99.0


@pytest.mark.django_db
def test_a_process_notes_again_once_its_interval_has_passed(client, settings):
    settings.HOST_CLOCK_EVERY_S = 0.05
    client.get("/health")
    HostClock.objects.update(offset_s=99.0)
    time.sleep(0.1)
    client.get("/health")
    assert abs(HostClock.objects.get().offset_s) < 0.5


@pytest.mark.django_db
def test_noting_is_off_at_zero(client, settings):
    settings.HOST_CLOCK_EVERY_S = 0
    client.get("/health")
    assert not HostClock.objects.exists()


@pytest.mark.django_db
def test_a_database_that_fails_the_note_does_not_fail_the_request(client, api):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE echopilot_hostclock")  # rolled back with the test's transaction
    response = api.get("/api/slo/status")
    assert response.status_code == 200
    # The failed write was a savepoint of its own: the caller's transaction still works.
    assert DashKey.objects.count() == 1


@pytest.mark.django_db
def test_a_task_run_by_a_django_q2_worker_notes_the_tasks_clock():
    # sync=True runs the package through django-q2's own worker and monitor functions, in process.
    async_task("ops.tasks.heartbeat", sync=True)
    row = HostClock.objects.get(role="tasks")
    assert row.host == HOST and abs(row.offset_s) < 0.5


@pytest.mark.django_db
def test_web_and_tasks_keep_a_row_each_per_host():
    assert note_clock(HostClock.Role.WEB) and note_clock(HostClock.Role.TASKS)
    assert not note_clock(HostClock.Role.WEB)
    assert sorted(HostClock.objects.values_list("host", "role")) == [(HOST, "tasks"), (HOST, "web")]


@pytest.mark.django_db
def test_a_reading_replaces_the_hosts_last_one():
    record_clock("worker-b", "tasks", ClockReading(200.0, timezone.now()), pid=11)
    record_clock("worker-b", "tasks", ClockReading(0.25, timezone.now()), pid=12)
    assert list(HostClock.objects.values_list("host", "offset_s", "pid")) == [("worker-b", 0.25, 12)]


@pytest.mark.django_db
def test_an_unknown_role_is_refused():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        record_clock("web-a", "cron", ClockReading(0.0, timezone.now()))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_processes_of_one_host_noting_at_once_keep_one_row():
    # Ten connections upsert the same host and role at the same moment: no unique-key error, one row.
    race(lambda i: record_clock("web-a", "web", ClockReading(float(i), timezone.now()), pid=i + 1), range(10))
    row = HostClock.objects.get()
    assert row.host == "web-a" and row.offset_s == row.pid - 1
