"""One JSON error shape: {"error": ..., "fields": {...}}."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.echopilot.error_urls")]


def test_malformed_json_is_a_400_not_a_500(api):
    response = api.post("/api/test/set-cap", "{not json", content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("malformed request body") and body["fields"] == {}


def test_negative_amount_names_the_field(api):
    response = api.post("/api/test/set-cap", {"usd_cap": -5, "timeout_ms": "soon"}, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid input"
    assert set(body["fields"]) == {"usd_cap", "timeout_ms"}


def test_missing_field_is_named(api):
    response = api.post("/api/test/set-cap", {}, content_type="application/json")
    assert response.status_code == 400
    assert "usd_cap" in response.json()["fields"]


def test_good_input_passes(api):
    response = api.post("/api/test/set-cap", {"usd_cap": "30.5"}, content_type="application/json")
    assert response.status_code == 200


def test_unknown_api_path_is_a_json_404(api, settings):
    settings.ROOT_URLCONF = "echopilot.urls"
    response = api.get("/api/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"error": "not found", "fields": {}}
