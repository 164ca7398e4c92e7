"""The weekly security scan: deployment checks, pip-audit, the console's own rules, and where its
findings go (NDJSON, the card's snapshot, one WARNING incident each)."""

import json
import socket
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from echopilot import health
from echopilot.models import DashKey, hash_key
from echopilot.registry import declared_jobs, sync_schedules
from incidents.models import Incident
from ops import security_scan
from tests.ops import pypi_api

pytestmark = pytest.mark.django_db

STRONG_SECRET = "q8Vn2-7hYf4!kLw0pZ3rT6xJ9bC1mE5sU8aD2gH4jK7nQ0vB-Xe3Rt7Yu1Io5Pa"
# A report in pip-audit's JSON format (`pip-audit --format json`).
VULNERABLE_REPORT = {
    "dependencies": [
        {"name": "django", "version": "3.2.0", "vulns": [
            {"id": "PYSEC-2021-98", "fix_versions": ["2.2.21", "3.1.9", "3.2.1"], "aliases": ["CVE-2021-31542"],
             "description": "MultiPartParser allowed directory traversal via uploaded files."},
        ]},
        {"name": "requests", "version": "2.34.2", "vulns": []},
    ],
    "fixes": [],
}  # fmt: skip


@pytest.fixture
def dead_port():
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def unreachable_source(monkeypatch, dead_port, settings, tmp_path):
    """pip-audit's HTTPS goes through a proxy that refuses, as on a machine without the internet."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Django==5.2.19\nrequests==2.34.2\n")
    settings.SECURITY_SCAN_REQUIREMENTS = requirements
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{dead_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


@pytest.fixture
def hardened(settings):
    """A deployment that passes Django's deployment checks and the console's secret rules."""
    settings.SECRET_KEY = STRONG_SECRET
    settings.PORTAL_SIGNING_SECRET = STRONG_SECRET[::-1]
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.DEBUG = False
    return settings


def _admin_key(name: str, age_days: int, *, role=DashKey.ADMIN, revoked=False) -> DashKey:
    key, _ = DashKey.issue(name, role)
    now = timezone.now()
    DashKey.objects.filter(pk=key.pk).update(created=now - timedelta(days=age_days), revoked=now if revoked else None)
    return key


# --- the vulnerability source ---------------------------------------------------------------------------


@pytest.fixture
def pypi(tmp_path, monkeypatch, settings):
    """PyPI's JSON API on loopback, reached by pip-audit through a CONNECT proxy; the scan audits
    Django 5.1 (a release with a published advisory) and requests."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Django==5.1\nrequests==2.34.2\n")
    settings.SECURITY_SCAN_REQUIREMENTS = requirements
    settings.SECURITY_SCAN_VULN_SERVICE = "pypi"
    with pypi_api.pypi_api(tmp_path) as (catalogue, environment):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        yield catalogue


def test_a_pinned_release_with_a_published_advisory_is_a_finding(pypi):
    pypi.release("django", "5.1", pypi_api.advisory("PYSEC-0000-CVE-2024-45230"))
    pypi.release("requests", "2.34.2")

    audit = security_scan.dependency_audit()

    assert (audit.state, audit.audited) == (security_scan.AuditState.VULNERABLE, 2)
    assert [(finding.key, finding.message) for finding in audit.findings] == [
        (
            "vuln:django:PYSEC-0000-CVE-2024-45230",
            "django 5.1: PYSEC-0000-CVE-2024-45230 (fixed in 4.2.16, 5.0.9, 5.1.1)",
        )
    ]
    assert sorted(pypi.asked) == ["/pypi/django/5.1/json", "/pypi/requests/2.34.2/json"]


def test_releases_without_advisories_pass_the_audit(pypi):
    pypi.release("django", "5.1")
    pypi.release("requests", "2.34.2")

    audit = security_scan.dependency_audit()

    assert (audit.state, audit.audited, audit.findings) == (security_scan.AuditState.OK, 2, [])


def test_a_release_pypi_does_not_know_leaves_the_audit_incomplete(pypi):
    pypi.release("requests", "2.34.2")

    audit = security_scan.dependency_audit()

    assert audit.state == security_scan.AuditState.INCOMPLETE
    assert [finding.key for finding in audit.findings] == ["dependencies:incomplete"]


@pytest.mark.parametrize("service", ["pypi", "osv"])
def test_an_unreachable_vulnerability_source_is_a_finding_not_a_pass(unreachable_source, settings, service):
    settings.SECURITY_SCAN_VULN_SERVICE = service

    audit = security_scan.dependency_audit()

    assert audit.state == security_scan.AuditState.UNREACHABLE
    assert [finding.key for finding in audit.findings] == ["dependencies:unreachable"]
    assert audit.findings[0].message.startswith(f"could not reach the vulnerability source ({service})")


def test_a_source_that_knows_none_of_the_packages_was_not_reached(pypi):
    # pip-audit itself exits 0 with "No known vulnerabilities found" here: every release is a 404,
    # as from a PyPI mirror without the JSON API.
    audit = security_scan.dependency_audit()

    assert audit.state == security_scan.AuditState.UNREACHABLE
    assert "could not reach the vulnerability source (pypi): it knew none of the 2 pinned packages" in [
        finding.message for finding in audit.findings
    ]
    assert len(pypi.asked) == 2


