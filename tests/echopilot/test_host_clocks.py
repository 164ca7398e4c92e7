"""Every web worker and task runner notes its host's clock against the database's, about once a
minute per process, without ever failing the request or task it rides on."""

import os
import socket
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.utils import timezone
from django_q.tasks import async_task

from echopilot import dbclock
from echopilot.dbclock import ClockReading, note_clock, record_clock
from echopilot.models import DashKey, HostClock
from tests.races import race
from tests.scaling.test_qcluster_pool import ROOT, parent_of, pool_env, start_pool, wait_for

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
    # Sixteen connections upsert the same host and role at the same moment, three times over: no
    # unique-key error, one row per host.
    for host in ("web-a", "web-b", "web-c"):
        race(lambda i, h=host: record_clock(h, "web", ClockReading(float(i), timezone.now()), pid=i + 1), range(16))
    rows = list(HostClock.objects.order_by("host"))
    assert [r.host for r in rows] == ["web-a", "web-b", "web-c"]
    assert all(r.offset_s == r.pid - 1 for r in rows)


def tasks_rows_not_from(pid):
    return list(HostClock.objects.filter(role="tasks").exclude(pid=pid).values_list("host", "pid", "offset_s"))


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_qcluster_worker_notes_its_hosts_clock_when_it_runs_a_task(log_dir):
    log_dir.mkdir(parents=True, exist_ok=True)
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=pool_env(log_dir),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        async_task("ops.tasks.heartbeat")
        assert wait_for(lambda: tasks_rows_not_from(os.getpid()), 60)
        [(host, pid, offset_s)] = tasks_rows_not_from(os.getpid())
        assert host == HOST and abs(offset_s) < 0.5
        assert parent_of(pid) == cluster.pid or parent_of(parent_of(pid)) == cluster.pid  # one of its workers
    finally:
        cluster.terminate()
        cluster.wait(timeout=90)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "runner", [{}, {"SCALE_ACTUATOR": "record", "TASK_RUNNER": "single"}], ids=["cluster pool", "single task runner"]
)
def test_the_qcluster_pool_notes_its_hosts_clock_while_it_runs_no_task(log_dir, runner):
    log_dir.mkdir(parents=True, exist_ok=True)
    supervisor = start_pool(log_dir, **runner)
    try:
        assert wait_for(lambda: tasks_rows_not_from(os.getpid()), 30)
        [(host, pid, _)] = tasks_rows_not_from(os.getpid())
        assert (host, pid) == (HOST, supervisor.pid)
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=90)
