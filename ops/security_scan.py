"""The weekly security scan: Django's deployment checks, the pinned requirements against a
vulnerability database (pip-audit), and the console's own rules (no default or published secret, no
admin key past its rotation age, no public endpoint telling a visitor where its dependencies live).

Every finding is a line in `security_scan.ndjson`, part of the `security_scan.json` snapshot the card
shows, and a WARNING incident whose fingerprint is the finding's key: a scan run again within the
inbox's dedupe window (an hour) counts up on the same incidents, and next week's scan reminds anew of
what is still wrong. A vulnerability source that cannot be reached is itself a finding: the scan
never passes on what it did not check.
"""

import json
import logging
import re
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.db import models
from django.test import Client
from django.urls import Resolver404, resolve
from django.utils import timezone

from echopilot.events import append_event, read_snapshot, write_snapshot
from echopilot.models import DashKey, hash_key
from incidents import raise_incident

log = logging.getLogger(__name__)

SNAPSHOT = "security_scan.json"
SOURCE_UNREACHABLE = "could not reach the vulnerability source"
PROBED_ENDPOINTS = ("/health", "/readyz", "/healthz/strict", "/metrics")
# Values anyone can read: the fallback SECRET_KEY in settings.py, the example keys of the product
# documents (ROLES_JSON='{"admin_key":"admin","analyst_key":"analyst"}') and the usual placeholders.
PUBLISHED_SECRETS = frozenset(
    {
        "echopilot-embedded-default-change-me",
        "admin_key",
        "analyst_key",
        "change-me",
        "changeme",
        "secret",
        "password",
    }
)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", ""})
# Whatever the settings say, these in a public answer tell where something lives: a driver's error
# names the address it failed to reach ('connection to server at "db" (172.18.0.2), port 5432').
LEAK_PATTERNS = (
    (
        "a private network address",
        re.compile(r"\b(?:10(?:\.\d{1,3}){3}|192\.168(?:\.\d{1,3}){2}|172\.(?:1[6-9]|2\d|3[01])(?:\.\d{1,3}){2})\b"),
    ),
    ("a URL with a password", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"']+:[^@\s\"']+@", re.IGNORECASE)),
)
# A proxy URL in an error may carry its user and password.
URL_CREDENTIALS = re.compile(r"(//)[^/@\s]+@")
# What requests says when it never got an answer (DNS, refused connection, proxy, timeout).
UNREACHABLE_MARKERS = ("ConnectionError", "NameResolutionError", "ProxyError", "Max retries exceeded", "Timeout")


class AuditState(models.TextChoices):
    OK = "ok", "every pinned package audited, none vulnerable"
    VULNERABLE = "vulnerable", "vulnerable packages"
    INCOMPLETE = "incomplete", "some packages could not be audited"
    UNREACHABLE = "unreachable", SOURCE_UNREACHABLE
    ERROR = "error", "pip-audit failed"


@dataclass(frozen=True)
class Finding:
    check: str  # deploy, dependencies, secrets, keys, endpoints
    key: str  # stable across scans: the dedupe key and the incident fingerprint
    message: str


@dataclass
class AuditResult:
    state: str
    findings: list[Finding] = field(default_factory=list)
    audited: int = 0


@dataclass
class ScanResult:
    started: datetime
    audit_state: str
    audited: int
    findings: list[Finding]

    def to_dict(self) -> dict:
        return {
            "started": self.started.isoformat(),
            "audit_state": self.audit_state,
            "audited": self.audited,
            "by_check": dict(Counter(finding.check for finding in self.findings)),
            "findings": [asdict(finding) for finding in self.findings],
        }


def run_scan(now: datetime | None = None) -> ScanResult:
    """Run every check, record the findings (NDJSON, snapshot, one WARNING incident each) and
    return them. Never raises for a check that found something or could not run: that is a finding."""
    now = now or timezone.now()
    audit = dependency_audit()
    findings = deploy_findings() + audit.findings + secret_findings() + key_age_findings(now) + endpoint_findings()
    result = ScanResult(now, audit.state, audit.audited, _dedupe(findings))
    record(result)
    return result


def _dedupe(findings: list[Finding]) -> list[Finding]:
    return list({finding.key: finding for finding in findings}.values())


# --- Django's deployment checks --------------------------------------------------------------------------


def deploy_findings() -> list[Finding]:
    """What `manage.py check --deploy --tag security` warns about (silenced checks stay silent); the
    other tags (an OpenAPI schema warning, say) are `manage.py check`'s business, not a security finding."""
    messages = checks.run_checks(tags=[checks.Tags.security], include_deployment_checks=True)
    return [
        Finding("deploy", f"deploy:{message.id}", f"{message.id}: {message.msg}")
        for message in messages
        if message.level >= checks.WARNING and not message.is_silenced()
    ]