def test_each_vulnerability_is_one_finding_naming_the_fixed_versions():
    audit = security_scan.judge_audit(VULNERABLE_REPORT)

    assert (audit.state, audit.audited) == (security_scan.AuditState.VULNERABLE, 2)
    assert [(finding.key, finding.message) for finding in audit.findings] == [
        ("vuln:django:PYSEC-2021-98", "django 3.2.0: PYSEC-2021-98 (fixed in 2.2.21, 3.1.9, 3.2.1)")
    ]


def test_packages_the_source_skipped_make_the_audit_incomplete():
    report = json.loads(json.dumps(VULNERABLE_REPORT))
    report["dependencies"].append({"name": "fpdf2", "skip_reason": "Dependency not found on PyPI"})

    audit = security_scan.judge_audit(report)

    assert audit.state == security_scan.AuditState.INCOMPLETE
    assert "1 pinned package(s) could not be audited: fpdf2" in [finding.message for finding in audit.findings]


def test_a_clean_audit_has_no_finding():
    report = {"dependencies": [{"name": "requests", "version": "2.34.2", "vulns": []}], "fixes": []}

    assert security_scan.judge_audit(report).state == security_scan.AuditState.OK
    assert security_scan.judge_audit(report).findings == []


def test_pip_audit_missing_is_an_error_finding(settings, tmp_path):
    settings.SECURITY_SCAN_REQUIREMENTS = tmp_path / "no-such-requirements.txt"

    audit = security_scan.dependency_audit()

    assert audit.state == security_scan.AuditState.ERROR
    assert audit.findings[0].message.startswith("pip-audit failed:")


# --- Django's deployment checks ---------------------------------------------------------------------------


def test_django_deployment_warnings_are_findings(settings):
    settings.SESSION_COOKIE_SECURE = False

    keys = {finding.key for finding in security_scan.deploy_findings()}

    assert "deploy:security.W012" in keys


def test_a_hardened_deployment_and_silenced_checks_give_no_deploy_finding(hardened):
    hardened.SILENCED_SYSTEM_CHECKS = ["security.W008"]
    hardened.SECURE_SSL_REDIRECT = False

    assert [finding.key for finding in security_scan.deploy_findings()] == []


# --- secrets and keys -----------------------------------------------------------------------------------------


def test_the_embedded_default_secret_key_is_a_finding(settings):
    settings.SECRET_KEY = "echopilot-embedded-default-change-me"

    keys = {finding.key for finding in security_scan.secret_findings()}

    assert "secret:SECRET_KEY" in keys


def test_a_published_example_key_is_a_finding_that_never_shows_the_key(hardened):
    hardened.ROLES_JSON = {"admin_key": "admin", STRONG_SECRET: "analyst"}
    hardened.DASHBOARD_KEY = "changeme"

    findings = security_scan.secret_findings()

    assert {finding.key for finding in findings} == {"secret:ROLES_JSON key #1", "secret:DASHBOARD_KEY"}
    assert not any("admin_key" in finding.message or "changeme" in finding.message for finding in findings)


def test_a_stored_dash_key_with_a_published_value_is_a_finding(hardened):
    DashKey.objects.create(name="from the docs", role=DashKey.ADMIN, prefix="admin_k", key_hash=hash_key("admin_key"))

    assert [finding.message for finding in security_scan.secret_findings()] == [
        "dash key from the docs (admin_k…) is a published value: revoke it"
    ]


def test_own_secrets_are_no_finding(hardened):
    hardened.DASHBOARD_KEY = STRONG_SECRET
    hardened.STRIPE_WEBHOOK_SECRET = "whsec_" + STRONG_SECRET

    assert security_scan.secret_findings() == []


def test_an_admin_key_older_than_the_rotation_age_is_a_finding():
    old = _admin_key("ci deploy", 91)
    _admin_key("fresh", 89)
    _admin_key("old analyst", 400, role=DashKey.ANALYST)
    _admin_key("old but revoked", 400, revoked=True)

    findings = security_scan.key_age_findings(timezone.now())

    assert [finding.key for finding in findings] == [f"key-age:{old.pk}"]
    assert "is 91 days old; rotate keys every 90 days" in findings[0].message


def test_the_rotation_age_is_a_setting(settings):
    settings.DASH_KEY_MAX_AGE_DAYS = 30
    _admin_key("monthly", 31)

    assert len(security_scan.key_age_findings(timezone.now())) == 1


# --- public endpoints --------------------------------------------------------------------------------------------


@pytest.fixture
def leaky_check(settings):
    """A readiness check that puts its dependency's address in its detail, as connection errors do."""
    settings.REDIS_URL = "redis://cache.internal.example:6380/0"
    health.register_check(
        "leaky", lambda: health.CheckResult(False, "Error 111 connecting to cache.internal.example:6380.")
    )
    yield
    health._CHECKS.pop("leaky", None)


