"""The console's periodic jobs and demo data, gathered from the apps that declare them
(see `echopilot.plugins.ConsoleApp`)."""

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from .plugins import Job, console_apps, next_utc

# One number for "the schedules are being synced", shared by every host on the database.
SCHEDULES_LOCK = 0x5E7C_0001


def _lock_schedules() -> None:
    # django-q2's Schedule.name is not unique and the table is not ours to constrain, and a row lock
    # cannot lock a row that does not exist yet: on PostgreSQL a transaction-scoped advisory lock
    # makes hosts running setup_schedules at once take turns. SQLite serialises writers itself.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEDULES_LOCK])


def schedule_fields(job: Job, now: datetime) -> dict:
    """The django-q2 Schedule columns for `job`."""
    if job.minutes:
        kind = {"schedule_type": Schedule.MINUTES, "minutes": job.minutes, "next_run": now}
    elif job.weekly_at:
        kind = {"schedule_type": Schedule.WEEKLY, "minutes": None, "next_run": job.weekly_at}
    else:
        kind = {"schedule_type": Schedule.DAILY, "minutes": None, "next_run": job.daily_at or now}
    return {"func": job.func, "kwargs": job.kwargs, "repeats": -1, **kind}


# The kernel's own jobs; apps declare theirs in their schedules.py. The prune runs at a quiet hour.
KERNEL_JOBS = [Job(name="console_prune", func="echopilot.tasks.prune_tick", daily_at=next_utc(3, 15))]


def declared_jobs() -> list[Job]:
    """The kernel's jobs, then every job declared by a console app, in app order."""
    return KERNEL_JOBS + [job for app in console_apps() for job in app.jobs()]


@transaction.atomic
def sync_schedules(now: datetime | None = None) -> list[tuple[str, bool]]:
    """Create or update one django-q2 Schedule row per declared job, keyed by name.

    Returns (name, created) pairs. Running it again changes nothing but the definition; a job's
    next_run is kept once set, so a redeploy does not shift or re-fire the schedule. Hosts that run it
    at the same moment take turns, so a fresh database still gets one row per job.
    """
    now = now or timezone.now()
    _lock_schedules()
    outcome = []
    for job in declared_jobs():
        fields = schedule_fields(job, now)
        rows = list(Schedule.objects.select_for_update().filter(name=job.name).order_by("id"))
        if rows:
            schedule, extra = rows[0], rows[1:]
            # Duplicates made by hand would fire twice per period: keep the oldest only.
            Schedule.objects.filter(pk__in=[r.pk for r in extra]).delete()
            fields.pop("next_run")
            Schedule.objects.filter(pk=schedule.pk).update(**fields)
            outcome.append((job.name, False))
        else:
            Schedule.objects.create(name=job.name, **fields)
            outcome.append((job.name, True))
    return outcome


def load_demo(now: datetime | None = None) -> list[tuple[str, str]]:
    """Ask each app with a demo module to add its demo data; returns (app, summary) pairs."""
    now = now or timezone.now()
    done = []
    for app in console_apps():
        if app.demo:
            done.append((app.label, import_string(app.demo)(now)))
    return done
