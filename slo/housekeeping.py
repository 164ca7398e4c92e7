"""How long the budget job's tick history is kept (SLO_TICK_RETENTION_DAYS)."""

from datetime import datetime

from django.conf import settings

from echopilot.housekeeping import Retained, cutoff, delete_in_batches

from .models import Rollup, SloTick


def prune(now: datetime) -> dict[str, int]:
    """Delete SLO ticks older than the retention (the rollups they summarise have their own)."""
    return {
        "slo.slotick": delete_in_batches(SloTick.objects.filter(at__lt=cutoff(settings.SLO_TICK_RETENTION_DAYS, now)))
    }


def retained() -> list[Retained]:
    """The tick history (console_prune), and the rollups of each resolution, which every budget tick
    expires (slo.ingest.expire): three slices of one table."""
    tick = "budget tick (15 min)"
    return [
        Retained(
            SloTick,
            "at",
            "SLO_TICK_RETENTION_DAYS",
            name="SLO tick history",
            note="every budget tick also deletes ticks older than 90 days (slo.ticks.TICK_HISTORY)",
        ),
        Retained(
            Rollup,
            "start",
            "SLO_MINUTE_RETENTION_DAYS",
            name="SLO rollups, minute",
            where={"resolution": Rollup.MINUTE},
            pruned_by=tick,
        ),
        Retained(
            Rollup,
            "start",
            "SLO_HOUR_RETENTION_DAYS",
            name="SLO rollups, hour",
            where={"resolution": Rollup.HOUR},
            pruned_by=tick,
        ),
        Retained(
            Rollup,
            "start",
            "SLO_DAY_RETENTION_DAYS",
            name="SLO rollups, day",
            where={"resolution": Rollup.DAY},
            pruned_by=tick,
        ),
    ]
