"""Uptime probes: http(s) and TCP checks, strikes to one CRITICAL incident, and every
result a request sample of the slo app under service `uptime:<name>`, so availability gets an SLO."""

import ipaddress
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import timedelta
from urllib.parse import urlencode, urljoin, urlsplit

import numpy as np
import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from echopilot.events import append_event
from incidents import raise_incident, resolve_incident
from slo import ingest

from .models import UptimeCheck, UptimeResult, UptimeState

log = logging.getLogger(__name__)
MAX_REDIRECTS = 5
# A failed probe is stored in the slo app as a 503 (counted against the error budget, 5xx).
FAILED_STATUS = 503
PROBE_ROUTE = "/"
# The SLO a new check is offered: the console's default objectives, and a minimum of requests a
# probe-a-minute check reaches within a quarter of an hour (the default 100 would keep 1 h at NO_DATA).
OFFERED_MIN_EVENTS = 15
USER_AGENT = "EchoPilot-uptime/1"
DUE_SLACK = timedelta(seconds=5)
MAX_BODY = 1_000_000


@dataclass(frozen=True)
class Target:
    kind: str  # "http" or "tcp"
    url: str = ""
    host: str = ""
    port: int = 0


@dataclass
class ProbeResult:
    ok: bool
    latency_ms: float
    status_code: int | None = None
    error: str = ""

    def to_dict(self) -> dict:
        return {**asdict(self), "latency_ms": round(self.latency_ms, 1)}


def parse_target(text: str) -> Target:
    """An http(s) URL with a host, or host:port; anything else is refused with a ValidationError."""
    text = text.strip()
    if "://" in text:
        return _http_target(text)
    return _tcp_target(text)


def validate_probe(target: str, method: str, keyword: str, *, target_field: str = "url") -> Target:
    """The rules of one probe, for the admin form and the API alike: a target we may probe, and a
    keyword only where there is a body to find it in. Errors name their field."""
    try:
        parsed = parse_target(target)
    except ValidationError as exc:
        raise ValidationError({target_field: exc.messages}) from exc
    if keyword and parsed.kind == "tcp":
        raise ValidationError({"keyword": "a TCP check has no body to look for a keyword in"})
    if keyword and method == "HEAD":
        raise ValidationError({"keyword": "a HEAD request has no body to look for a keyword in"})
    return parsed


def shown(target: str) -> str:
    """`target` as logs, incidents and answers show it: without the password of a user:pass@ URL."""
    try:
        parts = urlsplit(target)
    except ValueError:
        return target
    if "://" not in target or parts.password is None:
        return target
    netloc = f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"
    return parts._replace(netloc=netloc).geturl()


