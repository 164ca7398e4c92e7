"""The one clock every host shares: the database's.

Leases, due times and shared send slots compared across hosts must come from one clock, or a host
whose clock runs ahead takes over work still in hand and pushes shared slots forward. The hosts'
own clocks still matter (django-q2's scheduler, tokens, log lines), so each web worker and task
runner notes how far its host's clock is from the database's (`note_clock`), and the ops check
warns about any host that is off.
"""

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signals import request_finished
from django.db import connection, transaction
from django.utils import timezone
from django_q.signals import pre_execute

from .models import HostClock

log = logging.getLogger(__name__)


def db_now() -> datetime:
    """The database's current time (PostgreSQL's clock_timestamp(), which moves within a
    transaction); on SQLite, which lives on one host, this host's clock."""
    return database_time() if connection.vendor == "postgresql" else timezone.now()


@dataclass(frozen=True)
class ClockReading:
    """This host's clock against the database's at one moment."""

    offset_s: float  # this host minus the database: positive when the host runs ahead
    db_time: datetime


def database_time() -> datetime:
    """The database's clock, asked now (SQLite's is read by SQLite, on this host)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
            return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=UTC)
        cursor.execute("SELECT clock_timestamp()")  # CURRENT_TIMESTAMP is the transaction's start
        now: datetime = cursor.fetchone()[0]
        return now


def read_offset() -> ClockReading:
    """This host's clock minus the database's, taken at the midpoint of the round trip so that the
    query's own latency is not counted as skew."""
    before = timezone.now()
    db_time = database_time()
    after = timezone.now()
    return ClockReading(((before + (after - before) / 2) - db_time).total_seconds(), db_time)


def record_clock(host: str, role: str, reading: ClockReading, pid: int | None = None) -> None:
    """Keep `reading` as `host`'s clock for `role` (web or tasks): one upsert, so a host keeps one
    row per role however many processes note it and however often."""
    if role not in HostClock.Role.values:
        raise ValidationError({"role": f"must be one of {', '.join(HostClock.Role.values)}"})
    row = HostClock(
        host=host[:200], role=role, offset_s=reading.offset_s, measured_at=reading.db_time, pid=pid or os.getpid()
    )
    HostClock.objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["host", "role"], update_fields=["offset_s", "measured_at", "pid"]
    )


# role -> time.monotonic() when this process last claimed a note (per process: forked workers start empty)
_noted: dict[str, float] = {}
_noting = threading.Lock()


def note_clock(role: str) -> bool:
    """Record this host's clock for `role` unless this process did within HOST_CLOCK_EVERY_S (0:
    never). It rides on every request and every task, so when not due it costs a dict lookup; and
    a database that fails is logged, never raised, since noting the clock must not fail the request
    or task it rides on. Returns whether it wrote."""
    if not _due(role):
        return False
    try:
        # A savepoint when the caller holds a transaction: a failed write leaves the caller's usable.
        with transaction.atomic():
            record_clock(socket.gethostname(), role, read_offset())
    except Exception as exc:
        log.warning("could not note this host's clock (%s): %s: %s", role, type(exc).__name__, exc)
        return False
    return True


def _due(role: str) -> bool:
    every = settings.HOST_CLOCK_EVERY_S
    if not every:
        return False
    now = time.monotonic()
    with _noting:
        last = _noted.get(role)
        if last is not None and now - last < every:
            return False
        # Claimed before the write, and kept when the write fails: a database in trouble is asked
        # once a minute per process, not on every request.
        _noted[role] = now
    return True


def _note_web_clock(**kwargs: object) -> None:
    note_clock(HostClock.Role.WEB)


def _note_tasks_clock(**kwargs: object) -> None:
    note_clock(HostClock.Role.TASKS)


def connect_signals() -> None:
    """Note the clock after every request (request_finished: the fast path's answers too, which
    no middleware sees) and before every task a django-q2 worker runs (pre_execute, in the worker
    process). A task runner of our own calls `note_clock(HostClock.Role.TASKS)` itself."""
    request_finished.connect(_note_web_clock, dispatch_uid="echopilot.dbclock.web")
    pre_execute.connect(_note_tasks_clock, dispatch_uid="echopilot.dbclock.tasks")
