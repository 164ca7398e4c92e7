"""Two recoveries or two uptime jobs at the same moment (two qclusters, a manual run): real races
on PostgreSQL."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Task

from ops import recovery, uptime
from ops.models import RequeuedTask, UptimeCheck
from tests.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FLAKY = "tests.ops.flaky.fails_the_first_time"


def test_two_recoveries_at_once_requeue_a_failed_task_once():
    stopped = timezone.now() - timedelta(minutes=5)
    for n in range(5):
        Task.objects.create(id=f"t{n}", name=f"t{n}", func=FLAKY, args=("/nowhere",), kwargs={}, started=stopped,
                            stopped=stopped, success=False)  # fmt: skip
    runs = race(lambda _: recovery.recover(trigger="race"), range(4))
    requeued = [a for run in runs for a in run.actions if a["action"] == "requeue"]
    assert len(requeued) == 5
    assert RequeuedTask.objects.count() == 5
    assert OrmQ.objects.count() == 5


def test_two_uptime_jobs_at_once_probe_each_due_check_once():
    for n in range(6):
        UptimeCheck.objects.create(name=f"c{n}", target="127.0.0.1:1", timeout_s=0.5)
    now = timezone.now()
    claimed = race(lambda _: [c.name for c in uptime.claim_due(now)], range(4))
    names = [name for batch in claimed for name in batch]
    assert sorted(names) == [f"c{n}" for n in range(6)]
