"""The task runner on a fresh SQLite console (its own file, real processes), as `dev.py start` runs it:
the ops check's heartbeat passes, the schedules due at start run, and a raising task is a Failure."""

import base64
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

from tests.ops.console import Console, wait_for

ROOT = Path(__file__).resolve().parents[2]
DUE_NOW = (
    "from django.utils import timezone; from django_q.models import Schedule; "
    "print(','.join(Schedule.objects.filter(next_run__lte=timezone.now()).values_list('name', flat=True)))"
)


def test_the_runner_passes_the_heartbeat_runs_due_schedules_and_records_a_failure(tmp_path):
    console = Console(tmp_path)
    console.env["TASK_RUNNER"] = "single"
    assert console.manage("migrate", "-v0").returncode == 0
    assert console.manage("setup_schedules").returncode == 0
    due = console.manage("shell", "-c", DUE_NOW).stdout.strip().splitlines()[-1].split(",")
    queued = console.manage(
        "shell", "-c", "from django_q.tasks import async_task; async_task('tests.echopilot.runner_jobs.fail', 'boom')"
    )
    assert queued.returncode == 0, queued.stderr
    runner = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster_pool"],
        cwd=ROOT,
        env=console.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: checks_of(console)["qcluster"]["status"] == "ok", 60)
        ran = "SELECT name FROM django_q_schedule WHERE task IS NOT NULL"
        assert len(due) >= 5
        assert wait_for(lambda: set(due) <= {name for (name,) in console.query(ran)}, 60)
        failed = "SELECT result FROM django_q_task WHERE func = 'tests.echopilot.runner_jobs.fail' AND success = 0"
        assert wait_for(lambda: len(console.query(failed)) == 1, 30)
        assert "RuntimeError: boom" in pickle.loads(base64.b64decode(console.query(failed)[0][0]))  # PickledObjectField
        assert checks_of(console)["failed_tasks"]["status"] != "ok"  # the ops check sees it
    finally:
        os.killpg(runner.pid, signal.SIGTERM)
        runner.wait(timeout=60)
    assert runner.returncode == 0


def checks_of(console):
    return {c["name"]: c for c in console.ops_check()[1]["checks"]}
