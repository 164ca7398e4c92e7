"""With the task broker (Redis) down, /api/queue/status says so instead of a 500."""

import pytest

from tests.faults import broker_down

pytestmark = pytest.mark.django_db


def test_queue_status_says_the_broker_is_unreachable(api):
    with broker_down():
        response = api.get("/api/queue/status")
    assert response.status_code == 200
    body = response.json()
    assert body["broker"] == "Redis"
    assert body["broker_reachable"] is False
    assert "cannot be reached (ConnectionError)" in body["broker_error"]
    assert body["queue_depth"] is None and body["clusters"] == []


def test_queue_status_with_the_broker_up_says_it_is_reachable(api):
    body = api.get("/api/queue/status").json()
    assert body["broker_reachable"] is True and body["broker_error"] == ""
    assert body["queue_depth"] == 0
