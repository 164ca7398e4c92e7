"""/api/incidents/events knows who is calling before it judges the body: a stranger gets a 401,
never a 415 or a 400 about what they sent, and a large body without a key is not parsed at all."""

import json

import pytest

from incidents.models import Incident

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", "hello"), ("application/xml", "<event/>"), ("application/json", "{not json")],
)
def test_a_request_without_a_key_is_401_whatever_its_body(client, content_type, body):
    response = client.post("/api/incidents/events", body, content_type=content_type)
    assert response.status_code == 401


def test_a_routing_key_in_a_body_larger_than_pagerduty_sends_is_not_read(client, admin_key):
    event = {
        "routing_key": admin_key,
        "event_action": "trigger",
        "payload": {"summary": "big", "source": "x", "severity": "critical", "custom_details": {"pad": "x" * 600_000}},
    }
    response = client.post("/api/incidents/events", json.dumps(event), content_type="application/json")
    assert response.status_code == 401
    assert not Incident.objects.exists()


def test_the_same_large_body_with_the_key_in_a_header_is_accepted(client, admin_key):
    event = {
        "event_action": "trigger",
        "payload": {"summary": "big", "source": "x", "severity": "critical", "custom_details": {"pad": "x" * 600_000}},
    }
    response = client.post(
        "/api/incidents/events", json.dumps(event), content_type="application/json", HTTP_X_DASH_KEY=admin_key
    )
    assert response.status_code == 202
