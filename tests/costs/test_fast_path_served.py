"""The fast path under the server that runs it in production: gunicorn serving echopilot.wsgi on
loopback, against this run's PostgreSQL test database, called as the product calls it."""

import http.client
import json
import os
from decimal import Decimal

import pytest
from django.db import connection

from bench.harness import start_gunicorn, stop
from costs.models import ModelFallback, SpendEntry
from tests.loopback import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
KEY = "ep_served_fast_path_admin_key_0123456789"


@pytest.fixture
def gunicorn(tmp_path, prices):
    """A gunicorn with two sync workers on this run's test database; yields its port."""
    # An earlier transactional test may have flushed the migration's rows: state the fallback here.
    ModelFallback.objects.update_or_create(model="gpt-4o", defaults={"fallback": "gpt-4o-mini"})
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
        "LOG_DIR": str(tmp_path / "logs"),
        "DASHBOARD_KEY": KEY,
        "COST_CAP_DAILY_USD": "100",
        "MODEL_CAPS_JSON": json.dumps({"gpt-4o": 10}),
    }
    port = free_port()
    server = start_gunicorn(env, port, workers=2)
    try:
        yield port
    finally:
        stop(server)


def request(port: int, method: str, path: str, body=None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = body if isinstance(body, str) or body is None else json.dumps(body)
        conn.request(method, path, payload, {"Content-Type": "application/json", "X-Dash-Key": KEY})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_gunicorn_counts_reports_and_answers_decisions_on_the_fast_path(gunicorn):
    port = gunicorn
    answers = [
        request(port, "POST", "/api/costs/usage", {"model": "gpt-4o", "usd": "1.9", "request_id": f"r-{i}"})
        for i in range(5)
    ]
    assert [status for status, _, _ in answers] == [200] * 5
    last = json.loads(answers[-1][2])
    assert last["decision"]["decision"] == "warn"  # $9.50 of gpt-4o's $10
    assert answers[-1][1]["X-Frame-Options"] == "DENY"

    status, _, body = request(port, "POST", "/api/costs/usage", {"model": "gpt-4o", "usd": "1.9", "request_id": "r-0"})
    assert status == 200 and json.loads(body)["duplicate"] is True
    status, _, body = request(port, "POST", "/api/costs/usage", {"model": "gpt-4o", "usd": "0.5"})
    decision = json.loads(body)["decision"]
    assert (decision["decision"], decision["model"]) == ("downgrade", "gpt-4o-mini")
    status, _, body = request(port, "POST", "/api/costs/authorize", {"model": "gpt-4o"})
    assert status == 200 and json.loads(body)["decision"] == "downgrade"

    assert SpendEntry.objects.count() == 6
    assert sum(e.usd for e in SpendEntry.objects.all()) == Decimal("10.0")


def test_gunicorn_answers_bad_reports_as_django_does(gunicorn):
    port = gunicorn
    status, _, body = request(port, "POST", "/api/costs/usage", {"model": "gpt-4o", "usd": "lots"})
    assert status == 400 and "usd" in json.loads(body)["fields"]
    # The fast path read this body from gunicorn's stream before handing it to DRF.
    status, _, body = request(port, "POST", "/api/costs/usage", '{"model": "gpt-4o", ')
    assert status == 400
    assert json.loads(body)["error"].startswith("malformed request body: JSON parse error")
    assert not SpendEntry.objects.exists()


def test_the_metrics_endpoint_counts_what_the_fast_path_answered(gunicorn):
    port = gunicorn
    for _ in range(3):
        request(port, "POST", "/api/costs/authorize", {"model": "gpt-4o"})
    status, _, body = request(port, "GET", "/metrics")
    assert status == 200
    line = 'echopilot_http_requests_total{method="POST",route="/api/costs/authorize",status="200"} 3.0'
    assert line in body.decode()
