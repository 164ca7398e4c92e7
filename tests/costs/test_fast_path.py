"""Scripts' authorize and usage calls skip DRF (echopilot.fastpath) and get exactly DRF's answer;
everything else still goes through DRF."""
import json
from decimal import Decimal

import pytest
from rest_framework.views import APIView

from costs.models import SpendEntry

pytestmark = pytest.mark.django_db

JSON = "application/json"


@pytest.fixture
def drf_dispatches(monkeypatch):
    """How many requests DRF itself handled."""
    calls = []
    real = APIView.dispatch
    monkeypatch.setattr(APIView, "dispatch", lambda self, *a, **kw: calls.append(1) or real(self, *a, **kw))
    return calls


def post(client, path, body, **extra):
    return client.post(path, body if isinstance(body, str) else json.dumps(body), content_type=JSON, **extra)


def answer(response) -> tuple:
    """What a caller sees: status, body and the headers DRF sets."""
    return response.status_code, response.json(), response["Content-Type"], response.get("Vary"), response.get("Allow")


@pytest.mark.parametrize("path, body", [
    ("/api/costs/authorize", {"model": "gpt-4o", "est_usd": "0.25"}),
    ("/api/costs/authorize", {"model": "gpt-4o-mini"}),
    ("/api/costs/authorize", {"model": ""}),
    ("/api/costs/authorize", {"model": "gpt-4o", "est_usd": -1}),
    ("/api/costs/authorize", {"model": "gpt-4o", "est_usd": 1e308}),
    ("/api/costs/authorize", ["gpt-4o"]),
    ("/api/costs/usage", {"model": "gpt-4o", "usd": "lots"}),
    ("/api/costs/usage", {"model": "gpt-4o", "usd": 1, "input_tokens": -5}),
    ("/api/costs/usage", {"usd": 1}),
    ("/api/costs/usage", {"model": "gpt-4o", "usd": 1, "ts": "0001-01-01T00:00:00+14:00"}),
    ("/api/costs/usage", "42"),
])
def test_the_fast_path_answers_exactly_what_drf_answers(api, caps, drf_dispatches, path, body):
    fast = post(api, path, body)
    assert drf_dispatches == []
    through_drf = post(api, path + "?format=json", body)
    assert drf_dispatches == [1]
    assert answer(fast) == answer(through_drf)
    assert fast.status_code in (200, 400)


def test_a_usage_report_answers_the_same_through_either_path(api, caps, drf_dispatches):
    report = {"model": "gpt-4o", "usd": "9.25", "input_tokens": 10, "request_id": "r-1"}
    first = post(api, "/api/costs/usage", report)
    assert first.status_code == 200 and first.json()["duplicate"] is False
    repeat_fast = post(api, "/api/costs/usage", report)
    repeat_drf = post(api, "/api/costs/usage?format=json", report)
    assert len(drf_dispatches) == 1
    assert answer(repeat_fast) == answer(repeat_drf)
    assert repeat_fast.json()["usd"] == 9.25  # a JSON number, as DRF's encoder writes a Decimal
    assert SpendEntry.objects.get().usd == Decimal("9.25")


@pytest.mark.parametrize("headers", [
    {},  # no key
    {"HTTP_X_DASH_KEY": "ep_nope_0000000000000000"},  # unknown key
])
def test_without_a_valid_key_drf_answers_401(client, caps, drf_dispatches, headers):
    response = post(client, "/api/costs/usage", {"model": "gpt-4o", "usd": 1}, **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "X-Dash-Key"
    assert drf_dispatches == [1]
    assert not SpendEntry.objects.exists()


def test_an_analyst_key_is_refused_by_drf(analyst_api, caps, drf_dispatches):
    response = post(analyst_api, "/api/costs/usage", {"model": "gpt-4o", "usd": 1})
    assert response.status_code == 403
    assert drf_dispatches == [1]
    assert not SpendEntry.objects.exists()


def test_a_malformed_body_gets_drfs_wording(api, drf_dispatches):
    response = post(api, "/api/costs/authorize", '{"model": ')
    assert response.status_code == 400
    assert response.json()["error"].startswith("malformed request body: JSON parse error")
    assert drf_dispatches == [1]


def test_a_browser_still_gets_the_browsable_api(api, caps, drf_dispatches):
    response = post(api, "/api/costs/authorize", {"model": "gpt-4o"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert drf_dispatches == [1]


def test_the_schema_still_documents_both_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()
    for path, body in (("/api/costs/usage", "Usage"), ("/api/costs/authorize", "Authorize")):
        request_body = schema["paths"][path]["post"]["requestBody"]["content"][JSON]["schema"]
        assert request_body["$ref"].endswith(f"/{body}")
