"""How long the ledger is kept (COST_LEDGER_RETENTION_DAYS)."""

from datetime import datetime, timedelta

from django.conf import settings

from echopilot.housekeeping import Retained, delete_in_batches

from .models import SpendEntry


def prune(now: datetime) -> dict[str, int]:
    """Delete ledger rows of cost days older than the retention; the daily totals (DailyCounter
    rows, what caps, reports and forecasts read) are kept, so every day's total stays exact. A row
    the audit chain has no entry for yet is kept until it has (costs.sealing)."""
    first_kept = (now - timedelta(days=settings.COST_LEDGER_RETENTION_DAYS)).date()
    old_rows = SpendEntry.objects.filter(day__lt=first_kept, audit_pending=False)
    return {"costs.spendentry": delete_in_batches(old_rows)}


def retained() -> list[Retained]:
    """The ledger, by its cost day (the daily totals are kept for good, so they are not listed)."""
    return [Retained(SpendEntry, "day", "COST_LEDGER_RETENTION_DAYS", name="Cost ledger")]