def _http_target(text: str) -> Target:
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # "http://[::1" and the like
        raise ValidationError(f"not a URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError("only http(s) URLs or host:port can be probed")
    try:
        parts.port  # noqa: B018 (reading it validates the port)
    except ValueError as exc:
        raise ValidationError("the URL's port is not a number from 1 to 65535") from exc
    if not parts.hostname:
        raise ValidationError("the URL has no host")
    return Target("http", url=text)


def _tcp_target(text: str) -> Target:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValidationError("a TCP target is host:port with a port from 1 to 65535 (or an http(s) URL)")
    if not _valid_host(host):
        raise ValidationError(f"{host!r} is not a host name or IP address")
    return Target("tcp", host=host, port=int(port))


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        labels = host.rstrip(".").split(".")
        return len(host) <= 253 and all(
            0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii() for label in labels
        )


# --- one probe -------------------------------------------------------------------------------------------


def probe(
    target: str, *, method: str = "GET", expected_status: int = 200, keyword: str = "", timeout_s: float = 10.0
) -> ProbeResult:
    """Probe `target` once; never raises for a down target (the result says why it failed)."""
    parsed = parse_target(target)
    started = time.perf_counter()
    try:
        if parsed.kind == "tcp":
            result = _probe_tcp(parsed, timeout_s)
        else:
            result = _probe_http(parsed.url, method, expected_status, keyword, timeout_s)
    except (OSError, ValueError, requests.RequestException) as exc:  # a malformed Location is a ValueError
        result = ProbeResult(False, 0.0, error=_describe(exc))
    result.latency_ms = (time.perf_counter() - started) * 1000
    return result


def _probe_tcp(target: Target, timeout_s: float) -> ProbeResult:
    with socket.create_connection((target.host, target.port), timeout=timeout_s):
        return ProbeResult(True, 0.0)


def _probe_http(url: str, method: str, expected: int, keyword: str, timeout_s: float) -> ProbeResult:
    deadline = time.monotonic() + timeout_s
    with requests.Session() as session:
        for _ in range(MAX_REDIRECTS + 1):
            left = max(0.05, deadline - time.monotonic())
            response = session.request(
                method, url, timeout=left, allow_redirects=False, headers={"User-Agent": USER_AGENT}, stream=True
            )
            location = response.headers.get("Location")
            if not response.is_redirect or not location or expected == response.status_code:
                return _judge(response, expected, keyword)
            next_url = urljoin(url, location)
            if urlsplit(next_url).scheme.lower() != urlsplit(url).scheme.lower():
                return ProbeResult(
                    False, 0.0, response.status_code, f"refused a redirect to another scheme: {shown(next_url)}"
                )
            url = next_url
    return ProbeResult(False, 0.0, response.status_code, f"more than {MAX_REDIRECTS} redirects")


def _judge(response: requests.Response, expected: int, keyword: str) -> ProbeResult:
    if response.status_code != expected:
        return ProbeResult(False, 0.0, response.status_code, f"status {response.status_code}, expected {expected}")
    if keyword and keyword not in _body_start(response):
        return ProbeResult(False, 0.0, response.status_code, f"keyword {keyword!r} not in the body")
    return ProbeResult(True, 0.0, response.status_code)


def _body_start(response: requests.Response) -> str:
    # The keyword is looked for in the first MAX_BODY bytes: a huge page must not fill the worker.
    with response:
        head = response.raw.read(MAX_BODY, decode_content=True)
    return head.decode(response.encoding or "utf-8", errors="replace")


def _describe(exc: Exception) -> str:
    # requests' messages repeat the pool object; the exception's class says what happened.
    if isinstance(exc, requests.Timeout | socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, requests.ConnectionError | ConnectionError):
        return f"connection failed: {type(exc).__name__}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def probe_check(check: UptimeCheck) -> ProbeResult:
    """Probe one configured check."""
    return probe(
        check.target,
        method=check.method,
        expected_status=check.expected_status,
        keyword=check.keyword,
        timeout_s=check.timeout_s,
    )


# --- the job: the due checks, concurrently ----------------------------------------------------------------


def claim_due(now=None) -> list[UptimeCheck]:
    """The enabled checks due now, each moved to its next due time; a check another cluster claimed
    first (its next_due_at changed under us) is left to that one."""
    now = now or timezone.now()
    # The job's minutes start a little late or early: a check due within the slack is due now, or a
    # run picked up 0.5 s earlier than the last would skip it for a whole minute.
    soon = now + DUE_SLACK
    due = UptimeCheck.objects.filter(enabled=True).filter(Q(next_due_at__isnull=True) | Q(next_due_at__lte=soon))
    claimed = []
    for check in due:
        moved = UptimeCheck.objects.filter(pk=check.pk, next_due_at=check.next_due_at).update(
            next_due_at=now + timedelta(seconds=check.interval_s)
        )
        if moved:
            claimed.append(check)
    return claimed


def run_due(now=None) -> list[dict]:
    """Probe every due check at once (a slow target does not hold up the others) and record each
    result; returns one summary per check probed."""
    now = now or timezone.now()
    checks = claim_due(now)
    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=min(settings.UPTIME_CONCURRENCY, len(checks))) as pool:
        results = list(pool.map(probe_check, checks))
    recorded = []
    for check, result in zip(checks, results, strict=True):
        try:
            recorded.append(record(check, result, now))
        except Exception:  # one check's bad moment must not cost the others their results
            log.exception("uptime check %s: result not recorded", check.name)
    return recorded


