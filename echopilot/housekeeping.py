"""Data kept as long as it is useful: one daily prune over every table that grows forever.

The kernel prunes what it owns (Django sessions, django-q2's task results); each console app names
its own `prune(now) -> {table: rows deleted}` function (`ConsoleApp.prune`), asked here in app order.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db.models import QuerySet
from django.utils import timezone
from django_q.models import Task

from .jobs import run_job
from .plugins import console_apps

log = logging.getLogger(__name__)

BATCH = 5_000
PRUNE_JOB = "console_prune"
KERNEL = "echopilot"


def cutoff(days: int, now: datetime) -> datetime:
    """The moment before which rows kept for `days` days may go."""
    return now - timedelta(days=days)


def delete_in_batches(queryset: QuerySet) -> int:
    """Delete `queryset`'s rows a batch at a time (short transactions, no long lock on a big table);
    returns how many rows went, cascades not counted."""
    total = 0
    model = queryset.model
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        model.objects.filter(pk__in=ids).delete()
        total += len(ids)


def prune_kernel(now: datetime) -> dict[str, int]:
    """Expired Django sessions (what clearsessions does) and django-q2 task results, failures
    included, older than QUEUE_TASK_RETENTION_DAYS."""
    return {
        "sessions": delete_in_batches(Session.objects.filter(expire_date__lt=now)),
        "django_q.task": delete_in_batches(
            Task.objects.filter(stopped__lt=cutoff(settings.QUEUE_TASK_RETENTION_DAYS, now))
        ),
    }


def _prunes() -> list[tuple[str, Callable[[datetime], dict[str, int]]]]:
    prunes: list[tuple[str, Callable[[datetime], dict[str, int]]]] = [(KERNEL, prune_kernel)]
    return prunes + [(app.label, app.prune_old) for app in console_apps()]


def _prune_each(now: datetime) -> tuple[dict[str, int], list[tuple[str, Exception]]]:
    deleted: dict[str, int] = {}
    failures = []
    for label, prune in _prunes():
        try:
            deleted.update(prune(now))
        except Exception as exc:  # one app's broken prune must not keep the others' tables growing
            log.exception("prune of %s failed", label)
            failures.append((label, exc))
    return deleted, failures


def prune_all(now: datetime | None = None) -> dict[str, int]:
    """Run the kernel's prune and every app's; returns rows deleted per table. One app's failure is
    logged and does not stop the others; it is raised once they have all run."""
    deleted, failures = _prune_each(now or timezone.now())
    if failures:
        raise failures[0][1]
    return deleted


def run_prune(now: datetime | None = None) -> dict[str, int]:
    """`prune_all`, kept as a job run named console_prune (rows deleted per table, the apps whose
    prune failed) and a line in housekeeping.ndjson: the "last prune" the ops card shows. Raises as
    `prune_all` does, once the run is recorded, so that django-q2 and the command report a failure."""
    now = now or timezone.now()
    deleted: dict[str, int] = {}
    failures: list[tuple[str, Exception]] = []

    def job() -> dict:
        counts, failed_apps = _prune_each(now)
        deleted.update(counts)
        failures.extend(failed_apps)
        failed = {label: f"{type(exc).__name__}: {exc}"[:500] for label, exc in failures}
        summary = f"{sum(deleted.values()):,} rows deleted from {len(deleted)} tables"
        if failed:
            summary += "; failed: " + "; ".join(f"{label}: {why}" for label, why in failed.items())
        return {"ok": not failed, "summary": summary, "deleted": deleted, "failed": failed}

    run = run_job(PRUNE_JOB, job, feature="housekeeping")
    if failures:
        raise failures[0][1]
    if run.outcome != run.Outcome.OK:  # the job broke outside every prune: run_job logged it
        raise RuntimeError(run.summary)
    return deleted
