"""Fixtures shared by every app's tests."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from echopilot.models import DashKey

pytest_plugins = ["tests.browser"]


def pytest_collection_modifyitems(config, items) -> None:
    if django_settings.USING_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL; runs in the PostgreSQL stage of dev.py test")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def log_dir(tmp_path, settings) -> Path:
    """Every test writes its NDJSON and snapshots into its own folder."""
    settings.LOG_DIR = tmp_path / "logs"
    settings.DASHBOARD_KEY = ""
    settings.ROLES_JSON = {}
    return settings.LOG_DIR


@pytest.fixture(autouse=True)
def host_clock_quiet(settings) -> None:
    """Web workers and task runners note their host's clock once a minute; in tests that note would
    land in whichever test came first and add queries it never made. tests/echopilot/test_host_clocks.py
    turns it back on."""
    settings.HOST_CLOCK_EVERY_S = 0


@pytest.fixture
def admin_key(db) -> str:
    return DashKey.issue("test-admin", DashKey.ADMIN)[1]


@pytest.fixture
def analyst_key(db) -> str:
    return DashKey.issue("test-analyst", DashKey.ANALYST)[1]


@pytest.fixture
def api(client, admin_key) -> Client:
    """A Django test client that sends an admin X-Dash-Key with every request."""
    client.defaults["HTTP_X_DASH_KEY"] = admin_key
    return client


@pytest.fixture
def analyst_api(client, analyst_key) -> Client:
    client.defaults["HTTP_X_DASH_KEY"] = analyst_key
    return client


@pytest.fixture
def staff_with(client, django_user_model) -> Callable[..., Client]:
    """`staff_with("costs.view_capalert", "slo.view_*")`: the test client, signed in as a staff user
    holding just those permissions (a trailing * takes every codename that starts so)."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    def sign_in(*perms) -> Client:
        wanted = Q(pk__in=[])
        for perm in perms:
            app_label, codename = perm.split(".")
            match = {"codename__startswith": codename[:-1]} if codename.endswith("*") else {"codename": codename}
            wanted |= Q(content_type__app_label=app_label, **match)
        user = django_user_model.objects.create_user("staffer", "staffer@example.com", "pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(wanted))
        client.force_login(user)
        return client

    return sign_in
