"""Several clusters deciding at once (the schedule runs on every host): one change is applied; the
others wait for its lock, then see the pool already resized."""

import pytest

from scaling import services
from scaling.models import Decision, ScaleState
from tests.races import race

BUSY = {"queue_depth": 120, "queue_time_s": 95.0, "arrivals_per_min": 80.0, "jobs_per_worker_min": 20.0}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_deciders_at_once_apply_one_change(settings):
    settings.SCALE_DRY_RUN = False
    services.record_signals({**BUSY, "workers_actual": 2})
    outcomes = race(lambda i: services.apply(by=f"cluster {i}")["outcome"], range(4))
    assert sorted(outcomes) == ["applied", "held", "held", "held"]
    assert Decision.objects.filter(outcome=Decision.Outcome.APPLIED).count() == 1
    held = Decision.objects.filter(outcome=Decision.Outcome.HELD)
    assert [(d.actual, d.desired) for d in held] == [(6, 6)] * 3
    assert ScaleState.objects.get().applied_workers == 6
