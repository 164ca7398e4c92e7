"""The admin inbox, the dashboard card, demo data, health and metrics."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from incidents import pager, raise_incident
from incidents.demo import load
from incidents.models import Delivery, Incident, Silence

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("oncall", "oncall@example.com", "pw")
    client.force_login(user)
    return client


def action(staff, name, incidents):
    return staff.post(
        "/admin/incidents/incident/",
        {"action": name, "_selected_action": [i.pk for i in incidents]},
        follow=True,
    )


def test_admin_actions_acknowledge_resolve_and_record_who(staff):
    incident = raise_incident("ERROR", "slow", "x").incident
    response = action(staff, "acknowledge", [incident])
    assert "Acknowledged 1 incident(s)." in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == Incident.ACKNOWLEDGED and incident.acknowledged_by == "oncall"
    action(staff, "resolve", [incident])
    incident.refresh_from_db()
    assert incident.status == Incident.RESOLVED and incident.resolved_by == "oncall"


def test_admin_silence_action_silences_the_fingerprint(staff, telegram):
    incident = raise_incident("WARNING", "noisy", "x").incident
    response = action(staff, "silence_24h", [incident])
    assert "Silenced 1 fingerprint(s) for 24 h" in response.content.decode()
    assert Silence.objects.get().fingerprint == incident.fingerprint


def test_admin_page_again_records_pages(staff, telegram):
    incident = raise_incident("ERROR", "x", "y").incident
    response = action(staff, "page_again", [incident])
    assert "Recorded 1 page(s)" in response.content.decode()
    assert Delivery.objects.get().kind == Delivery.REPAGE


def test_admin_list_filters_searches_and_shows_attempts(staff, telegram):
    raise_incident("CRITICAL", "database on fire", "db")
    raise_incident("INFO", "deployed", "ci")
    page = staff.get("/admin/incidents/incident/?q=fire").content.decode()
    assert "database on fire" in page and "deployed" not in page
    assert "deployed" in staff.get("/admin/incidents/incident/?severity__exact=INFO").content.decode()
    telegram.script = [(500, {"ok": False, "description": "boom"})]
    delivery = Delivery.objects.get()
    pager.deliver(delivery.pk)
    incident_page = staff.get(f"/admin/incidents/incident/{delivery.incident_id}/change/").content.decode()
    assert "telegram #1" in incident_page and "telegram 500: boom" in incident_page  # every attempt, inline
    assert "telegram #2" in incident_page
    delivery_page = staff.get(f"/admin/incidents/delivery/{delivery.pk}/change/").content.decode()
    assert "telegram 500: boom" in delivery_page


def test_dashboard_card_shows_open_counts_pages_and_failures_in_red(staff, telegram, settings):
    raise_incident("CRITICAL", "db down", "db")
    raise_incident("WARNING", "disk", "db")
    settings.PAGER_MAX_ATTEMPTS = 1
    telegram.script = [(500, {"ok": False, "description": "boom"})]
    pager.deliver(Delivery.objects.get().pk)
    page = staff.get("/admin/").content.decode()
    assert 'data-severity="CRITICAL">CRITICAL 1' in page
    assert 'data-severity="WARNING">WARNING 1' in page
    assert 'class="inc-failed" data-status="failed"' in page
    assert "1 delivery failed in the last 24 h" in page
    assert 'id="incidents-raise-test"' in page


def test_demo_loads_twice_without_duplicates_and_pages_nobody(telegram):
    first = load(timezone.now())
    second = load(timezone.now())
    assert Incident.objects.count() == 5
    assert "demo incidents" in first and "already" in second
    assert Incident.objects.get(source="demo-checkout").count == 4
    assert Incident.objects.get(source="demo-batch").silenced_by is not None
    assert not Delivery.objects.exists()


def test_strict_health_names_a_broken_channel(client, telegram):
    pager.mark_broken("telegram", "telegram 401: Unauthorized")
    response = client.get("/healthz/strict")
    assert response.status_code == 500
    assert "pager" in response.content.decode()


def test_metrics_show_open_incidents(client):
    raise_incident("CRITICAL", "x", "y")
    body = client.get("/metrics").content.decode()
    assert 'echopilot_incidents_open{severity="CRITICAL"} 1.0' in body


def test_routing_is_edited_in_the_admin_and_decides_who_pages(staff, telegram, smtp):
    from incidents.models import Route

    route = Route.objects.get(severity="ERROR")
    response = staff.post(
        f"/admin/incidents/route/{route.pk}/change/",
        {"severity": "ERROR", "page_now": "on", "channels": "email", "in_digest": "on"},
    )
    assert response.status_code == 302
    raise_incident("ERROR", "checkout slow", "web")
    assert list(Delivery.objects.values_list("channel", flat=True)) == ["email"]
    response = staff.post(
        f"/admin/incidents/route/{route.pk}/change/", {"severity": "ERROR", "page_now": "on", "channels": "pigeon"}
    )
    assert response.status_code == 200 and "unknown channel(s) pigeon" in response.content.decode()


def test_channel_admin_lists_every_channel_and_repairs_a_broken_one(staff, telegram):
    from incidents.models import ChannelState

    pager.mark_broken("telegram", "telegram 401: Unauthorized")
    page = staff.get("/admin/incidents/channelstate/").content.decode()
    assert all(name in page for name in ("telegram", "email", "webhook"))
    state = ChannelState.objects.get(name="telegram")
    response = staff.post(
        "/admin/incidents/channelstate/", {"action": "repair", "_selected_action": [state.pk]}, follow=True
    )
    assert "Marked 1 channel(s) repaired." in response.content.decode()
    assert ChannelState.objects.get(name="telegram").broken_at is None


def test_a_view_only_user_is_neither_offered_nor_allowed_the_incident_actions(staff_with, telegram):
    viewer = staff_with("incidents.view_incident")
    incident = raise_incident("ERROR", "slow", "x").incident
    page = viewer.get("/admin/incidents/incident/").content.decode()
    assert "slow" in page
    for name in ("acknowledge", "resolve", "page_again", "silence_1h", "silence_24h"):
        assert f'value="{name}"' not in page
        action(viewer, name, [incident])
    incident.refresh_from_db()
    assert incident.status == Incident.OPEN
    assert not Silence.objects.exists()
    assert not Delivery.objects.exists()


def test_silencing_from_the_incident_list_takes_the_right_to_add_silences(staff_with):
    operator = staff_with("incidents.view_incident", "incidents.change_incident")
    incident = raise_incident("WARNING", "noisy", "x").incident
    page = operator.get("/admin/incidents/incident/").content.decode()
    assert 'value="acknowledge"' in page and 'value="silence_1h"' not in page
    action(operator, "silence_1h", [incident])
    assert not Silence.objects.exists()


def test_a_view_only_user_cannot_mark_a_channel_repaired(staff_with, telegram):
    from incidents.models import ChannelState

    viewer = staff_with("incidents.view_channelstate")
    pager.mark_broken("telegram", "telegram 401: Unauthorized")
    state = ChannelState.objects.get(name="telegram")
    assert 'value="repair"' not in viewer.get("/admin/incidents/channelstate/").content.decode()
    viewer.post("/admin/incidents/channelstate/", {"action": "repair", "_selected_action": [state.pk]})
    assert ChannelState.objects.get(name="telegram").broken_at is not None
