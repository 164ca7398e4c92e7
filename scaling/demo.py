"""Demo data: a day of queue readings every 10 minutes (a daily cycle with an afternoon peak) and the
decisions the policy took on them in dry-run (the default: what it would have done, nothing applied),
so the card's chart and the admin's history have content. Each wanted change is shown as if it had
been made, so the chart's "running" line follows the policy; the rows say outcome "dry run".

Loading twice adds nothing: the readings and decisions are keyed by their minute.
"""

import math
from datetime import timedelta

from django.db import transaction

from . import forecast as fc
from .models import Decision, SignalSample
from .policy import Constraint, Context, Signals, decide
from .services import limits

HOURS = 24
STEP_MIN = 10
JOBS_PER_WORKER_MIN = 20.0


def _load_at(moment) -> tuple[float, int]:
    """(arrivals a minute, jobs waiting) at a moment of the demo's day: low at night, peak at 15:00."""
    day = (moment.hour * 60 + moment.minute) / 1440
    rate = 8 + 70 * ((1 - math.cos(2 * math.pi * (day - 0.125))) / 2) ** 1.5
    waiting = int(max(0.0, rate - 60) * 2)
    return round(rate, 1), waiting


def load(now) -> str:
    start = (now - timedelta(hours=HOURS)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % STEP_MIN)
    if Decision.objects.filter(by="demo", at__gte=start).exists():
        return "0 new decisions (already loaded)"
    per_minute: list[float] = []
    actual = limits().minimum
    made, last_change = 0, None
    with transaction.atomic():
        for step in range(HOURS * 60 // STEP_MIN):
            at = start + timedelta(minutes=step * STEP_MIN)
            rate, waiting = _load_at(at)
            SignalSample.objects.create(
                at=at,
                source=SignalSample.Source.MEASURED,
                queue_depth=waiting,
                queue_time_s=waiting * 60 / max(1.0, actual * JOBS_PER_WORKER_MIN),
                arrivals_per_min=rate,
                jobs_per_worker_min=JOBS_PER_WORKER_MIN,
            )
            per_minute.extend([rate] * STEP_MIN)
            signals = Signals(
                queue_depth=waiting,
                arrivals_per_min=rate,
                jobs_per_worker_min=JOBS_PER_WORKER_MIN,
                idle_min=30.0 if not waiting else 0.0,
                age_min=0.0,
                arrivals_history=fc.bucket_means(per_minute),
            )
            since = None if last_change is None else (at - last_change).total_seconds() / 60
            verdict = decide(signals, Context(actual=actual, minutes_since_change=since, dry_run=True), limits())
            wanted = Constraint.DRY_RUN in verdict.constraints
            Decision.objects.create(
                at=at,
                outcome=Decision.Outcome.DRY if wanted else Decision.Outcome.HELD,
                desired=verdict.desired,
                actual=actual,
                recommended=verdict.recommended,
                raw=verdict.raw,
                reason=verdict.reason,
                constraints=verdict.constraints,
                inputs={"demo": True, "forecast": verdict.forecast},
                actuator="record",
                by="demo",
            )
            if wanted:
                actual, last_change = verdict.desired, at
            made += 1
    return f"{made} dry-run decisions over the last {HOURS} h"
