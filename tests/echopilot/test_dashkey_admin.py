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


# --- edits need the right to make them, and are audited ---------------------------------------------


def change_form(client, key, **fields):
    data = {"name": key.name, "role": key.role, "revoked_0": "", "revoked_1": "", **fields}
    return client.post(f"/admin/echopilot/dashkey/{key.pk}/change/", data)


def history_of(key) -> list[str]:
    from django.contrib.admin.models import LogEntry

    return [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(key.pk)).order_by("pk")]


@pytest.mark.parametrize("who", ["change_only", "superuser"])
def test_a_revoked_key_stays_revoked_through_any_admin_edit(who, staff_with, client, django_user_model):
    key, raw = DashKey.issue("leaked", DashKey.ANALYST)
    key.revoked = "2026-01-02T03:04:05Z"
    key.save()
    if who == "superuser":
        client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
        editor = client
    else:
        editor = staff_with("echopilot.change_dashkey", "echopilot.view_dashkey", "echopilot.api_admin")
    change_form(editor, key, name="leaked (cleared)", role="admin")
    key.refresh_from_db()
    assert key.revoked is not None and key.role == DashKey.ANALYST and key.name == "leaked"
    editor.logout()
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 401


def test_without_the_api_admin_permission_a_key_cannot_be_raised_to_admin(staff_with):
    key, _ = DashKey.issue("grafana", DashKey.ANALYST)
    editor = staff_with("echopilot.change_dashkey", "echopilot.view_dashkey")
    change_form(editor, key, role="admin")
    key.refresh_from_db()
    assert key.role == DashKey.ANALYST


def test_without_the_api_admin_permission_a_new_key_is_an_analyst_key(staff_with):
    editor = staff_with("echopilot.add_dashkey", "echopilot.view_dashkey")
    editor.post("/admin/echopilot/dashkey/add/", {"name": "sneaky", "role": "admin"})
    assert DashKey.objects.get(name="sneaky").role == DashKey.ANALYST


def test_with_the_api_admin_permission_a_role_change_is_made_and_audited(staff_with):
    key, _ = DashKey.issue("grafana", DashKey.ANALYST)
    editor = staff_with("echopilot.change_dashkey", "echopilot.view_dashkey", "echopilot.api_admin")
    change_form(editor, key, role="admin")
    key.refresh_from_db()
    assert key.role == DashKey.ADMIN
    assert history_of(key) == ["Changed role from analyst to admin."]


def test_revoking_on_the_form_or_with_the_action_is_audited(staff_client):
    on_form, _ = DashKey.issue("one", DashKey.ANALYST)
    by_action, _ = DashKey.issue("two", DashKey.ANALYST)
    change_form(staff_client, on_form, revoked_0="2026-01-02", revoked_1="03:04:05")
    staff_client.post("/admin/echopilot/dashkey/", {"action": "revoke", "_selected_action": [by_action.pk]})
    assert history_of(on_form) == ["Revoked."]
    assert history_of(by_action) == ["Revoked."]
