"""Scripts get JSON without negotiation; a browser still gets the browsable API."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", " application/json "])
def test_script_callers_get_json(api, accept):
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    response = api.get("/api/queue/status", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "queue_depth" in response.json()


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("op", "op@example.com", "pw"))
    return client


@pytest.mark.parametrize(
    "query, headers",
    [
        ({}, {"HTTP_ACCEPT": "text/html,application/xhtml+xml,*/*;q=0.8"}),
        ({"format": "api"}, {}),
    ],
)
def test_a_browser_gets_the_browsable_api(staff, query, headers):
    response = staff.get("/api/queue/status", query, **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_an_accept_the_api_cannot_serve_is_a_406(api):
    response = api.get("/api/queue/status", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
