"""With the README's server recipe, Django's own `check --deploy` has nothing to say."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPORT = re.compile(r"^\s+export (\w+)=(\S+)")


def recipe() -> dict[str, str]:
    """The `export NAME=value` lines of the README's server recipe; `...` becomes a fresh secret."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("**The server recipe.**") :]
    section = section[: section.index("manage.py check --deploy\n")]
    pairs = dict(m.groups() for line in section.splitlines() if (m := EXPORT.match(line)))
    return {name: secrets.token_urlsafe(50) if value == "..." else value for name, value in pairs.items()}


def check_deploy(tmp_path, variables: dict) -> subprocess.CompletedProcess:
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(LOG_DIR=str(tmp_path / "logs"), SQLITE_PATH=str(tmp_path / "db.sqlite3"), **variables)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_readme_server_recipe_passes_check_deploy_without_a_warning(tmp_path):
    variables = recipe()
    assert variables["DATABASE_URL"].startswith("postgres://") and "SECURE_SSL_REDIRECT" in variables
    result = check_deploy(tmp_path, variables)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr and "Traceback" not in result.stderr


def test_without_the_recipe_check_deploy_names_what_is_missing(tmp_path):
    result = check_deploy(tmp_path, {})
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


def test_a_proxy_ssl_header_without_its_value_stops_the_start_naming_the_variable(tmp_path):
    result = check_deploy(tmp_path, {"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"})
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER in the environment: must be HEADER=value" in result.stderr


def test_a_trusted_proxy_network_that_is_no_network_stops_the_start(tmp_path):
    result = check_deploy(tmp_path, {"TRUSTED_PROXY_NETWORKS": "10.0.0.0/8,the-balancer"})
    assert result.returncode != 0
    assert "TRUSTED_PROXY_NETWORKS in the environment: entry 2 is not an IP network" in result.stderr


def test_with_the_https_redirect_on_the_probes_still_answer_plain_http(client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/health").status_code == 200
    redirected = client.get("/admin/login/")
    assert redirected.status_code == 301 and redirected["Location"].startswith("https://")
    assert client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
