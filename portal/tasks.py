"""What django-q2 runs for the portal; each task calls one service function."""

from echopilot.jobs import run_job
from incidents.services import raise_incident

from . import mail, retention, services


def send_receipts_link(email: str, requested: bool = True) -> str:
    """Email the receipts-page link (queued by the self-service form and the admin action)."""
    return mail.send_receipts_link(email, requested=requested)


def prune_rate_buckets() -> int:
    """Drop rate-limit counters of long-gone windows."""
    return services.prune_rate_buckets()


# --- Retention analytics (issue 25) ----------------------------------------------------------------------


def _page_failure(run) -> None:
    raise_incident(
        "CRITICAL",
        f"{run.name} failed: {run.summary}"[:1000],
        "portal",
        {"job": run.name},
        fingerprint=f"portal-job:{run.name}",
    )


def run_retention(now=None):
    """Daily 00:05 UTC: DAU / WAU / MAU for yesterday, uncounted days, and days late events touched."""
    return run_job("retention", lambda: retention.aggregate(now), feature="analytics", on_failure=_page_failure)


def aggregate_retention():
    return run_retention().summary
