"""How long the budget job's tick history is kept (SLO_TICK_RETENTION_DAYS)."""

from datetime import datetime

from django.conf import settings

from echopilot.housekeeping import Retained, cutoff, delete_in_batches

from .ingest import RETENTION_SETTINGS
from .models import Rollup, SloTick


def prune(now: datetime) -> dict[str, int]:
    """Delete SLO ticks older than the retention (the rollups they summarise have their own)."""
    return {
        "slo.slotick": delete_in_batches(SloTick.objects.filter(at__lt=cutoff(settings.SLO_TICK_RETENTION_DAYS, now)))
    }


def retained() -> list[Retained]:
    """The tick history (console_prune), and the rollups of each resolution, which every budget tick
    expires (slo.ingest.expire): three slices of one table."""
    rollups = [
        Retained(
            Rollup,
            "start",
            setting,
            name=f"SLO rollups, {name}",
            where={"resolution": resolution},
            pruned_by="budget tick (15 min)",
        )
        for resolution, (name, setting) in RETENTION_SETTINGS.items()
    ]
    return [
        Retained(
            SloTick,
            "at",
            "SLO_TICK_RETENTION_DAYS",
            name="SLO tick history",
            note="every budget tick also deletes ticks older than 90 days (slo.ticks.TICK_HISTORY)",
        ),
        *rollups,
    ]
