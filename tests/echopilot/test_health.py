"""Liveness, readiness, metrics and the queue status."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from echopilot import health

pytestmark = pytest.mark.django_db


def test_liveness_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readiness_is_ok_with_database_and_broker(client):
    response = client.get("/healthz/strict")
    body = response.json()
    assert response.status_code == 200, body
    assert (
        body["checks"]["database"]["ok"]
        and body["checks"]["broker"]["ok"]
        and body["checks"]["cache"] == {"ok": True, "detail": "DatabaseCache"}
    )


@pytest.mark.django_db(transaction=True)
def test_a_missing_cache_table_fails_readiness_and_migrate_makes_it(client, api):
    """Without REDIS_URL the cache is a table: a deploy that skipped createcachetable left queue
    status and the portal's rate limits answering 500 while readiness said ok."""
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE echopilot_cache")
    response = client.get("/healthz/strict")
    assert response.status_code == 500 and response.json()["failing"] == ["cache"]
    call_command("migrate", "echopilot", "0002", verbosity=0)
    # Every app forward again: going back also unapplied the other apps' migrations that need echopilot's.
    call_command("migrate", verbosity=0)
    assert client.get("/healthz/strict").status_code == 200
    assert api.get("/api/queue/status").status_code == 200


def test_readiness_names_a_failing_check_and_answers_500(client):
    health.register_check("test-failing", lambda: health.CheckResult(False, "disk full"))

    def broken():
        raise ConnectionError("peer reset")

    health.register_check("test-raising", broken)
    try:
        response = client.get("/healthz/strict")
    finally:
        health._CHECKS.pop("test-failing")
        health._CHECKS.pop("test-raising")
    assert response.status_code == 500
    body = response.json()
    assert body["failing"] == ["test-failing", "test-raising"]
    assert body["checks"]["test-failing"]["detail"] == "disk full"
    assert "ConnectionError" in body["checks"]["test-raising"]["detail"]


def test_metrics_count_requests_by_route_and_status(client):
    client.get("/health")
    client.get("/api/queue/status")
    text = client.get("/metrics").content.decode()
    assert 'echopilot_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'echopilot_http_requests_total{method="GET",route="/api/queue/status",status="401"}' in text
    assert "echopilot_http_request_duration_seconds_bucket" in text
    assert "echopilot_queue_depth" in text


def test_queue_status_reports_depth_and_failures(api):
    from django.utils import timezone
    from django_q.models import Failure

    Failure.objects.create(
        id="a" * 32,
        name="nightly",
        func="slo.tasks.tick",
        started=timezone.now(),
        stopped=timezone.now(),
        success=False,
        result="boom",
    )
    body = api.get("/api/queue/status").json()
    assert body["broker"] == "ORM"
    assert body["queue_depth"] == 0
    assert body["recent_failures"][0]["name"] == "nightly"


def test_queue_status_counts_waiting_tasks(api):
    from django_q.tasks import async_task

    async_task("math.floor", 1.5)
    async_task("math.floor", 2.5)
    assert api.get("/api/queue/status").json()["queue_depth"] == 2


REDIS_PROBE = """
import django, json
django.setup()
from django_q.tasks import async_task
from echopilot import health, queue
from django_q.brokers import get_broker
broker = get_broker()
broker.purge_queue()
async_task("math.floor", 1.5)
print(json.dumps({"broker": type(broker).__name__, "ok": health.broker_check().ok, "depth": queue.queue_depth()}))
broker.purge_queue()
"""


def test_redis_broker_is_used_when_redis_url_is_set(tmp_path):
    """REDIS_URL switches django-q2 to Redis; checked in a fresh process against the local Redis."""
    redis_url = os.environ.get("ECHOPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not redis_url:
        pytest.fail("no Redis reachable: the Redis broker test needs the local Redis at 127.0.0.1:6379")
    env = {
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
        "REDIS_URL": redis_url,
        "Q_CLUSTER_NAME": f"echopilot-test-{tmp_path.name}",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "LOG_DIR": str(tmp_path / "logs"),
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", REDIS_PROBE],
        env=env,
        capture_output=True,
        text=True,
        cwd=django_settings.BASE_DIR,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"broker": "Redis", "ok": True, "depth": 1}


@pytest.mark.parametrize("path", ["/health", "/readyz", "/healthz/strict", "/metrics"])
def test_the_probes_answer_head_and_refuse_a_write_with_a_plain_405(path):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)  # as a script meets it: no CSRF failure page first
    assert client.head(path).status_code == 200
    refused = client.post(path)
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD"


def test_the_api_docs_page_refuses_options_instead_of_failing(api):
    assert api.get("/api/docs/").status_code == 200
    assert api.options("/api/docs/").status_code == 405


def test_readyz_is_ok_when_database_broker_cache_and_migrations_are(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert {name: c["ok"] for name, c in checks.items()} == {
        "database": True,
        "broker": True,
        "cache": True,
        "migrations": True,
    }


def test_readyz_is_503_with_retry_after_while_a_migration_is_not_applied(client):
    from django.db.migrations.recorder import MigrationRecorder

    MigrationRecorder.Migration.objects.filter(app="portal").order_by("-id")[:1].get().delete()
    response = client.get("/readyz")
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert response.json()["failing"] == ["migrations"]
    assert "portal." in response.json()["checks"]["migrations"]["detail"]


def test_readyz_ignores_the_apps_own_checks(client):
    health.register_check("test-failing", lambda: health.CheckResult(False, "an outage the console reports"))
    try:
        assert client.get("/readyz").status_code == 200
        assert client.get("/healthz/strict").status_code == 500
    finally:
        health._CHECKS.pop("test-failing")


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_without_the_cache_table(client):
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE echopilot_cache")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["failing"] == ["cache"]
    finally:
        call_command("migrate", "echopilot", "0002", verbosity=0)
        call_command("migrate", verbosity=0)  # every app: going back unapplied their dependents too


def test_a_public_probe_never_prints_a_dependency_host_port_or_path(client, caplog):
    """A database outage once printed the database's host on /healthz/strict."""
    import psycopg

    from tests.loopback import free_port

    port = free_port()

    def unreachable_database():
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/ep_secretname", connect_timeout=2)

    def unreadable_file():
        open("/var/lib/echopilot-nowhere/state.json").close()

    health.register_check("test-database", unreachable_database)
    health.register_check("test-file", unreadable_file)
    try:
        response = client.get("/healthz/strict")
    finally:
        health._CHECKS.pop("test-database")
        health._CHECKS.pop("test-file")
    text = response.content.decode()
    assert response.status_code == 500 and {"test-database", "test-file"} <= set(response.json()["failing"])
    assert "OperationalError" in response.json()["checks"]["test-database"]["detail"]
    assert "FileNotFoundError" in response.json()["checks"]["test-file"]["detail"]
    for leak in ("127.0.0.1", str(port), "ep_secretname", "/var/lib", "state.json"):
        assert leak not in text
    assert str(port) in caplog.text  # the operator still finds it in the log
