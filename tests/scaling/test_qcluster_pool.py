"""The qcluster actuator with real processes: the pool follows the applied size, and scale-in lets the
job a stopped cluster is running (longer than the cooldown) finish."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django_q.models import Task
from django_q.tasks import async_task

from ops import recovery
from scaling.models import ScaleState
from scaling.pool import Pool, desired_clusters, restart, restart_requested_at

ROOT = Path(__file__).resolve().parents[2]
BUSY = {"queue_depth": 120, "queue_time_s": 95.0, "arrivals_per_min": 80.0, "jobs_per_worker_min": 20.0}
IDLE = {"queue_depth": 0, "queue_time_s": 0.0, "arrivals_per_min": 1.0, "jobs_per_worker_min": 20.0, "p95_ms": 5}
JOB_S = 80  # longer than the 1-minute cooldown


def pool_env(log_dir):
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DASHBOARD_KEY", "Q_SYNC")}
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        LOG_DIR=str(log_dir),
        Q_WORKERS="1",
        SCALE_ACTUATOR="qcluster",
        SCALE_POOL_POLL_S="0.5",
        SLO_RECORD_CONSOLE="false",
    )
    return env


def start_pool(log_dir, **env) -> subprocess.Popen:
    """`manage.py qcluster_pool` on the test database, as dev.py start runs it (`env` added to its
    environment)."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster_pool"],
        cwd=ROOT,
        env={**pool_env(log_dir), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def pool_status(log_dir):
    try:
        return json.loads((log_dir / "qcluster_pool.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no parent for {pid}")


def apply(api):
    return api.post("/api/scale/apply", {"dry_run": False}, content_type="application/json").json()


@pytest.mark.django_db
def test_the_pool_keeps_one_cluster_unless_the_qcluster_actuator_is_chosen(settings):
    settings.SCALE_ACTUATOR = "record"
    ScaleState.objects.create(pk=ScaleState.ROW, applied_workers=4)
    assert desired_clusters() == 1
    settings.SCALE_ACTUATOR = "qcluster"
    assert desired_clusters() == 4
    ScaleState.objects.update(applied_workers=0)
    assert desired_clusters() == 1  # the autoscaler's own schedule needs a cluster


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_scale_in_stops_a_cluster_gracefully_and_its_long_job_finishes(api, push, settings, log_dir, tmp_path):
    settings.SCALE_ACTUATOR = "qcluster"
    settings.SCALE_MAX = 2
    settings.SCALE_DRY_RUN = False
    settings.SCALE_COOLDOWN_MIN = 1
    settings.SCALE_DOWN_WINDOW_MIN = 0
    settings.SCALE_IDLE_BEFORE_DOWN_MIN = 0
    ScaleState.objects.create(pk=ScaleState.ROW, applied_workers=1)
    log_dir.mkdir(parents=True, exist_ok=True)
    pool = start_pool(log_dir)
    try:
        assert wait_for(lambda: pool_status(log_dir).get("running") == 1, 30)
        first = pool_status(log_dir)["pids"][0]
        marker = tmp_path / "job"
        async_task("tests.scaling.jobs.long_job", JOB_S, str(marker), task_name="long-job")
        assert wait_for(lambda: marker.with_suffix(".started").exists(), 60)
        assert parent_of(int(marker.with_suffix(".started").read_text())) == first  # the job runs on cluster 1

        push(**BUSY)
        assert apply(api)["desired"] == 2
        assert wait_for(lambda: pool_status(log_dir).get("running") == 2, 30)
        assert api.get("/api/scale/status").json()["actual"] == 2

        push(**IDLE)
        held = apply(api)
        assert held["outcome"] == "held" and "cooldown" in held["constraints"]
        time.sleep(61)  # the cooldown passes; the job (80 s) is still running
        push(**IDLE)
        scaled_in = apply(api)
        assert scaled_in["outcome"] == "applied" and scaled_in["desired"] == 1
        assert wait_for(lambda: pool_status(log_dir).get("stopping_pids") == [first], 10)
        assert not marker.with_suffix(".done").exists()  # stopping, not stopped: the job still runs
        assert pool_status(log_dir)["running"] == 1

        assert wait_for(lambda: Task.objects.filter(name="long-job", success=True).exists(), JOB_S + 30)
        assert marker.with_suffix(".done").read_text() == "done"
        assert Task.objects.get(name="long-job").result == "finished"
        assert wait_for(lambda: pool_status(log_dir).get("stopping") == 0, 30)  # then the cluster exited
    finally:
        pool.terminate()
        pool.wait(timeout=90)


@pytest.mark.django_db
def test_restarting_without_a_pool_running_here_is_not_in_this_consoles_hands(settings, log_dir):
    assert "not in this console's hands" in restart(dry_run=False)
    assert restart_requested_at() is None


@pytest.mark.django_db
def test_a_restart_asks_the_running_pool_and_a_dry_run_only_says_so(settings, log_dir):
    pool = Pool(command=["sleep", "60"])
    pool.reconcile(2)  # reports itself in qcluster_pool.json, as the supervisor does
    try:
        assert restart(dry_run=True) == "would restart the qcluster pool's 2 cluster(s) gracefully"
        assert restart_requested_at() is None
        assert restart(dry_run=False).startswith("asked the qcluster pool to restart its 2 cluster(s)")
        assert restart_requested_at() is not None
    finally:
        pool.stop_all(timeout_s=5)


def test_restart_all_stops_each_cluster_gracefully_and_the_next_reconcile_starts_fresh_ones(log_dir):
    pool = Pool(command=["sleep", "60"])
    pool.reconcile(2)
    before = list(pool.running)
    try:
        pool.restart_all()
        pool.reconcile(2)
        assert [p.pid for p in pool.running] != [p.pid for p in before] and len(pool.running) == 2
        assert all(p.wait(timeout=5) == -signal.SIGTERM for p in before)  # SIGTERM: django-q2's graceful stop
    finally:
        pool.stop_all(timeout_s=5)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ops_recovery_restarts_the_clusters_of_a_running_pool(settings, log_dir):
    """The default worker pool hook: the recovery asks, the real supervisor replaces its clusters."""
    ScaleState.objects.create(pk=ScaleState.ROW, applied_workers=1)
    log_dir.mkdir(parents=True, exist_ok=True)
    settings.SCALE_POOL_POLL_S = 0.5
    supervisor = start_pool(log_dir)
    try:
        assert wait_for(lambda: pool_status(log_dir).get("running") == 1, 30)
        first = pool_status(log_dir)["pids"]
        run = recovery.recover(trigger="test")
        [restarted] = [a for a in run.actions if a["action"] == "restart"]
        assert restarted["outcome"].startswith("asked the qcluster pool to restart its 1 cluster(s)")
        assert wait_for(lambda: pool_status(log_dir).get("pids") not in (None, first), 30)
        assert pool_status(log_dir)["running"] == 1
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=90)