# --- the pinned requirements against a vulnerability database ------------------------------------------


def dependency_audit() -> AuditResult:
    """pip-audit over SECURITY_SCAN_REQUIREMENTS, asking SECURITY_SCAN_VULN_SERVICE."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(settings.SECURITY_SCAN_REQUIREMENTS),
        # The file pins every package the console runs on: audit those, resolve nothing.
        "--no-deps",
        "--disable-pip",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--vulnerability-service",
        settings.SECURITY_SCAN_VULN_SERVICE,
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=settings.SECURITY_SCAN_AUDIT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return _unreachable(f"no answer within {settings.SECURITY_SCAN_AUDIT_TIMEOUT_S:g} s")
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return _audit_failed(done.stderr)
    return judge_audit(report)


def judge_audit(report: dict) -> AuditResult:
    """The findings of one pip-audit JSON report. A package the source does not know was not audited:
    when that is every package, the source was not really reached."""
    dependencies = report.get("dependencies") or []
    skipped = [dep["name"] for dep in dependencies if dep.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    findings = [_vulnerability(dep, vuln) for dep in dependencies for vuln in dep.get("vulns") or []]
    if dependencies and audited == 0:
        return _unreachable(f"it knew none of the {len(dependencies)} pinned packages", findings)
    if skipped:
        message = f"{len(skipped)} pinned package(s) could not be audited: {', '.join(sorted(skipped)[:20])}"
        findings.append(Finding("dependencies", "dependencies:incomplete", message))
        return AuditResult(AuditState.INCOMPLETE, findings, audited)
    return AuditResult(AuditState.VULNERABLE if findings else AuditState.OK, findings, audited)


def _vulnerability(dependency: dict, vuln: dict) -> Finding:
    fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
    message = f"{dependency['name']} {dependency.get('version', '?')}: {vuln['id']} (fixed in {fixed})"
    return Finding("dependencies", f"vuln:{dependency['name'].lower()}:{vuln['id']}", message)


def _unreachable(reason: str, findings: list[Finding] | None = None) -> AuditResult:
    message = f"{SOURCE_UNREACHABLE} ({settings.SECURITY_SCAN_VULN_SERVICE}): {reason}"
    finding = Finding("dependencies", "dependencies:unreachable", message)
    return AuditResult(AuditState.UNREACHABLE, [*(findings or []), finding])


def _audit_failed(stderr: str) -> AuditResult:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    last = URL_CREDENTIALS.sub(r"\1[redacted]@", lines[-1])[:300] if lines else "no output"
    if any(marker in stderr for marker in UNREACHABLE_MARKERS):
        return _unreachable(last)
    message = f"pip-audit failed: {last}"
    return AuditResult(AuditState.ERROR, [Finding("dependencies", "dependencies:error", message)])


# --- the console's own rules ------------------------------------------------------------------------------


def _configured_secrets() -> dict[str, str]:
    secrets = {
        name: getattr(settings, name, "")
        for name in ("SECRET_KEY", "PORTAL_SIGNING_SECRET", "DASHBOARD_KEY", "STRIPE_WEBHOOK_SECRET")
    }
    for number, key in enumerate(getattr(settings, "ROLES_JSON", {}) or {}, start=1):
        secrets[f"ROLES_JSON key #{number}"] = key
    return secrets


def _is_published(value: str) -> bool:
    return value.strip().lower() in PUBLISHED_SECRETS or value.startswith("django-insecure-")


def secret_findings() -> list[Finding]:
    """A secret setting or an active dash key whose value is a default or published one. Names the
    setting or the key's name and prefix, never the value."""
    findings = [
        Finding("secrets", f"secret:{name}", f"{name} is a default or published value: set a secret of your own")
        for name, value in _configured_secrets().items()
        if value and _is_published(value)
    ]
    published_hashes = {hash_key(value) for value in PUBLISHED_SECRETS}
    for key in DashKey.objects.filter(revoked__isnull=True, key_hash__in=published_hashes):
        message = f"dash key {key.name} ({key.prefix}…) is a published value: revoke it"
        findings.append(Finding("secrets", f"secret:dashkey:{key.pk}", message))
    return findings


def key_age_findings(now: datetime) -> list[Finding]:
    """Every active admin dash key issued more than DASH_KEY_MAX_AGE_DAYS ago."""
    cutoff = now - timedelta(days=settings.DASH_KEY_MAX_AGE_DAYS)
    stale = DashKey.objects.filter(role=DashKey.ADMIN, revoked__isnull=True, created__lt=cutoff).order_by("created")
    return [
        Finding(
            "keys",
            f"key-age:{key.pk}",
            f"admin dash key {key.name} ({key.prefix}…) is {(now - key.created).days} days old; "
            f"rotate keys every {settings.DASH_KEY_MAX_AGE_DAYS} days",
        )
        for key in stale
    ]


