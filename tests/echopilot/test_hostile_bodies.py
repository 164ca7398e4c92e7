"""Bodies that parse in Python's json but break everything after it are refused as malformed: a
JSON 400 from every DRF endpoint, and nothing written."""

import pytest

from incidents.models import Incident

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000  # past the stack: Python's json raised RecursionError
LONE_SURROGATE = '{"severity": "INFO", "msg": "x", "meta": {"s": "\\ud800"}}'  # no UTF-8 encodes it
SURROGATE_KEY = '{"version": "4", "alerts": [{"status": "firing", "labels": {"\\ud800": "x"}}]}'
SURROGATE_CHOICE = '{"event_action": "\\ud800", "dedup_key": "k"}'  # DRF's error quoted it back

ENDPOINTS = [
    "/api/incidents/raise",
    "/api/incidents/alertmanager",
    "/api/incidents/events",
    "/api/slo/rebaseline",
    "/api/deploy/gate/lift",
    "/api/portal/revoke",
]


def assert_malformed(response):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"].startswith("malformed request body: JSON parse error")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_nesting_past_the_stack_is_a_400_everywhere(api, path):
    assert_malformed(api.post(path, DEEP, content_type="application/json"))


def test_nesting_past_the_stack_without_a_key_is_refused_not_a_500(client):
    response = client.post("/api/incidents/events", DEEP, content_type="application/json")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/incidents/raise", LONE_SURROGATE),
        ("/api/incidents/alertmanager", SURROGATE_KEY),
        ("/api/incidents/events", SURROGATE_CHOICE),
    ],
)
def test_a_lone_surrogate_is_a_400_and_writes_nothing(api, path, body):
    assert_malformed(api.post(path, body, content_type="application/json"))
    assert not Incident.objects.exists()


def test_a_body_over_the_upload_limit_is_a_json_400(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post(
        "/api/incidents/raise", {"severity": "INFO", "msg": "x" * 2000}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"error": "request body larger than 1,000 bytes", "fields": {}}
    assert not Incident.objects.exists()


def test_an_integer_beyond_64_bits_is_kept_as_a_number(api):
    response = api.post(
        "/api/incidents/raise", {"severity": "INFO", "msg": "x", "meta": {"n": 10**23}}, content_type="application/json"
    )
    assert response.status_code == 201
    stored = Incident.objects.get().meta["n"]  # a float; PostgreSQL's jsonb gives it back as an int
    assert isinstance(stored, (int, float)) and float(stored) == 1e23