def test_a_health_endpoint_naming_a_dependency_address_is_a_finding(leaky_check):
    findings = security_scan.endpoint_findings()

    assert [(finding.key, finding.message) for finding in findings] == [
        ("endpoint:/healthz/strict", "the public endpoint /healthz/strict gives away the address of Redis")
    ]


@pytest.mark.parametrize(
    "detail, exposed",
    [
        ('connection to server at "db" (172.18.0.2), port 5432 failed', "a private network address"),
        ("Error connecting to redis://default:s3cr3t-pw@cache:6379/0", "a URL with a password"),
    ],
)
def test_an_address_the_settings_do_not_name_is_still_a_finding(detail, exposed):
    health.register_check("leaky", lambda: health.CheckResult(False, detail))
    try:
        findings = security_scan.endpoint_findings()
    finally:
        health._CHECKS.pop("leaky", None)

    assert [finding.message for finding in findings] == [f"the public endpoint /healthz/strict gives away {exposed}"]
    assert "s3cr3t-pw" not in findings[0].message


def test_a_bare_host_name_alone_is_not_taken_for_an_address(settings):
    settings.SMTP_HOST = "smtp"
    settings.SMTP_PORT = 25

    assert ("the mail server", "smtp") not in security_scan.dependency_addresses()
    assert security_scan.endpoint_findings() == []


def test_the_public_endpoints_of_a_fresh_console_name_no_dependency(settings):
    settings.SMTP_HOST = "smtp.internal.example"
    settings.SMTP_PORT = 2525

    assert security_scan.endpoint_findings() == []
    assert ("the mail server", "smtp.internal.example:2525") in security_scan.dependency_addresses()


# --- the scan as a whole -------------------------------------------------------------------------------------------


def test_each_finding_is_one_ndjson_line_and_one_warning_incident(unreachable_source, settings, log_dir):
    settings.SECRET_KEY = "echopilot-embedded-default-change-me"

    result = security_scan.run_scan()

    lines = [json.loads(line) for line in (log_dir / "security_scan.ndjson").read_text().splitlines()]
    findings = [line for line in lines if line["event"] == "finding"]
    assert len(findings) == len(result.findings) >= 2
    assert lines[-1]["event"] == "scan" and lines[-1]["audit_state"] == "unreachable"
    incidents = Incident.objects.filter(fingerprint__startswith="ops:security-scan:")
    assert incidents.count() == len(result.findings)
    assert set(incidents.values_list("severity", flat=True)) == {"WARNING"}
    assert incidents.filter(message__startswith="could not reach the vulnerability source").exists()


def test_a_finding_seen_again_counts_up_on_its_incident_instead_of_opening_another(unreachable_source, settings):
    settings.SECRET_KEY = "echopilot-embedded-default-change-me"
    first = security_scan.run_scan()

    security_scan.run_scan()

    incidents = Incident.objects.filter(fingerprint__startswith="ops:security-scan:")
    assert incidents.count() == len(first.findings)
    assert set(incidents.values_list("count", flat=True)) == {2}


def test_the_command_prints_every_finding(unreachable_source, capsys):
    call_command("security_scan")

    out = capsys.readouterr().out
    assert "dependency audit: could not reach the vulnerability source (0 package(s) audited)" in out
    assert "[dependencies] could not reach the vulnerability source (pypi)" in out


def test_the_card_shows_the_last_scan_and_its_findings(unreachable_source, settings):
    settings.SECRET_KEY = "echopilot-embedded-default-change-me"
    assert "Not run yet" in render_to_string("ops/card_security.html", security_scan.card_context(None))
    security_scan.run_scan()

    html = render_to_string("ops/card_security.html", security_scan.card_context(None))

    assert "could not reach the vulnerability source" in html
    assert "SECRET_KEY is a default or published value" in html


def test_the_scheduled_task_runs_the_scan_and_answers_its_summary(unreachable_source, log_dir):
    job = next(job for job in declared_jobs() if job.name == "ops_security_scan")

    answer = import_string(job.func)()

    assert answer.startswith("security scan: ")
    assert (log_dir / "security_scan.json").exists()


def test_the_scan_runs_weekly_on_sunday_at_three_utc():
    job = next(job for job in declared_jobs() if job.name == "ops_security_scan")
    now = datetime(2026, 12, 6, 9, 0, tzinfo=dt_timezone.utc)

    sync_schedules(now=now)

    row = Schedule.objects.get(name="ops_security_scan")
    assert (row.func, row.schedule_type) == ("ops.tasks.security_scan", Schedule.WEEKLY)
    assert (job.weekly_at.weekday(), job.weekly_at.hour, job.weekly_at.minute) == (6, 3, 0)
    assert row.next_run == job.weekly_at


def test_a_proxy_password_in_an_error_is_not_repeated():
    stderr = "requests.exceptions.ProxyError: Cannot connect to proxy http://scanner:hunter2-pass@10.0.0.9:3128\n"

    audit = security_scan._audit_failed(stderr)

    assert audit.state == security_scan.AuditState.UNREACHABLE
    assert "http://[redacted]@10.0.0.9:3128" in audit.findings[0].message