def endpoint_findings() -> list[Finding]:
    """Each public health or metrics endpoint whose answer names where a dependency lives."""
    addresses = dependency_addresses()
    client = Client(HTTP_HOST=_probe_host())
    findings = []
    for path in PROBED_ENDPOINTS:
        if not _routed(path):
            continue
        body = client.get(path, secure=True).content.decode(errors="replace")
        exposed = {f"the address of {label}" for label, needle in addresses if needle in body}
        exposed |= {label for label, pattern in LEAK_PATTERNS if pattern.search(body)}
        if exposed:
            message = f"the public endpoint {path} gives away {', '.join(sorted(exposed))}"
            findings.append(Finding("endpoints", f"endpoint:{path}", message))
    return findings


def dependency_addresses() -> list[tuple[str, str]]:
    """(dependency, text that would give its address away): host:port pairs, URLs, non-loopback
    host names and the SQLite file's path."""
    found: list[tuple[str, str]] = []
    for alias, database in settings.DATABASES.items():
        label = f"the {alias} database"
        if database.get("HOST"):
            found += _host_needles(label, database["HOST"], database.get("PORT"))
        elif database.get("NAME") and "sqlite" in database.get("ENGINE", ""):
            found.append((label, str(database["NAME"])))
    urls = [("Redis", getattr(settings, "REDIS_URL", ""))]
    for alias, cache in settings.CACHES.items():
        locations: str | list[str] = cache.get("LOCATION") or []
        for location in [locations] if isinstance(locations, str) else locations:
            urls.append((f"the {alias} cache", location))
    for label, url in urls:
        if url and "://" in url:
            parts = urlsplit(url)
            found += [(label, url), *_host_needles(label, parts.hostname or "", parts.port)]
    if getattr(settings, "SMTP_HOST", ""):
        found += _host_needles("the mail server", settings.SMTP_HOST, getattr(settings, "SMTP_PORT", None))
    return found


def _host_needles(label: str, host: str, port) -> list[tuple[str, str]]:
    needles = [(label, f"{host}:{port}")] if port else []
    # A bare name like "db" or "redis" also appears in metric names; a dotted one is an address.
    if host.lower() not in LOOPBACK_HOSTS and "." in host:
        needles.append((label, host))
    return needles


def _routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _probe_host() -> str:
    """A Host header the console accepts, as a load balancer's probe would send."""
    for host in settings.ALLOWED_HOSTS:
        if host != "*":
            return host.lstrip(".")
    return "localhost"


# --- where results go -----------------------------------------------------------------------------------


def record(result: ScanResult) -> None:
    """One NDJSON line per finding and one for the scan, the card's snapshot, one incident each."""
    for finding in result.findings:
        append_event("security_scan", "finding", **asdict(finding))
    summary = result.to_dict()
    append_event(
        "security_scan",
        "scan",
        audit_state=result.audit_state,
        audited=result.audited,
        findings=len(result.findings),
        by_check=summary["by_check"],
    )
    write_snapshot(SNAPSHOT, summary)
    for finding in result.findings:
        _raise(finding)
    log.info("security scan: %d finding(s), dependency audit %s", len(result.findings), result.audit_state)


def _raise(finding: Finding) -> None:
    try:
        meta = {"check": finding.check, "key": finding.key}
        raise_incident("WARNING", finding.message, "ops", meta, fingerprint=f"ops:security-scan:{finding.key}")
    except Exception:
        # The scan's own record is written already; a broken inbox must not hide the other findings.
        log.exception("could not raise the incident for security finding %s", finding.key)


def summary(result: ScanResult) -> str:
    """One line for the operator, then one per finding."""
    head = (
        f"security scan: {len(result.findings)} finding(s); dependency audit: "
        f"{AuditState(result.audit_state).label} ({result.audited} package(s) audited)"
    )
    return "\n".join([head, *(f"  [{finding.check}] {finding.message}" for finding in result.findings)])


# --- the card ----------------------------------------------------------------------------------------------


def card_context(request) -> dict:
    """Context of `ops/card_security.html`: the last scan, from its snapshot."""
    last = read_snapshot(SNAPSHOT)
    if last is not None:
        last["audit_label"] = AuditState(last["audit_state"]).label
        last["started_at"] = datetime.fromisoformat(last["started"])
    return {"security_scan": last, "security_source_unreachable": SOURCE_UNREACHABLE}
