"""The ops check: every named check at once, each with its own timeout, so the whole
answers within OPS_CHECK_DEADLINE_S even when the broker hangs.

A check is a function returning (verdict, detail). Other parts of the ops app add theirs with
`register(name, func, timeout_s)` (the backups' age, for one).
"""

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Failure, Schedule, Task
from django_q.tasks import async_task

from echopilot.dbclock import db_now, read_offset
from echopilot.events import append_event, log_dir
from echopilot.models import HostClock
from echopilot.registry import declared_jobs
from incidents import raise_incident, resolve_incident
from incidents.pager import channel_status
from incidents.services import RaiseResult
from slo import gate
from slo import services as slo_services

from .models import OpsCheckRun, Verdict

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)
OK, WARN, FAIL = Verdict.OK, Verdict.WARN, Verdict.FAIL
RANK: dict[str, int] = {OK: 0, WARN: 1, FAIL: 2}
DISK_WARN_PCT = 10.0
DISK_FAIL_PCT = 2.0
HOSTS_LISTED = 10  # by name in a detail; the admin's host clocks list has them all
INCIDENT_FINGERPRINT = "ops:check:fail"
DEFAULT_TIMEOUT_S = 3.0
# Recording the run may take until KEEP_S past the checks' deadline, between KEEP_MIN_S and KEEP_MAX_S.
KEEP_S, KEEP_MIN_S, KEEP_MAX_S = 0.8, 0.3, 2.0
Timeout = float | Callable[[], float]


@dataclass(frozen=True)
class Check:
    name: str
    func: Callable[[], tuple[str, str]]
    timeout_s: float | Callable[[], float] = DEFAULT_TIMEOUT_S

    def timeout(self) -> float:
        return self.timeout_s() if callable(self.timeout_s) else self.timeout_s


@dataclass
class Outcome:
    name: str
    status: str
    detail: str
    duration_ms: int

    def to_dict(self) -> dict:
        return {"name": self.name, "status": str(self.status), "detail": self.detail, "duration_ms": self.duration_ms}


@dataclass
class Report:
    worst: str
    checks: list[Outcome]
    duration_ms: int
    at: str = ""
    incident: int | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "status": str(self.worst),
            "at": self.at,
            "duration_ms": self.duration_ms,
            "checks": [c.to_dict() for c in self.checks],
            "incident": self.incident,
        }


_CHECKS: dict[str, Check] = {}


def register(
    name: str, func: Callable[[], tuple[str, str]], timeout_s: float | Callable[[], float] = DEFAULT_TIMEOUT_S
) -> None:
    """Add (or replace) a named check: `func()` returns (ok|warn|fail, detail) and may raise."""
    _CHECKS[name] = Check(name, func, timeout_s)


def registered() -> list[Check]:
    return list(_CHECKS.values())


# --- running them --------------------------------------------------------------------------------------


def run_all(checks: list[Check] | None = None) -> tuple[list[Outcome], int]:
    """Run every check in a thread of its own and wait for each no longer than its timeout (nor past
    the deadline); a check still running then fails as timed out. Returns outcomes and total ms."""
    checks = registered() if checks is None else checks
    started = time.monotonic()
    deadline = started + settings.OPS_CHECK_DEADLINE_S
    slots = [_start(check) for check in checks]
    outcomes = []
    for check, (thread, box) in zip(checks, slots, strict=True):
        limit = min(started + check.timeout(), deadline)
        thread.join(max(0.0, limit - time.monotonic()))
        outcomes.append(box.get("outcome") or _timed_out(check, limit - started))
    return outcomes, round((time.monotonic() - started) * 1000)


def _start(check: Check) -> tuple[threading.Thread, dict]:
    box: dict = {}
    # A daemon thread: a check that hangs for good (a broker that never answers) must not keep the
    # process alive after the answer has gone out.
    thread = threading.Thread(target=_run_one, args=(check, box), name=f"ops-check-{check.name}", daemon=True)
    thread.start()
    return thread, box


def _run_one(check: Check, box: dict) -> None:
    started = time.monotonic()
    try:
        status, detail = check.func()
    except Exception as exc:  # a check that raises has failed; its error is the detail
        status, detail = FAIL, f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    finally:
        connections.close_all()  # this thread's own connections
    box["outcome"] = Outcome(check.name, Verdict(status), detail, round((time.monotonic() - started) * 1000))


def _timed_out(check: Check, waited_s: float) -> Outcome:
    return Outcome(check.name, FAIL, f"no answer within {waited_s:.1f} s", round(waited_s * 1000))


