"""The single-process task runner (TASK_RUNNER=single, what `dev.py start` runs on SQLite): it runs queued
tasks and due schedules in forked children and saves them as django-q2's cluster does, records a
Failure for a task that raises, kills a task that outlives its timeout and goes on, and never runs one
queued task twice beside another runner or a cluster. On SQLite: test_taskrunner_console.py."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import Failure, OrmQ, Schedule, Success, Task
from django_q.tasks import async_task

from echopilot.queue import queue_status
from echopilot.taskrunner import Runner
from ops import recovery
from scaling.actuators import pool_running
from tests.ops.console import wait_for

ROOT = Path(__file__).resolve().parents[2]
JOBS = "tests.echopilot.runner_jobs"

# A forked child writes through its own connection: the test database must be a server's, not
# SQLite's in-memory one (the SQLite side is proven on a fresh console's file below).
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_until(runner: Runner, done, seconds: float = 30, then_stop: bool = True) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runner.tick()
        if done():
            if then_stop:
                runner.drain(10)  # no child outlives the test (and its database connection)
            return True
    return False


def test_a_queued_task_runs_once_and_its_success_is_saved_and_acknowledged():
    task_id = async_task(f"{JOBS}.add", 2, 3, task_name="sum")
    runner = Runner(workers=1)
    assert run_until(runner, lambda: Task.objects.filter(id=task_id).exists())
    task = Success.objects.get(id=task_id)
    assert (task.name, task.result, task.attempt_count) == ("sum", 5, 1)
    assert task.cluster == "echopilot"
    assert not OrmQ.objects.exists()  # acknowledged: no other runner will hand it out again


def test_a_due_schedule_is_queued_run_and_moved_to_its_next_time():
    due = Schedule.objects.create(
        name="sum-every-minute",
        func=f"{JOBS}.add",
        args="4, 5",
        schedule_type=Schedule.MINUTES,
        minutes=1,
        next_run=timezone.now() - timedelta(seconds=5),
    )
    runner = Runner(workers=1)
    assert run_until(runner, lambda: Task.objects.filter(group="sum-every-minute").exists())
    due.refresh_from_db()
    assert Success.objects.get(id=due.task).result == 9  # the schedule's last task, as the admin shows it
    assert due.next_run > timezone.now()


def test_a_raising_task_is_saved_as_a_failure_with_its_error():
    task_id = async_task(f"{JOBS}.fail", "the disk is full", task_name="doomed")
    runner = Runner(workers=1)
    assert run_until(runner, lambda: Task.objects.filter(id=task_id).exists())
    failure = Failure.objects.get(id=task_id)
    assert "RuntimeError: the disk is full" in failure.result
    assert not OrmQ.objects.exists()  # its one attempt (Q_CLUSTER max_attempts) is used


def test_a_task_past_its_timeout_is_stopped_by_the_alarm_and_saved_as_a_failure():
    task_id = async_task(f"{JOBS}.sleep", 30, timeout=1, task_name="sleepy")
    runner = Runner(workers=1)
    started = time.monotonic()
    assert run_until(runner, lambda: Task.objects.filter(id=task_id).exists(), seconds=20)
    assert time.monotonic() - started < 10
    assert "exceeded maximum timeout value (1 seconds)" in Failure.objects.get(id=task_id).result


def test_a_task_that_swallows_its_timeout_is_killed_and_the_runner_goes_on():
    hung = async_task(f"{JOBS}.hang_through_the_alarm", 600, timeout=1, task_name="hung")
    runner = Runner(workers=1, kill_grace_s=1)
    assert run_until(runner, lambda: Task.objects.filter(id=hung).exists(), seconds=20, then_stop=False)
    assert "killed by the task runner" in Failure.objects.get(id=hung).result
    assert runner.children == {}
    after = async_task(f"{JOBS}.add", 1, 1, task_name="after")
    assert run_until(runner, lambda: Task.objects.filter(id=after).exists())  # its only slot is free again
    assert Success.objects.get(id=after).result == 2


def test_the_queue_status_lists_the_runner_as_a_running_cluster(api):
    runner = Runner(workers=1)
    runner.tick()
    clusters = api.get("/api/queue/status").json()["clusters"]
    mine = [(c["status"], c["workers"]) for c in clusters if c["id"] == str(runner.cluster_id)]
    assert mine == [("Idle", 0)]  # beside it, for 3 s, the Stat of a former test's runner may be listed


def runner_env(**extra):
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DASHBOARD_KEY", "Q_SYNC")}
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        Q_WORKERS="2",
        SLO_RECORD_CONSOLE="false",
        **extra,
    )
    return env


def test_two_runners_and_a_cluster_never_run_one_queued_task_twice(tmp_path):
    ran = tmp_path / "ran.txt"
    ids = [async_task(f"{JOBS}.note", str(ran), f"job-{n}") for n in range(40)]
    commands = [["qcluster_pool"], ["qcluster_pool"], ["qcluster"]]
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=runner_env(LOG_DIR=str(tmp_path / f"logs-{n}"), TASK_RUNNER="single"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for n, command in enumerate(commands)
    ]
    try:
        assert wait_for(lambda: Task.objects.filter(id__in=ids).count() == 40, 90)
        time.sleep(3)  # a second run, were there one, has time to show
    finally:
        for process in processes:
            process.terminate()  # a runner drains its children, the cluster's sentinel stops its own
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own process group: ours to end
    lines = ran.read_text().splitlines()
    labels = [line.split()[0] for line in lines]
    assert sorted(labels) == sorted(f"job-{n}" for n in range(40))  # each once
    assert Task.objects.filter(id__in=ids, success=True, attempt_count=1).count() == 40
    assert not OrmQ.objects.exists()
    runs = {}
    for line in lines:
        runs[line.split()[1]] = runs.get(line.split()[1], 0) + 1
    print(f"runs per runner or cluster: {sorted(runs.values())}")


def test_ops_recovery_restarts_the_runner_as_a_fresh_process_that_goes_on_running_tasks(log_dir, tmp_path):
    log_dir.mkdir(parents=True, exist_ok=True)
    runner = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster_pool"],
        cwd=ROOT,
        env=runner_env(LOG_DIR=str(log_dir), TASK_RUNNER="single", SCALE_POOL_POLL_S="0.5"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Its snapshot comes after its first Stat: then the one Stat listed is its own, not a former test's.
        assert wait_for(lambda: pool_running() == 1 and len(running_clusters()) == 1, 30)
        [first] = running_clusters()
        [restart] = [a for a in recovery.recover(trigger="test").actions if a["action"] == "restart"]
        assert restart["outcome"].startswith("asked the qcluster pool to restart its 1 cluster(s)")
        assert wait_for(lambda: running_clusters() not in ([], [first]), 30)  # a new Runner in a fresh process
        assert runner.poll() is None  # the same pid for dev.py, which supervises it
        after = async_task(f"{JOBS}.add", 20, 22)
        assert wait_for(lambda: Task.objects.filter(id=after, success=True).exists(), 30)
    finally:
        runner.terminate()
        runner.wait(timeout=60)


def running_clusters():
    return [c["id"] for c in queue_status()["clusters"]]
