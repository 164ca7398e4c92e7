"""The admin index is the operator's home: one card per app."""

import re

import pytest

import echopilot
from echopilot.plugins import ConsoleApp, console_apps

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("op", "op@example.com", "pw")
    client.force_login(user)
    return client


def test_dashboard_has_a_card_per_app(staff_client):
    response = staff_client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    for app in (config.label for config in console_apps()):
        assert f'id="card-{app}"' in html


def test_a_staff_user_without_an_api_role_sees_no_cards_and_no_controls(staff_with):
    html = staff_with().get("/admin/").content.decode()
    assert 'id="ep-no-role"' in html
    assert 'class="ep-card"' not in html and "ep-cost-set-cap" not in html


def test_an_analyst_sees_the_cards_without_their_controls(staff_with):
    html = staff_with("echopilot.api_analyst").get("/admin/").content.decode()
    assert 'id="card-costs"' in html and 'id="ep-no-role"' not in html
    assert "ep-cost-set-cap" not in html


def test_an_app_without_a_card_says_so_plainly(staff_client, monkeypatch):
    nothing = ConsoleApp("echopilot", echopilot)  # any module will do: only its label is looked up
    nothing.label, nothing.verbose_name = "nothing_here", "Nothing"
    monkeypatch.setattr("echopilot.dashboard.console_apps", lambda: [nothing])
    html = staff_client.get("/admin/").content.decode()
    assert "Not built yet" in html


def test_dashboard_loads_nothing_from_the_internet(staff_client):
    html = staff_client.get("/admin/").content.decode()
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", html)


def test_dashboard_needs_a_staff_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_pages_ask_for_no_favicon(staff_client):
    html = staff_client.get("/admin/").content.decode()
    assert '<link rel="icon" href="data:,">' in html and "EchoPilot Ops Console" in html
