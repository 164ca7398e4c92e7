"""What django-q2 runs for the portal; each task calls one service function."""

from . import mail, reconcile, services


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
