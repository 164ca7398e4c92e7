"""Settings from the environment that cannot work stop the console at startup, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from echopilot import envconfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("raw", [None, ""])  # `SMTP_PORT=` in .env means the default too
def test_an_unset_or_empty_variable_gives_its_default(monkeypatch, raw):
    if raw is None:
        monkeypatch.delenv("EP_TEST_NUMBER", raising=False)
    else:
        monkeypatch.setenv("EP_TEST_NUMBER", raw)
    assert envconfig.integer("EP_TEST_NUMBER", 7, 1, 10) == 7
    assert envconfig.number("EP_TEST_NUMBER", 2.5, 0, 10) == 2.5


@pytest.mark.parametrize("raw, value", [("1", 1), ("10", 10), (" 4 ", 4)])
def test_integers_at_their_edges_are_read(monkeypatch, raw, value):
    monkeypatch.setenv("EP_TEST_NUMBER", raw)
    assert envconfig.integer("EP_TEST_NUMBER", 7, 1, 10) == value


@pytest.mark.parametrize("raw", ["0", "11", "-3", "2.5", "ten", "99999999999999999999999"])
def test_integers_out_of_range_or_not_integers_are_refused(monkeypatch, raw):
    monkeypatch.setenv("EP_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match=r"^EP_TEST_NUMBER=.* must be an integer from 1 to 10$"):
        envconfig.integer("EP_TEST_NUMBER", 7, 1, 10)


@pytest.mark.parametrize("raw, low_allowed", [("0", True), ("10", True), ("0.001", False), ("1e1", False)])
def test_numbers_at_their_edges_are_read(monkeypatch, raw, low_allowed):
    monkeypatch.setenv("EP_TEST_NUMBER", raw)
    assert envconfig.number("EP_TEST_NUMBER", 1.0, 0, 10, low_allowed=low_allowed) == float(raw)


@pytest.mark.parametrize(
    "raw, low_allowed",
    [
        ("0", False),
        ("-0.5", True),
        ("10.01", True),
        ("nan", True),
        ("inf", True),
        ("-inf", True),
        ("1e400", True),
        ("fast", True),
    ],
)
def test_numbers_out_of_range_or_not_finite_are_refused(monkeypatch, raw, low_allowed):
    monkeypatch.setenv("EP_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match=r"^EP_TEST_NUMBER=.* must be a number (from|above) 0 "):
        envconfig.number("EP_TEST_NUMBER", 1.0, 0, 10, low_allowed=low_allowed)


def _check(tmp_path, **variables):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"SQLITE_PATH": str(tmp_path / "db.sqlite3"), "LOG_DIR": str(tmp_path / "logs"), **variables})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "variables, message",
    [
        # A shard number PostgreSQL's smallint cannot hold failed every usage report of the worker.
        (
            {"COST_COUNTER_SHARDS": "40000"},
            "COST_COUNTER_SHARDS='40000' in the environment: must be an integer from 1 to 1,000",
        ),
        ({"PAGER_DIGEST_HOUR": "24"}, "PAGER_DIGEST_HOUR='24' in the environment: must be an integer from 0 to 23"),
        ({"PORTAL_LINK_TTL_HRS": "1e300"}, "PORTAL_LINK_TTL_HRS='1e300' in the environment: must be a number above 0"),
        ({"SLO_WINDOW_DAYS": "0"}, "SLO_WINDOW_DAYS='0' in the environment: must be an integer from 1 to 365"),
        ({"COST_CAP_DAILY_USD": "lots"}, "COST_CAP_DAILY_USD='lots' in the environment: must be a number from 0"),
        ({"SCALE_MIN": "5", "SCALE_MAX": "2"}, "SCALE_MAX must be at least SCALE_MIN"),
        (
            {"TASK_RUNNER": "single", "SCALE_ACTUATOR": "qcluster"},
            "TASK_RUNNER=single runs the ORM broker's queue in one process",
        ),
        (
            {"PAGER_BACKOFF_BASE_S": "600", "PAGER_BACKOFF_MAX_S": "60"},
            "PAGER_BACKOFF_MAX_S must be at least PAGER_BACKOFF_BASE_S",
        ),
    ],
)
def test_manage_py_refuses_to_start_and_names_the_variable(tmp_path, variables, message):
    result = _check(tmp_path, **variables)
    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1]


def test_values_in_range_start(tmp_path):
    result = _check(
        tmp_path,
        COST_COUNTER_SHARDS="1000",
        PAGER_DIGEST_HOUR="0",
        PORTAL_LINK_TTL_HRS="0.5",
        SCALE_MIN="0",
        SCALE_MAX="1",
        PAGER_BACKOFF_BASE_S="0",
        PAGER_BACKOFF_MAX_S="0",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "raw, message",
    [
        ('{"k_secret_1": "admin"', "ROLES_JSON in the environment: is not valid JSON"),
        ('["k_secret_1"]', "ROLES_JSON in the environment: must be a JSON object"),
        ('{"k_secret_1": "admn"}', "ROLES_JSON in the environment: every value must be one of admin, analyst"),
    ],
)
def test_roles_json_must_be_an_object_of_roles_and_is_never_echoed(tmp_path, raw, message):
    result = _check(tmp_path, ROLES_JSON=raw)
    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1]
    assert "k_secret_1" not in result.stderr


def test_model_caps_json_must_be_an_object(monkeypatch):
    monkeypatch.setenv("MODEL_CAPS_JSON", "[15, 2]")
    with pytest.raises(ImproperlyConfigured, match="^MODEL_CAPS_JSON in the environment: must be a JSON object$"):
        envconfig.json_object("MODEL_CAPS_JSON", {})
    monkeypatch.setenv("MODEL_CAPS_JSON", '{"gpt-4o": 3}')
    assert envconfig.json_object("MODEL_CAPS_JSON", {}) == {"gpt-4o": 3}


@pytest.mark.parametrize("raw, level", [("warning", "WARNING"), (" DEBUG ", "DEBUG")])
def test_a_log_level_is_read_in_any_case(monkeypatch, raw, level):
    monkeypatch.setenv("LOG_LEVEL", raw)
    assert envconfig.log_level("LOG_LEVEL", "INFO") == level


def test_an_unknown_log_level_is_named(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ImproperlyConfigured, match="^LOG_LEVEL='LOUD' in the environment: must be one of DEBUG, INFO"):
        envconfig.log_level("LOG_LEVEL", "INFO")


@pytest.mark.parametrize("hook", ["slo.watchdog.no_such_hook", "no_such_module.hook", "slo.watchdog.IN_A_ROW"])
def test_a_recovery_hook_that_is_not_a_function_fails_the_system_check(tmp_path, hook):
    result = _check(tmp_path, SLO_RECOVERY_HOOK=hook)
    assert result.returncode != 0
    assert f"SLO_RECOVERY_HOOK={hook!r}" in result.stderr


def test_the_default_recovery_hook_passes_the_system_check():
    from slo.checks import recovery_hook_check

    assert recovery_hook_check() == []


@pytest.mark.parametrize(
    "raw",
    [
        "hooks.example.com/T0/s3cret",
        "ftp://example.com/s3cret",
        "https:///s3cret",
        "https://[::1/s3cret",
        "https://example.com:99999/s3cret",
    ],
)
def test_a_url_that_cannot_be_called_is_refused_without_echoing_it(monkeypatch, raw):
    monkeypatch.setenv("PAGER_WEBHOOK_URL", raw)
    with pytest.raises(ImproperlyConfigured) as refused:
        envconfig.url("PAGER_WEBHOOK_URL", "")
    assert str(refused.value) == "PAGER_WEBHOOK_URL in the environment: must be an http:// or https:// URL with a host"
    assert "s3cret" not in str(refused.value)


def test_a_url_is_read_and_an_unset_one_keeps_its_default(monkeypatch):
    monkeypatch.setenv("PORTAL_BASE_URL", " https://console.example.com:8443/ ")
    assert envconfig.url("PORTAL_BASE_URL", "http://localhost:8000") == "https://console.example.com:8443/"
    monkeypatch.delenv("PAGER_WEBHOOK_URL", raising=False)
    assert envconfig.url("PAGER_WEBHOOK_URL", "") == ""


def test_pager_addresses_are_each_checked(monkeypatch):
    monkeypatch.setenv("PAGER_EMAIL_TO", "ops@example.com, oncall@example.com")
    assert envconfig.emails("PAGER_EMAIL_TO") == ["ops@example.com", "oncall@example.com"]
    monkeypatch.setenv("PAGER_EMAIL_TO", "ops@example.com,oncall")
    with pytest.raises(
        ImproperlyConfigured, match="^PAGER_EMAIL_TO in the environment: address 2 is not an email address$"
    ):
        envconfig.emails("PAGER_EMAIL_TO")


@pytest.mark.parametrize("raw", ["notaurl", "mysql://u:s3cret@db/console", "postgress://u:s3cret@db/console"])
def test_a_database_url_the_console_cannot_run_on_is_refused_without_its_password(tmp_path, raw):
    result = _check(tmp_path, DATABASE_URL=raw)
    assert result.returncode != 0
    assert "DATABASE_URL in the environment: must be a postgres:// or sqlite:/// URL" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "raw, engine",
    [("postgres://u:pw@127.0.0.1:5432/console", "postgresql"), ("sqlite:////tmp/console.sqlite3", "sqlite3")],
)
def test_the_two_database_urls_are_read(monkeypatch, raw, engine):
    monkeypatch.setenv("DATABASE_URL", raw)
    assert envconfig.database("DATABASE_URL", "sqlite:///x")["ENGINE"] == f"django.db.backends.{engine}"


@pytest.mark.parametrize(
    "raw, ok",
    [
        ("redis://127.0.0.1:6379/0", True),
        ("rediss://cache:6380", True),
        ("unix:///run/redis.sock", True),
        ("127.0.0.1:6379", False),
        ("notaurl", False),
    ],
)
def test_a_redis_url_needs_a_redis_scheme(monkeypatch, raw, ok):
    monkeypatch.setenv("REDIS_URL", raw)
    if ok:
        assert envconfig.redis_url("REDIS_URL") == raw
    else:
        with pytest.raises(ImproperlyConfigured, match="^REDIS_URL in the environment: must be a redis://"):
            envconfig.redis_url("REDIS_URL")


def test_a_log_dir_that_is_a_file_stops_every_command_before_it_works(tmp_path):
    """It used to fail only when the first event was written: after, say, a revoke was committed."""
    afile = tmp_path / "afile"
    afile.write_text("")
    for log_dir in (afile, afile / "logs"):
        result = _check(tmp_path, LOG_DIR=str(log_dir))
        assert result.returncode != 0
        assert (
            f"LOG_DIR={str(log_dir)!r} in the environment: {str(afile)!r} is not a directory"
            in result.stderr.strip().splitlines()[-1]
        )


def test_a_log_dir_not_made_yet_is_fine_and_not_made_by_loading_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "new" / "logs"))
    assert envconfig.writable_directory("LOG_DIR", tmp_path) == tmp_path / "new" / "logs"
    assert not (tmp_path / "new").exists()
