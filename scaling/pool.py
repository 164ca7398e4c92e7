"""The qcluster pool: keep the decided number of django-q2 clusters running on this host.

With TASK_RUNNER=cluster, `manage.py qcluster_pool` (what `dev.py start` runs) re-reads the applied
size every SCALE_POOL_POLL_S seconds. With SCALE_ACTUATOR=qcluster that is what the autoscaler last
applied (SCALE_MIN before its first change); with any other actuator the pool keeps one cluster, as
before. Never fewer than one: the autoscaler's own schedule runs in a cluster.

Scale-in stops the oldest cluster with SIGTERM, which django-q2 handles gracefully: its pusher stops
taking jobs, its workers finish the jobs they hold, then it exits. The pool counts a stopping cluster
apart and never kills it; a cluster that dies is started again at the next poll.
"""

import logging
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from echopilot.events import write_snapshot

from .actuators import POOL_STATUS, pool_running
from .models import ScaleState

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


def desired_clusters() -> int:
    """How many clusters this host should run now."""
    if settings.SCALE_ACTUATOR != "qcluster":
        return 1
    state = ScaleState.objects.filter(pk=ScaleState.ROW).first()
    applied = state.applied_workers if state and state.applied_workers is not None else settings.SCALE_MIN
    return max(1, applied)


def restart_requested_at() -> datetime | None:
    """When ops recovery last asked the pool to restart its clusters."""
    return ScaleState.objects.filter(pk=ScaleState.ROW).values_list("pool_restart_requested_at", flat=True).first()


def restart(dry_run: bool) -> str:
    """Ask the host's qcluster pool to restart its clusters gracefully (ops recovery's worker pool
    hook, OPS_WORKER_POOL_HOOK); says so when no pool runs here, since nothing would then restart."""
    running = pool_running()
    if running is None:
        return (
            "not in this console's hands: no qcluster pool has reported lately "
            "(manage.py qcluster_pool is not running here)"
        )
    if dry_run:
        return f"would restart the qcluster pool's {running} cluster(s) gracefully"
    ScaleState.objects.update_or_create(pk=ScaleState.ROW, defaults={"pool_restart_requested_at": timezone.now()})
    within = f"{settings.SCALE_POOL_POLL_S:g}s"
    return f"asked the qcluster pool to restart its {running} cluster(s) gracefully (within {within})"


def report_single_runner() -> None:
    """Say in the pool's snapshot that this process runs the queue itself (TASK_RUNNER=single), so
    ops recovery knows a restart is in this console's hands."""
    here = {"desired": 1, "running": 1, "stopping": 0, "pids": [os.getpid()], "stopping_pids": []}
    write_snapshot(POOL_STATUS, {**here, "runner": "single", "host_pid": os.getpid(), "at_epoch": time.time()})


class Pool:
    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or [sys.executable, str(ROOT / "manage.py"), "qcluster"]
        self.running: list[subprocess.Popen] = []  # oldest first
        self.stopping: list[subprocess.Popen] = []
        self.desired = 0

    def reconcile(self, desired: int) -> None:
        """Start or gracefully stop clusters until `desired` run; forget the ones that exited."""
        self.desired = desired
        for dead in [p for p in self.running if p.poll() is not None]:
            log.warning("cluster pid %s exited with %s; starting another", dead.pid, dead.returncode)
            self.running.remove(dead)
        self.stopping = [p for p in self.stopping if p.poll() is None]
        while len(self.running) < desired:
            # Same process group as the pool: whoever stops the pool's group (dev.py) stops them too.
            self.running.append(subprocess.Popen(self.command, cwd=ROOT))
            log.info("started cluster pid %s (%d of %d)", self.running[-1].pid, len(self.running), desired)
        while len(self.running) > desired:
            oldest = self.running.pop(0)
            oldest.terminate()  # django-q2 finishes the jobs it holds, then exits
            self.stopping.append(oldest)
            log.info("stopping cluster pid %s gracefully (%d wanted)", oldest.pid, desired)
        self.report()

    def restart_all(self) -> None:
        """Stop every running cluster gracefully; the next reconcile starts fresh ones in their place."""
        for process in self.running:
            process.terminate()  # as in scale-in: the jobs it holds finish first
            log.info("restarting: stopping cluster pid %s gracefully", process.pid)
        self.stopping.extend(self.running)
        self.running = []

    def report(self) -> None:
        write_snapshot(
            POOL_STATUS,
            {
                "desired": self.desired,
                "running": len(self.running),
                "stopping": len(self.stopping),
                "pids": [p.pid for p in self.running],
                "stopping_pids": [p.pid for p in self.stopping],
                "host_pid": os.getpid(),
                "at_epoch": time.time(),
            },
        )

    def stop_all(self, timeout_s: float = 60) -> None:
        """Stop every cluster gracefully and wait for them (Ctrl-C, SIGTERM)."""
        for process in self.running:
            process.terminate()
        self.stopping.extend(self.running)
        self.running = []
        deadline = time.monotonic() + timeout_s
        for process in self.stopping:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("cluster pid %s did not stop within %ss; killing it", process.pid, timeout_s)
                process.kill()
        self.stopping = []
        self.report()
