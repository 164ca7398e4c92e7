"""Where the console's apps declare their periodic jobs, demo data and dashboard cards.

Each app may have `schedules.py` with `SCHEDULES = [Job(...), ...]`, `demo.py` with
`load(now) -> str`, and `dashboard.py` with `card_context(request) -> dict` next to its
`templates/<app>/card.html`. Nothing has to register itself: the apps are looked up here.
"""

import importlib
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

# In dependency order: demo data of a later app may rely on an earlier one.
CONSOLE_APPS = [
    ("incidents", "Incidents"),
    ("slo", "SLO & Error Budget"),
    ("costs", "Cost"),
    ("scaling", "Scaling"),
    ("portal", "Customer Portal"),
]


@dataclass(frozen=True)
class Job:
    """One periodic job: `func` (a dotted path) every `minutes`, or daily from `next_run`."""

    name: str
    func: str
    minutes: int | None = None
    daily_at: datetime | None = None
    kwargs: dict = field(default_factory=dict)

    def schedule_fields(self, now) -> dict:
        if self.minutes:
            kind = {"schedule_type": Schedule.MINUTES, "minutes": self.minutes, "next_run": now}
        else:
            kind = {"schedule_type": Schedule.DAILY, "minutes": None, "next_run": self.daily_at or now}
        return {"func": self.func, "kwargs": self.kwargs, "repeats": -1, **kind}


def optional_module(app: str, module: str):
    """`app.module` if the app has one, else None (a missing app module is not an error)."""
    try:
        return importlib.import_module(f"{app}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"{app}.{module}", app):
            return None
        raise


def declared_jobs() -> list[Job]:
    """Every job declared by a console app, in app order."""
    jobs = []
    for app, _title in CONSOLE_APPS:
        module = optional_module(app, "schedules")
        jobs.extend(getattr(module, "SCHEDULES", []) if module else [])
    return jobs


@transaction.atomic
def sync_schedules(now=None) -> list[tuple[str, bool]]:
    """Create or update one django-q2 Schedule row per declared job, keyed by name.

    Returns (name, created) pairs. Running it again changes nothing but the definition; a job's
    next_run is kept once set, so a redeploy does not shift or re-fire the schedule.
    """
    now = now or timezone.now()
    outcome = []
    for job in declared_jobs():
        fields = job.schedule_fields(now)
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


def load_demo(now=None) -> list[tuple[str, str]]:
    """Ask each app with a demo module to add its demo data; returns (app, summary) pairs."""
    now = now or timezone.now()
    done = []
    for app, _title in CONSOLE_APPS:
        module = optional_module(app, "demo")
        if module is not None:
            done.append((app, module.load(now)))
    return done