def record(check: UptimeCheck, result: ProbeResult, now=None) -> dict:
    """Store one result: the row, the check's state (strikes raise one CRITICAL incident, the first
    success resolves it), a sample in the slo app and a line in logs/uptime.ndjson."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = UptimeCheck.objects.select_for_update().filter(pk=check.pk).first()
        if locked is None:  # deleted in the admin while it was being probed
            return {"check": check.name, "ok": result.ok, "state": "deleted", "change": ""}
        check = locked
        UptimeResult.objects.create(
            check_ref=check, at=now, ok=result.ok, latency_ms=result.latency_ms,
            status_code=result.status_code, error=result.error[:500],
        )  # fmt: skip
        change = _move_state(check, result, now)
        check.save(update_fields=["state", "failures_in_a_row", "last_checked_at", "last_latency_ms", "last_error"])
    record_sample(check.service, result, now)
    line = {
        "check": check.name,
        "target": shown(check.target),
        **result.to_dict(),
        "state": check.state,
        "change": change,
    }
    append_event("uptime", "probe", **line)
    return line


def _move_state(check: UptimeCheck, result: ProbeResult, now) -> str:
    check.last_checked_at, check.last_latency_ms, check.last_error = now, result.latency_ms, result.error[:500]
    if result.ok:
        check.failures_in_a_row = 0
        was_down = check.state == UptimeState.DOWN
        check.state = UptimeState.UP
        if was_down:
            resolve_incident(check.fingerprint, by="uptime", note="the first probe after the outage succeeded", now=now)
            return "resolved"
        return ""
    check.failures_in_a_row += 1
    if check.failures_in_a_row >= check.strikes and check.state != UptimeState.DOWN:
        check.state = UptimeState.DOWN
        raise_incident(
            "CRITICAL",
            f"uptime check {check.name} is down: {result.error} ({check.failures_in_a_row} failures in a row)",
            "uptime",
            {"check": check.name, "target": shown(check.target), "error": result.error},
            fingerprint=check.fingerprint,
            now=now,
        )
        return "raised"
    return ""


def record_sample(service: str, result: ProbeResult, now) -> None:
    """One request sample for the slo app: the probe's latency, and a 5xx when it failed."""
    status = (result.status_code or 200) if result.ok else FAILED_STATUS
    samples = ingest.Samples(
        epoch_s=np.array([now.timestamp()], dtype=np.float64),
        latency_ms=np.array([result.latency_ms], dtype=np.float64),
        status=np.array([status], dtype=np.int64),
        stream=np.array([0], dtype=np.int64),
        streams=[(service, PROBE_ROUTE)],
    )
    ingest.ingest(samples)


def expire_results(now=None) -> int:
    """Delete results older than UPTIME_RETENTION_DAYS; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.UPTIME_RETENTION_DAYS)
    return UptimeResult.objects.filter(at__lt=cutoff).delete()[0]


# --- what operators read -------------------------------------------------------------------------------------


def availability(check: UptimeCheck, length: timedelta, now=None) -> float | None:
    """Share of successful probes (percent) over the last `length`; None without any probe."""
    now = now or timezone.now()
    counts = UptimeResult.objects.filter(check_ref=check, at__gt=now - length, at__lte=now).aggregate(
        total=Count("pk"), up=Count("pk", filter=Q(ok=True))
    )
    return round(100 * counts["up"] / counts["total"], 3) if counts["total"] else None


def hourly_strip(check: UptimeCheck, now=None, hours: int = 24) -> list[dict]:
    """The last `hours` hours, oldest first: each hour's availability (None: no probe)."""
    now = now or timezone.now()
    start = now - timedelta(hours=hours)
    buckets = [[0, 0] for _ in range(hours)]
    for at, ok in UptimeResult.objects.filter(check_ref=check, at__gt=start, at__lte=now).values_list("at", "ok"):
        slot = min(hours - 1, int((at - start).total_seconds() // 3600))
        buckets[slot][0] += 1
        buckets[slot][1] += ok
    return [{"hour": i, "pct": round(100 * up / total, 1) if total else None} for i, (total, up) in enumerate(buckets)]


def check_status(check: UptimeCheck, now=None) -> dict:
    """One check as GET /api/ops/uptime lists it."""
    now = now or timezone.now()
    return {
        "name": check.name,
        "target": shown(check.target),
        "kind": parse_target(check.target).kind,
        "enabled": check.enabled,
        "state": check.state,
        "failures_in_a_row": check.failures_in_a_row,
        "strikes": check.strikes,
        "last_checked_at": check.last_checked_at.isoformat() if check.last_checked_at else None,
        "last_latency_ms": round(check.last_latency_ms, 1) if check.last_latency_ms is not None else None,
        "last_error": check.last_error,
        "availability_24h_pct": availability(check, timedelta(hours=24), now),
        "availability_30d_pct": availability(check, timedelta(days=30), now),
        "slo_service": check.service,
    }


def status(now=None) -> list[dict]:
    """Every check with its state, last latency and 24 h / 30 d availability."""
    return [check_status(check, now) for check in UptimeCheck.objects.all()]


def offered_slo_url(check: UptimeCheck) -> str:
    """The SLO admin's add form, filled in for this check with the default objectives."""
    fields = {
        "name": f"uptime-{check.name}",
        "service": check.service,
        "p95_ms": settings.SLO_LAT_P95_MS,
        "p99_ms": settings.SLO_LAT_P99_MS,
        "error_budget_pct": settings.SLO_ERR_BUDGET_DAILY_PCT,
        "window_days": settings.SLO_WINDOW_DAYS,
        "error_statuses": "5xx",
        "min_events": OFFERED_MIN_EVENTS,
        "enabled": "on",
    }
    return f"{reverse('admin:slo_slo_add')}?{urlencode(fields)}"
