"""No published key signs anything: the embedded default makes its own secrets once, a server on
PostgreSQL refuses to start without them (a known key forges every customer's receipt link)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("SECRET_KEY", "PORTAL_SIGNING_SECRET")
PRINT_SECRETS = "from django.conf import settings; print(settings.SECRET_KEY); print(settings.PORTAL_SIGNING_SECRET)"


def manage(tmp_path, *args, **variables):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", *SECRETS)}
    env.update(SQLITE_PATH=str(tmp_path / "db.sqlite3"), LOG_DIR=str(tmp_path / "logs"), **variables)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


ON_POSTGRES = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/ep_nowhere"}


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({}, "SECRET_KEY in the environment: is not set"),
        ({"SECRET_KEY": "a-real-random-key-0123456789"}, "PORTAL_SIGNING_SECRET in the environment: is not set"),
        ({"SECRET_KEY": "change-me"}, "SECRET_KEY in the environment: is a published default"),
        (
            {"SECRET_KEY": "a-real-random-key-0123456789", "PORTAL_SIGNING_SECRET": "  "},
            "PORTAL_SIGNING_SECRET in the environment: is not set",
        ),
    ],
)
def test_a_server_on_postgresql_refuses_to_start_without_its_secrets_naming_the_variable(tmp_path, variables, named):
    result = manage(tmp_path, "check", **ON_POSTGRES, **variables)
    assert result.returncode != 0
    assert named in result.stderr
    assert "a-real-random-key" not in result.stderr


def test_a_server_on_postgresql_starts_with_both_secrets_set(tmp_path):
    result = manage(tmp_path, "check", **ON_POSTGRES, SECRET_KEY="k" * 50, PORTAL_SIGNING_SECRET="p" * 50)
    assert result.returncode == 0, result.stderr


def test_the_embedded_default_makes_its_secrets_once_and_keeps_them_beside_the_database(tmp_path):
    first = manage(tmp_path, "shell", "--no-imports", "-c", PRINT_SECRETS)
    second = manage(tmp_path, "shell", "--no-imports", "-c", PRINT_SECRETS)
    assert first.returncode == 0, first.stderr
    secret_key, signing_secret = first.stdout.split()
    assert second.stdout.split() == [secret_key, signing_secret]
    assert secret_key != signing_secret and len(secret_key) >= 50 and len(signing_secret) >= 50
    for name, value in zip(SECRETS, (secret_key, signing_secret), strict=True):
        kept = tmp_path / f"db.sqlite3.{name.lower()}"
        assert kept.read_text().strip() == value
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_two_embedded_consoles_never_share_a_secret(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = manage(tmp_path / "one", "shell", "--no-imports", "-c", PRINT_SECRETS)
    two = manage(tmp_path / "two", "shell", "--no-imports", "-c", PRINT_SECRETS)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert set(one.stdout.split()).isdisjoint(two.stdout.split())


def test_the_embedded_default_refuses_a_published_key_too(tmp_path):
    result = manage(tmp_path, "check", PORTAL_SIGNING_SECRET="echopilot-embedded-default-change-me")
    assert result.returncode != 0
    assert "PORTAL_SIGNING_SECRET in the environment: is a published default" in result.stderr
