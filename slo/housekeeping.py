"""How long the budget job's tick history is kept (SLO_TICK_RETENTION_DAYS)."""

from datetime import datetime

from django.conf import settings

from echopilot.housekeeping import cutoff, delete_in_batches

from .models import SloTick


def prune(now: datetime) -> dict[str, int]:
    """Delete SLO ticks older than the retention (the rollups they summarise have their own)."""
    return {
        "slo.slotick": delete_in_batches(SloTick.objects.filter(at__lt=cutoff(settings.SLO_TICK_RETENTION_DAYS, now)))
    }
