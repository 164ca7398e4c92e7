"""Running a periodic job the same way from its schedule and from its manage.py command.

`run_job` times the job, keeps its last result as a `JobRun` row (what the admin shows), appends
one line to `<LOG_DIR>/<feature>.ndjson`, and calls the app's `on_failure` (which pages: the
kernel imports no app) when the job raised or said it failed.
"""

import logging
from collections.abc import Callable

import orjson
from django.utils import timezone

from .events import append_event, dumps
from .models import JobRun

log = logging.getLogger(__name__)


def run_job(name: str, func: Callable[[], dict], *, feature: str, on_failure=None) -> JobRun:
    """Run `func` (returning a dict with `ok` and `summary`) and record how it went.

    An exception inside the job is a failed run, not a crash of the scheduler: it is recorded and
    paged like a job that reported `ok: False`.
    """
    started = timezone.now()
    try:
        result = func()
    except Exception as exc:
        log.exception("job %s failed", name)
        result = {"ok": False, "summary": f"{type(exc).__name__}: {exc}"}
    outcome = JobRun.Outcome.OK if result.get("ok") else JobRun.Outcome.FAILED
    run = JobRun.objects.create(
        name=name,
        started=started,
        finished=timezone.now(),
        outcome=outcome,
        summary=str(result.get("summary", ""))[:2000],
        result=_jsonable(result),
    )
    _log_run(feature, run)
    if outcome == JobRun.Outcome.FAILED and on_failure is not None:
        on_failure(run)
    return run


def last_run(name: str) -> JobRun | None:
    """The latest recorded run of job `name`."""
    return JobRun.objects.filter(name=name).order_by("-started").first()


def _log_run(feature: str, run: JobRun) -> None:
    try:
        append_event(
            feature,
            "job_run",
            job=run.name,
            outcome=run.outcome,
            summary=run.summary,
            duration_s=round(run.duration_s, 3),
            result=run.result,
        )
    except OSError:
        # The run is recorded in the database; a full disk must not turn it into a crash.
        log.exception("could not write the %s event", feature)


def _jsonable(result: dict) -> dict:
    # Dates, decimals and paths in a result become their text, as in the event line.
    return orjson.loads(dumps(result))