def worst_of(outcomes: list[Outcome]) -> str:
    return max((o.status for o in outcomes), key=RANK.__getitem__, default=OK)


def ops_check(*, by: str = "", now=None) -> Report:
    """Run the ops check, keep the run, and raise one incident (deduplicated) when a check fails,
    resolving it once none does."""
    now = now or timezone.now()
    outcomes, duration_ms = run_all()
    report = Report(worst_of(outcomes), outcomes, duration_ms, at=now.isoformat())
    failed = [o for o in outcomes if o.status == FAIL]
    left_s = settings.OPS_CHECK_DEADLINE_S + KEEP_S - duration_ms / 1000
    _keep_in_time(report, failed, by, now, min(KEEP_MAX_S, max(KEEP_MIN_S, left_s)))
    append_event("ops", "ops_check", status=str(report.worst), duration_ms=duration_ms, failed=[o.name for o in failed])
    return report


def _keep_in_time(report: Report, failed: list[Outcome], by: str, now, seconds: float) -> None:
    """Record the run and its incident, giving up after `seconds`: with the ORM broker the broker is
    the database, and a database that hangs must not hold the answer past its 10 seconds."""

    def keep() -> None:
        try:
            _keep(report, failed, by, now)
        except DatabaseError as exc:  # the database is what failed: the answer still goes out
            log.warning("ops check not recorded: %s", exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=keep, name="ops-check-keep", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        log.warning("ops check not recorded: the database did not answer within %.1f s", seconds)


def _keep(report: Report, failed: list[Outcome], by: str, now) -> None:
    OpsCheckRun.objects.create(
        at=now, worst=report.worst, duration_ms=report.duration_ms, checks=[o.to_dict() for o in report.checks],
        triggered_by=by,
    )  # fmt: skip
    if failed:
        report.incident = _raise(failed, now).incident.pk
    else:
        resolve_incident(INCIDENT_FINGERPRINT, by="ops-check", note="every check passed", now=now)


def _raise(failed: list[Outcome], now) -> RaiseResult:
    summary = "; ".join(f"{o.name}: {o.detail}" for o in failed)
    return raise_incident(
        "ERROR",
        f"ops check failed: {summary}",
        "ops-check",
        {"failed": [o.to_dict() for o in failed]},
        fingerprint=INCIDENT_FINGERPRINT,
        now=now,
    )


def last_run() -> OpsCheckRun | None:
    return OpsCheckRun.objects.first()


# --- the checks ---------------------------------------------------------------------------------------------


def check_database() -> tuple[str, str]:
    """A write and a read back, rolled back so that nothing is left."""
    marker = f"ops-db-{uuid.uuid4().hex}"
    with transaction.atomic():
        row = OpsCheckRun.objects.create(worst=OK, triggered_by=marker)
        seen = OpsCheckRun.objects.filter(pk=row.pk, triggered_by=marker).exists()
        transaction.set_rollback(True)
    return (OK, f"{connection.vendor}: wrote and read a row") if seen else (FAIL, "a written row was not read back")


def check_clock() -> tuple[str, str]:
    """The host clock against the database's: tokens, windows and schedules assume they agree."""
    skew = abs(read_offset().offset_s)
    tolerance = settings.OPS_CLOCK_TOLERANCE_S
    detail = f"host and {connection.vendor} clocks differ by {skew:.3f} s (tolerance {tolerance:g} s)"
    return skew_verdict(skew), detail


def skew_verdict(skew_s: float) -> str:
    """Beyond OPS_CLOCK_TOLERANCE_S a clock warns; beyond three times it, it fails."""
    tolerance = settings.OPS_CLOCK_TOLERANCE_S
    if skew_s > 3 * tolerance:
        return FAIL
    return WARN if skew_s > tolerance else OK


@dataclass(frozen=True)
class HostSkew:
    host: str
    roles: tuple[str, ...]
    offset_s: float  # the largest of its roles' offsets, by size

    def __str__(self) -> str:
        return f"{self.host} ({', '.join(self.roles)})"


def check_host_clocks(now: datetime | None = None) -> tuple[str, str]:
    """Every host whose web workers or task runners noted their clock lately (they do about once a
    minute) against the database's: warns naming each host off by more than OPS_CLOCK_TOLERANCE_S,
    fails past three times it, wherever the check itself runs."""
    now = now or db_now()
    since = now - timedelta(minutes=settings.OPS_HOST_CLOCK_RECENT_MIN)
    rows = list(HostClock.objects.all())
    hosts = _host_skews([r for r in rows if r.measured_at >= since])
    quiet = sorted({r.host for r in rows} - {h.host for h in hosts})
    off = sorted((h for h in hosts if skew_verdict(abs(h.offset_s)) != OK), key=lambda h: -abs(h.offset_s))
    worst = max((skew_verdict(abs(h.offset_s)) for h in hosts), key=RANK.__getitem__, default=OK)
    return worst, _host_clocks_detail(hosts, off) + _quiet_detail(quiet)


def _host_skews(rows: list[HostClock]) -> list[HostSkew]:
    by_host: dict[str, list[HostClock]] = {}
    for row in rows:
        by_host.setdefault(row.host, []).append(row)
    return [
        HostSkew(host, tuple(sorted(r.role for r in own)), max((r.offset_s for r in own), key=abs))
        for host, own in sorted(by_host.items())
    ]


def _host_clocks_detail(hosts: list[HostSkew], off: list[HostSkew]) -> str:
    recent = settings.OPS_HOST_CLOCK_RECENT_MIN
    if not hosts:
        return f"no web worker or task runner has noted its host's clock in the last {recent} min"
    tolerance = settings.OPS_CLOCK_TOLERANCE_S
    fine = [h for h in hosts if h not in off]
    if not off:
        listed = ", ".join(f"{h} {h.offset_s:+.3f} s" for h in fine[:HOSTS_LISTED])
        return f"{len(fine)} host(s) within {tolerance:g} s of the database clock: {listed}{_more(fine)}"
    said = ", ".join(f"{h} {abs(h.offset_s):.1f} s {'ahead' if h.offset_s > 0 else 'behind'}" for h in off)
    detail = f"off the database clock: {said} (tolerance {tolerance:g} s, fail past {3 * tolerance:g} s)"
    if fine:
        detail += f"; within it: {', '.join(h.host for h in fine[:HOSTS_LISTED])}{_more(fine)}"
    return detail


def _quiet_detail(quiet: list[str]) -> str:
    if not quiet:
        return ""
    names = ", ".join(quiet[:HOSTS_LISTED]) + _more(quiet)
    return f"; not judged, silent for over {settings.OPS_HOST_CLOCK_RECENT_MIN} min: {names}"


def _more(items: list) -> str:
    return f" and {len(items) - HOSTS_LISTED} more" if len(items) > HOSTS_LISTED else ""


def broker_name() -> str:
    return "Redis broker" if settings.REDIS_URL else "ORM broker (the database)"


def _redis_client(timeout_s: float) -> "redis.Redis":
    # Our own client with socket timeouts: django-q2's has none, and a thread blocked on a broker
    # that never answers would outlive the check (one per request) instead of ending by itself.
    # Imported here: only a console with REDIS_URL needs the client (~7 MB in every process).
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


def check_broker() -> tuple[str, str]:
    try:
        broker = get_broker()
        if settings.REDIS_URL:
            client = _redis_client(DEFAULT_TIMEOUT_S - 0.5)
            answered, waiting = client.ping(), client.llen(broker.list_key)
        else:
            answered, waiting = broker.ping(), broker.queue_size()
    except Exception as exc:  # a refused connection is the finding, named with the broker
        return FAIL, f"{broker_name()} did not answer: {type(exc).__name__}: {str(exc)[:200]}"
    if not answered:
        return FAIL, f"{broker_name()} did not answer ping"
    return OK, f"{broker_name()} answered; {waiting} task(s) waiting"


def heartbeat_timeout() -> float:
    return settings.OPS_HEARTBEAT_TIMEOUT_S


def check_qcluster() -> tuple[str, str]:
    """A heartbeat task round trip: queued on the broker, run by a qcluster, its result stored."""
    started = time.monotonic()
    try:
        if settings.REDIS_URL:
            _redis_client(min(2.0, heartbeat_timeout() / 2)).ping()  # django-q2's enqueue would wait forever
        task_id = async_task("ops.tasks.heartbeat", task_name=f"ops-heartbeat-{uuid.uuid4().hex[:8]}")
    except Exception as exc:  # the broker refused the heartbeat: no cluster can be reached through it
        return FAIL, f"the {broker_name()} refused the heartbeat: {type(exc).__name__}: {str(exc)[:200]}"
    limit = started + heartbeat_timeout() - 0.2
    while time.monotonic() < limit:
        if Task.objects.filter(id=task_id, success=True).exists():
            return OK, f"a qcluster ran the heartbeat in {time.monotonic() - started:.2f} s via the {broker_name()}"
        time.sleep(0.1)
    return FAIL, f"no qcluster ran the heartbeat within {heartbeat_timeout():g} s via the {broker_name()}"


def check_schedules(now=None) -> tuple[str, str]:
    """Every declared job has its schedule row, and none is overdue."""
    now = now or timezone.now()
    rows = {s.name: s for s in Schedule.objects.filter(name__in=[j.name for j in declared_jobs()])}
    missing = sorted({j.name for j in declared_jobs()} - set(rows))
    grace = timedelta(minutes=settings.OPS_SCHEDULE_GRACE_MIN)
    overdue = sorted(name for name, s in rows.items() if s.next_run and s.next_run < now - grace)
    problems = []
    if missing:
        problems.append(f"not registered (run setup_schedules): {', '.join(missing)}")
    if overdue:
        problems.append(f"overdue by more than {settings.OPS_SCHEDULE_GRACE_MIN} min: {', '.join(overdue)}")
    return (WARN, "; ".join(problems)) if problems else (OK, f"{len(rows)} schedules registered, none overdue")


def check_log_dir() -> tuple[str, str]:
    """LOG_DIR is writable and its disk has room: warn below 10% free, fail below 2%."""
    path = log_dir()
    probe = path / f".ops-check-{uuid.uuid4().hex}"
    probe.write_bytes(b"ok")
    probe.unlink()
    usage = shutil.disk_usage(path)
    free_pct = 100 * usage.free / usage.total if usage.total else 0.0
    return disk_verdict(free_pct), f"{path} writable; {free_pct:.1f}% of its disk free ({usage.free // 2**20} MiB)"


def disk_verdict(free_pct: float) -> str:
    if free_pct < DISK_FAIL_PCT:
        return FAIL
    return WARN if free_pct < DISK_WARN_PCT else OK


SLO_VERDICT = {"CRITICAL": FAIL, "WARNING": WARN}


def check_slos() -> tuple[str, str]:
    """Each enabled SLO's burn over the last hour: WARNING warns, CRITICAL fails."""
    states = [(slo.name, slo_services.status(slo, "1h")["burn_alert"]) for slo in slo_services.active_slos()]
    if not states:
        return WARN, "no SLO is enabled"
    worst = max((SLO_VERDICT.get(alert, OK) for _, alert in states), key=RANK.__getitem__)
    return worst, ", ".join(f"{name} {alert}" for name, alert in states)


def check_deploy_gate() -> tuple[str, str]:
    state = gate.current()
    return (WARN, f"deploy gate shut: {state.reason}") if state.shut else (OK, "deploy gate open")


def check_pager() -> tuple[str, str]:
    """Which channels are configured, and whether each worked the last time it was used."""
    channels = channel_status()
    configured = [c for c in channels if c["configured"]]
    if not configured:
        return WARN, "no pager channel is configured: CRITICAL incidents page nobody"
    parts = [f"{c['channel']}: {_last_time(c)}" for c in configured]
    bad = any(c["broken"] or c["last_attempt_failed"] for c in configured)
    return (WARN if bad else OK), "; ".join(parts)


def _last_time(channel: dict) -> str:
    if channel["broken"]:
        return f"broken ({channel['broken_reason'][:100]})"
    if channel["last_attempt_failed"]:
        return "last attempt failed"
    return "worked last time" if channel["last_ok_at"] else "not used yet"


def check_failed_tasks(now=None) -> tuple[str, str]:
    now = now or timezone.now()
    failed = Failure.objects.filter(stopped__gte=now - timedelta(hours=1))
    count = failed.count()
    if not count:
        return OK, "no task failed in the last hour"
    names = sorted(set(failed.values_list("func", flat=True)[:20]))
    return WARN, f"{count} task(s) failed in the last hour ({', '.join(names)}); ops_recover requeues them"


def register_builtin_checks() -> None:
    register("database", check_database)
    register("clock", check_clock)
    register("host_clocks", check_host_clocks)
    register("broker", check_broker)
    register("qcluster", check_qcluster, heartbeat_timeout)
    register("schedules", check_schedules)
    register("log_dir", check_log_dir)
    register("slos", check_slos)
    register("deploy_gate", check_deploy_gate)
    register("pager", check_pager)
    register("failed_tasks", check_failed_tasks)


def exit_code(worst: str) -> int:
    """0 ok, 1 warn, 2 fail: scripts and cron read the command's exit code."""
    return RANK[Verdict(worst)]
