import pytest
from django.core.management import call_command

from echopilot.models import DashKey

pytestmark = pytest.mark.django_db


def test_create_prints_the_key_once_and_stores_its_hash(capsys, client):
    call_command("dashkey", "create", "--name", "ops", "--role", "admin")
    out = capsys.readouterr().out
    raw = out.strip().splitlines()[-1]
    key = DashKey.objects.get(name="ops")
    assert key.role == "admin" and raw.startswith(f"ep_{key.prefix}_")
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 200


def test_list_shows_prefixes_not_keys(capsys):
    _, raw = DashKey.issue("ci", DashKey.ANALYST)
    call_command("dashkey", "list")
    out = capsys.readouterr().out
    assert "ci" in out and raw not in out


@pytest.mark.parametrize("how", ["whole key", "upper case"])
def test_revoke_takes_the_whole_key_or_the_prefix_in_any_case_and_never_echoes_the_key(capsys, client, how):
    key, raw = DashKey.issue("ci", DashKey.ANALYST)
    call_command("dashkey", "revoke", raw if how == "whole key" else key.prefix.upper())
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 401
    out = capsys.readouterr().out
    assert key.prefix in out and raw not in out


def test_list_says_when_there_are_no_stored_keys_and_which_env_keys_are_set(capsys, settings):
    settings.DASHBOARD_KEY = "env-admin-secret-1"
    settings.ROLES_JSON = {"env-reader-secret-2": "analyst"}
    call_command("dashkey", "list")
    out = capsys.readouterr().out
    assert "No stored keys." in out
    assert "admin    set in DASHBOARD_KEY" in out and "analyst  set in ROLES_JSON" in out
    assert "secret" not in out


def test_revoke_by_prefix(capsys, client):
    key, raw = DashKey.issue("ci", DashKey.ANALYST)
    call_command("dashkey", "revoke", key.prefix)
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=raw).status_code == 401


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "o\x00ps", "two\nlines"])
def test_a_name_the_column_cannot_hold_is_a_one_line_error(name):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--name must be 1-100 printable characters"):
        call_command("dashkey", "create", "--name", name, "--role", "admin")
    assert not DashKey.objects.exists()
