"""How an app plugs into the console: its `AppConfig` subclasses `ConsoleApp` and names what it has.

Kept free of model imports, since every app's `apps.py` imports it before the app registry is ready.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING

from django.apps import AppConfig, apps
from django.http import HttpRequest
from django.utils.module_loading import import_string

if TYPE_CHECKING:  # housekeeping imports models, which this module must not
    from .housekeeping import Retained


@dataclass(frozen=True)
class Job:
    """One periodic job: `func` (a dotted path) every `minutes`, daily from `daily_at`, or weekly
    from `weekly_at`."""

    name: str
    func: str
    minutes: int | None = None
    daily_at: datetime | None = None
    kwargs: dict = field(default_factory=dict)
    weekly_at: datetime | None = None


def next_utc(hour: int, minute: int, *, weekday: int | None = None, now: datetime | None = None) -> datetime:
    """The next moment at hour:minute UTC (on `weekday`, Monday 0 .. Sunday 6, when given) after
    `now`: the first run of a job declared with `daily_at` or `weekly_at`."""
    now = now or datetime.now(dt_timezone.utc)
    at = now.astimezone(dt_timezone.utc).replace(hour=hour, minute=minute, second=0, microsecond=0)
    if weekday is not None:
        at += timedelta(days=(weekday - at.weekday()) % 7)
    if at <= now:
        at += timedelta(days=7 if weekday is not None else 1)
    return at


class ConsoleApp(AppConfig):
    """A console app. `verbose_name` is its one title (the admin's section and the dashboard card);
    the dotted paths name its periodic jobs (a list of `Job`), its demo loader (`load(now) -> str`)
    its card's context (`card_context(request) -> dict`, rendered with `<label>/card.html`), its
    prune (`prune(now) -> {table: rows deleted}`, run daily by the kernel's console_prune job) and
    the tables it keeps under a retention setting (`retained() -> [housekeeping.Retained]`, what the
    ops card's "Data kept" and `manage.py prune --report` show).
    An app's apps.py imports this module rather than the class, so that Django still finds the app's
    own config as its only AppConfig. Adding an app to the console means adding it to INSTALLED_APPS;
    their order is the order of the cards and of the demo data (a later app's demo may rely on an
    earlier one's)."""

    schedules: str = ""
    demo: str = ""
    card: str = ""
    prune: str = ""
    retained: str = ""

    def prune_old(self, now: datetime) -> dict[str, int]:
        return import_string(self.prune)(now) if self.prune else {}

    def retained_tables(self) -> list["Retained"]:
        return list(import_string(self.retained)()) if self.retained else []

    def jobs(self) -> list[Job]:
        return list(import_string(self.schedules)) if self.schedules else []

    def card_context(self, request: HttpRequest) -> dict:
        return import_string(self.card)(request) if self.card else {}


def console_apps() -> list[ConsoleApp]:
    """The installed console apps, in INSTALLED_APPS order."""
    return [config for config in apps.get_app_configs() if isinstance(config, ConsoleApp)]
