"""Data kept as long as it is useful: one daily prune over every table that grows forever.

The kernel prunes what it owns (Django sessions, django-q2's task results); each console app names
its own `prune(now) -> {table: rows deleted}` function (`ConsoleApp.prune`), asked here in app order.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_q.models import Task

from .plugins import console_apps

log = logging.getLogger(__name__)

BATCH = 5_000


def cutoff(days: int, now: datetime) -> datetime:
    """The moment before which rows kept for `days` days may go."""
    return now - timedelta(days=days)


def delete_in_batches(queryset) -> int:
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


def prune_all(now: datetime | None = None) -> dict[str, int]:
    """Run the kernel's prune and every app's; returns rows deleted per table. One app's failure is
    logged and does not stop the others; it is raised once they have all run."""
    now = now or timezone.now()
    deleted = prune_kernel(now)
    failures = []
    for app in console_apps():
        try:
            deleted.update(app.prune_old(now))
        except Exception as exc:  # one app's broken prune must not keep the others' tables growing
            log.exception("prune of %s failed", app.label)
            failures.append(exc)
    if failures:
        raise failures[0]
    return deleted
