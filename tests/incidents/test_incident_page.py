"""The incident's admin page and list: buttons, who may press them, what the list opens on."""

import pytest
from django.contrib.auth.models import User

from incidents import raise_incident
from incidents.models import Delivery, Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("oncall", "oncall@example.com", "pw"))
    return client


def change_url(incident):
    return f"/admin/incidents/incident/{incident.pk}/change/"


def submit(staff, incident, **fields):
    """The change form as the browser posts it, with the delivery inline's (empty) management form."""
    inline = {f"deliveries-{k}": v for k, v in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0, "MAX_NUM_FORMS": 0}.items()}
    return staff.post(change_url(incident), {**inline, **fields})


def test_a_resolve_note_saved_on_an_open_incident_resolves_it(staff):
    incident = raise_incident("ERROR", "slow", "x").incident
    response = submit(staff, incident, resolve_note="fixed by restart", _save="Save")
    assert response.status_code == 302 and response["Location"] == change_url(incident)
    incident.refresh_from_db()
    assert (incident.status, incident.resolve_note, incident.resolved_by) == (
        Incident.RESOLVED,
        "fixed by restart",
        "oncall",
    )


def test_acknowledge_button_keeps_the_incident_unresolved(staff):
    incident = raise_incident("ERROR", "slow", "x").incident
    submit(staff, incident, resolve_note="", _acknowledge="Acknowledge")
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == (Incident.ACKNOWLEDGED, "oncall")


def test_page_again_by_get_only_asks(staff, telegram):
    incident = raise_incident("WARNING", "slow", "x").incident
    page = staff.get(f"/admin/incidents/incident/{incident.pk}/page-again/").content.decode()
    assert "Yes, page again" in page and "<strong>telegram</strong>" in page
    assert not Delivery.objects.exists()
    staff.post(f"/admin/incidents/incident/{incident.pk}/page-again/")
    assert Delivery.objects.get().kind == Delivery.REPAGE


def test_a_view_only_user_gets_no_buttons_and_cannot_page_again(staff_with, telegram):
    viewer = staff_with("incidents.view_incident")
    incident = raise_incident("WARNING", "slow", "x").incident
    page = viewer.get(change_url(incident)).content.decode()
    assert "slow" in page and 'id="incident-buttons"' not in page
    assert viewer.post(f"/admin/incidents/incident/{incident.pk}/page-again/").status_code == 403
    assert not Delivery.objects.exists()


def test_the_list_opens_on_unresolved_incidents_worst_then_newest_first(staff):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    raise_incident("WARNING", "newest warning", "a", now=now)
    raise_incident("CRITICAL", "older critical", "b", now=now - timedelta(minutes=5))
    raise_incident("CRITICAL", "newer critical", "c", now=now - timedelta(minutes=1))
    done = raise_incident("CRITICAL", "resolved one", "d", now=now).incident
    Incident.objects.filter(pk=done.pk).update(status=Incident.RESOLVED)
    page = staff.get("/admin/incidents/incident/").content.decode()
    assert "resolved one" not in page
    order = [page.index(text) for text in ("newer critical", "older critical", "newest warning")]
    assert order == sorted(order)
    assert '<strong style="color:#cf222e">CRITICAL</strong>' in page
    assert "resolved one" in staff.get("/admin/incidents/incident/?state=all").content.decode()


def test_meta_is_a_table_with_urls_as_links_and_nothing_else_as_html(staff):
    meta = {"runbook_url": "https://runbooks.test/db", "dashboard": "http://grafana.test/d/1", "note": "<b>x</b>"}
    incident = raise_incident("ERROR", "slow", "x", meta).incident
    page = staff.get(change_url(incident)).content.decode()
    assert '<a href="https://runbooks.test/db" rel="noopener noreferrer" target="_blank">Runbook</a>' in page
    assert '<a href="http://grafana.test/d/1"' in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    listing = staff.get("/admin/incidents/incident/").content.decode()
    assert ">Runbook</a>" in listing
