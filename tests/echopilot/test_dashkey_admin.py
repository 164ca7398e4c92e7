"""Dash keys are made and revoked from the admin."""

import pytest

from echopilot.models import DashKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("op", "op@example.com", "pw"))
    return client


def test_adding_a_key_in_the_admin_shows_it_once_and_it_works(staff_client, client):
    response = staff_client.post("/admin/echopilot/dashkey/add/", {"name": "grafana", "role": "analyst"}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    raw = shown[0].rsplit(" ", 1)[-1]
    key = DashKey.objects.get(name="grafana")
    assert raw.startswith(f"ep_{key.prefix}_") and key.key_hash not in raw
    listing = staff_client.get("/admin/echopilot/dashkey/").content.decode()
    assert key.prefix in listing and raw not in listing
    staff_client.logout()
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 200


def test_revoke_action_stops_the_key(staff_client, client):
    key, raw = DashKey.issue("old", DashKey.ADMIN)
    # Used once first, so this worker remembers it: the revocation must make it forget.
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 200
    staff_client.post("/admin/echopilot/dashkey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked is not None
    staff_client.logout()
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 401


def test_a_new_key_cannot_be_made_revoked_on_the_add_form(staff_client):
    form = staff_client.get("/admin/echopilot/dashkey/add/").context["adminform"].form
    assert set(form.fields) == {"name", "role"}


def test_a_view_only_user_cannot_revoke_keys(staff_with):
    key, _ = DashKey.issue("ci", DashKey.ADMIN)
    client = staff_with("echopilot.view_dashkey")
    assert 'value="revoke"' not in client.get("/admin/echopilot/dashkey/").content.decode()
    client.post("/admin/echopilot/dashkey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked is None
