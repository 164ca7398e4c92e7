"""Data kept as long as it is useful: one daily prune over every table that grows forever, and what
each of those tables holds now.

The kernel prunes what it owns (Django sessions, django-q2's task results); each console app names
its own `prune(now) -> {table: rows deleted}` function (`ConsoleApp.prune`), asked here in app order.
Each also declares the tables it keeps under a retention setting (`ConsoleApp.retained`, a list of
`Retained`), which `retention_report` measures for the ops card and `manage.py prune --report`.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db.models import Model, QuerySet
from django.utils import timezone
from django_q.models import Task

from . import table_stats
from .jobs import last_run, run_job
from .models import HostClock
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
    """Expired Django sessions (what clearsessions does), django-q2 task results, failures
    included, older than QUEUE_TASK_RETENTION_DAYS, and the clocks of hosts silent for
    HOST_CLOCK_RETENTION_DAYS (host names change with every container a deploy starts)."""
    return {
        "sessions": delete_in_batches(Session.objects.filter(expire_date__lt=now)),
        "django_q.task": delete_in_batches(
            Task.objects.filter(stopped__lt=cutoff(settings.QUEUE_TASK_RETENTION_DAYS, now))
        ),
        "echopilot.hostclock": delete_in_batches(
            HostClock.objects.filter(measured_at__lt=cutoff(settings.HOST_CLOCK_RETENTION_DAYS, now))
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


def run_prune(now: datetime | None = None) -> dict[str, int]:
    """Run the kernel's prune and every app's; returns rows deleted per table. Kept as a job run
    named console_prune (rows deleted per table, the apps whose prune failed) and a line in
    housekeeping.ndjson: the "last prune" the ops card shows. One app's failure is logged and does
    not stop the others; it is raised once they have all run and the run is recorded, so that
    django-q2 and the command report a failure."""
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


# --- What the retained tables hold ----------------------------------------------------------------


@dataclass(frozen=True)
class Retained:
    """One table (or one slice of it, by `where`) kept under a retention: rows whose `time_field` is
    more than the setting `setting`'s days old (or `days`, when no setting names it) go.

    `prune_key` is its key in the console_prune result (default: the model's label); `pruned_by`
    names the job that prunes it when that is not console_prune; `note` says what stays anyway.
    `expires`: the time column is when the row expires (kept until then, not for days after it)."""

    model: type[Model]
    time_field: str
    setting: str = ""
    days: int = 0
    name: str = ""
    where: Mapping[str, object] = field(default_factory=dict)
    prune_key: str = ""
    pruned_by: str = ""
    note: str = ""
    expires: bool = False

    @property
    def keep_days(self) -> int:
        return int(getattr(settings, self.setting)) if self.setting else self.days

    @property
    def label(self) -> str:
        return self.name or str(self.model._meta.verbose_name_plural).capitalize()

    @property
    def key(self) -> str:
        return self.prune_key or self.model._meta.label_lower


def retained() -> list[Retained]:
    """The kernel's own retained tables."""
    return [
        Retained(
            Session,
            "expire_date",
            days=0,
            name="Django sessions",
            prune_key="sessions",
            expires=True,
        ),
        Retained(
            Task,
            "stopped",
            "QUEUE_TASK_RETENTION_DAYS",
            name="Queue task results (failures too)",
            prune_key="django_q.task",
        ),
        Retained(HostClock, "measured_at", "HOST_CLOCK_RETENTION_DAYS", name="Host clocks"),
    ]


def retained_tables() -> list[tuple[str, Retained]]:
    """(app label, declaration) of every retained table: the kernel's, then each app's in app order."""
    return [(KERNEL, r) for r in retained()] + [(app.label, r) for app in console_apps() for r in app.retained_tables()]


@dataclass
class TableReport:
    """One line of the retention report. `rows` and `bytes` are estimates, None where unknown, and
    belong to the whole table: a line sharing the table of the line above (`same_table`) repeats them.
    `oldest` is None for an empty table, or when `unindexed` says why it was not looked up; for a
    table of `expires` rows it is the earliest expiry."""

    app: str
    name: str
    table: str
    key: str
    rows: int | None
    bytes: int | None
    same_table: bool
    oldest: datetime | None
    unindexed: str
    keep_days: int
    setting: str
    behind: bool
    pruned_by: str
    last_prune: datetime | None
    last_deleted: int | None
    prune_failed: bool
    note: str
    expires: bool
    age_days: int | None  # whole days since `oldest`; None when unknown or ahead (a session's expiry)


def retention_report(now: datetime | None = None) -> list[TableReport]:
    """Rows, bytes on disk, oldest row, retention and last prune of every retained table.

    At most four queries, whatever the tables hold: their figures (one on PostgreSQL, two on SQLite,
    see `table_stats`), every oldest row at once, and the last console_prune run. A line whose oldest
    row is more than its retention plus a day old is `behind`: its prune is not keeping up."""
    now = now or timezone.now()
    declared = retained_tables()
    tables = list(dict.fromkeys(r.model._meta.db_table for _, r in declared))
    figures = table_stats.table_figures(tables)
    indexed = [table_stats.has_time_index(r.model, r.time_field, list(r.where)) for _, r in declared]
    lookups = [
        table_stats.OldestLookup(r.model, r.time_field, r.where)
        for (_, r), ok in zip(declared, indexed, strict=True)
        if ok
    ]
    oldest = iter(table_stats.oldest_values(lookups))
    run = last_run(PRUNE_JOB)
    result = run.result if run else {}
    report, previous_table = [], None
    for (app, r), ok in zip(declared, indexed, strict=True):
        table = r.model._meta.db_table
        first = next(oldest) if ok else None
        rows, size = figures.get(table, (None, None))
        pruned_here = run is not None and not r.pruned_by
        report.append(
            TableReport(
                app=app,
                name=r.label,
                table=table,
                key=r.key,
                rows=rows,
                bytes=size,
                same_table=table == previous_table,
                oldest=first,
                unindexed="" if ok else f"no index on {r.time_field}",
                keep_days=r.keep_days,
                setting=r.setting,
                behind=first is not None and first < now - timedelta(days=r.keep_days + 1),
                pruned_by=r.pruned_by,
                last_prune=run.started if pruned_here and run else None,
                last_deleted=result.get("deleted", {}).get(r.key) if pruned_here else None,
                prune_failed=pruned_here and app in result.get("failed", {}),
                note=r.note,
                expires=r.expires,
                age_days=(now - first).days if first is not None and first <= now else None,
            )
        )
        previous_table = table
    return report
