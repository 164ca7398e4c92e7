"""What `python3 dev.py start` leaves for the processes an operator runs by hand: the .env block it
manages (links on the address it serves, emails in the log without SMTP) and one admin key it keeps."""

from io import StringIO

import pytest
from django.core.management import call_command

import dev
from echopilot.models import DashKey

URL = "http://localhost:18231/"


def test_start_writes_the_served_address_and_the_console_email_backend_into_env(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SECRET_KEY=kept-as-it-was\n")
    own, _ = dev.env_file_lines(env_file)
    dev.write_env_block(env_file, dev.first_run_settings(URL, {}, own))
    text = env_file.read_text()
    assert text.startswith("SECRET_KEY=kept-as-it-was\n")
    assert "PORTAL_BASE_URL=http://localhost:18231\n" in text
    assert f"EMAIL_BACKEND={dev.CONSOLE_EMAIL}\n" in text


def test_a_second_start_on_another_port_rewrites_its_block_instead_of_adding_one(tmp_path):
    env_file = tmp_path / ".env"
    for url in (URL, "http://localhost:18232/"):
        dev.write_env_block(env_file, dev.first_run_settings(url, {}, dev.env_file_lines(env_file)[0]))
    text = env_file.read_text()
    assert text.count(dev.ENV_BLOCK_BEGIN) == 1 and text.count("PORTAL_BASE_URL=") == 1
    assert "PORTAL_BASE_URL=http://localhost:18232\n" in text


def test_the_written_block_reads_back_as_settings_py_reads_env(tmp_path, monkeypatch):
    import environ

    env_file = tmp_path / ".env"
    env_file.write_text("SMTP_PORT=2525\n")
    dev.write_env_block(env_file, dev.first_run_settings(URL, {}, dev.env_file_lines(env_file)[0]))
    seen: dict[str, str] = {}
    monkeypatch.setattr(environ.Env, "ENVIRON", seen)  # read into this dict, not os.environ
    environ.Env.read_env(env_file, overwrite=False)
    assert seen == {
        "SMTP_PORT": "2525",
        "PORTAL_BASE_URL": "http://localhost:18231",
        "EMAIL_BACKEND": dev.CONSOLE_EMAIL,
    }


@pytest.mark.parametrize(
    "environ, own_lines, expected",
    [
        ({"SMTP_HOST": "smtp.example.com"}, [], {"PORTAL_BASE_URL": "http://localhost:18231"}),
        ({}, ["SMTP_HOST=smtp.example.com"], {"PORTAL_BASE_URL": "http://localhost:18231"}),
        ({}, ["export PORTAL_BASE_URL='https://billing.example.com'"], {"EMAIL_BACKEND": dev.CONSOLE_EMAIL}),
        ({"PORTAL_BASE_URL": "https://x.example", "EMAIL_BACKEND": "a.B"}, [], {}),
    ],
)
def test_what_the_operator_set_wins_over_what_start_would_write(environ, own_lines, expected):
    assert dev.first_run_settings(URL, environ, own_lines) == expected


def create(*extra) -> str:
    out = StringIO()
    call_command("dashkey", "create", "--name", dev.ADMIN_KEY_NAME, "--role", "admin", "--quiet", *extra, stdout=out)
    return out.getvalue().strip()


@pytest.mark.django_db
def test_a_second_start_keeps_the_admin_key_it_made_before():
    first = create("--if-missing")
    assert first.startswith("ep_")
    assert create("--if-missing") == ""
    assert DashKey.objects.filter(name=dev.ADMIN_KEY_NAME).count() == 1


@pytest.mark.django_db
def test_rotating_revokes_the_old_admin_key_and_issues_a_new_one(client):
    first = create("--if-missing")
    second = create("--replace")
    assert second.startswith("ep_") and second != first
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=first).status_code == 401
    assert client.get("/api/queue/status", HTTP_X_DASH_KEY=second).status_code == 200
    assert DashKey.objects.filter(name=dev.ADMIN_KEY_NAME, revoked__isnull=True).count() == 1
