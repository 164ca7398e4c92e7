"""What django-q2 runs for the portal; each task calls one service function."""

from datetime import datetime

from echopilot.jobs import run_job
from echopilot.models import JobRun
from incidents.services import raise_incident

from . import mail, reconcile, retention, services


def send_receipts_link(email: str, requested: bool = True) -> str:
    """Email the receipts-page link (queued by the self-service form and the admin action)."""
    return mail.send_receipts_link(email, requested=requested)


def prune_rate_buckets() -> int:
    """Drop rate-limit counters of long-gone windows."""
    return services.prune_rate_buckets()


def stripe_reconcile(since_days: int | None = None) -> str:
    """Recover the purchases whose webhooks never arrived (the nightly schedule and
    `manage.py stripe_reconcile` alike); off, and says so, without STRIPE_API_KEY."""
    try:
        run = reconcile.reconcile(since_days)
    except reconcile.ReconcileOff as exc:
        return str(exc)
    return reconcile.summary(run)


# --- Retention analytics ----------------------------------------------------------------------


def _page_failure(run: JobRun) -> None:
    raise_incident(
        "CRITICAL",
        f"{run.name} failed: {run.summary}"[:1000],
        "portal",
        {"job": run.name},
        fingerprint=f"portal-job:{run.name}",
    )


def run_retention(now: datetime | None = None) -> JobRun:
    """Daily 00:05 UTC: DAU / WAU / MAU for yesterday, uncounted days, and days late events touched."""
    return run_job("retention", lambda: retention.aggregate(now), feature="analytics", on_failure=_page_failure)


def aggregate_retention() -> str:
    """The scheduled daily count, as one line for the task's result."""
    return run_retention().summary
