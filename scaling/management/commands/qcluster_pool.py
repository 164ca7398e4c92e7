"""Run the host's task queue: the single task runner, or the decided number of django-q2 clusters (the
qcluster actuator's supervisor)."""

import os
import signal
import sys
import time
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connections
from django_q.conf import Conf

from echopilot.dbclock import note_clock
from echopilot.models import HostClock
from echopilot.taskrunner import Runner
from scaling.pool import Pool, desired_clusters, report_single_runner, restart_requested_at


class Command(BaseCommand):
    help = (
        "Run this host's task queue: with TASK_RUNNER=single (the embedded default) one process runs "
        "the schedules and tasks; with TASK_RUNNER=cluster it keeps the autoscaler's applied number of "
        "django-q2 clusters running (one unless SCALE_ACTUATOR=qcluster), scale-in stopping the oldest "
        "gracefully. Ctrl-C stops them all."
    )

    def handle(self, *args, **options) -> None:
        stop = {"now": False}

        def on_signal(signum, frame) -> None:
            stop["now"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        if settings.TASK_RUNNER == "single":
            self.run_single(lambda: stop["now"])
        else:
            self.run_pool(lambda: stop["now"])

    def run_single(self, stopped) -> None:
        runner = Runner()
        self.stdout.write(f"task runner: one process, up to {runner.workers} task(s) at a time (TASK_RUNNER=single)")
        restart_seen = self._restart_marker(None)
        next_look = 0.0
        while not stopped():
            runner.tick()
            if time.monotonic() < next_look:
                continue
            next_look = time.monotonic() + settings.SCALE_POOL_POLL_S
            report_single_runner()
            # Noted here, idle or not; the children forked per task inherit the note's time and
            # so do not write one per task.
            note_clock(HostClock.Role.TASKS)
            if self._restart_marker(restart_seen) != restart_seen:
                self.stdout.write("task runner: restarting (asked by ops recovery) once its tasks finish")
                runner.drain(Conf.TIMEOUT or 60)
                connections.close_all()
                os.execv(sys.executable, [sys.executable, *sys.argv])  # a fresh process, same pid for dev.py
        self.stdout.write("task runner: stopping once its tasks finish")
        runner.drain(Conf.TIMEOUT or 60)

    def run_pool(self, stopped) -> None:
        pool = Pool()
        self.stdout.write(f"qcluster pool: checking the applied size every {settings.SCALE_POOL_POLL_S:g}s")
        restart_seen = self._restart_marker(None)
        try:
            while not stopped():
                close_old_connections()  # a long-lived loop: drop a connection the database has closed
                # This host's clock, noted even while its clusters sit idle and run no task.
                note_clock(HostClock.Role.TASKS)
                marker = self._restart_marker(restart_seen)
                if marker != restart_seen:
                    self.stdout.write("qcluster pool: restarting every cluster (asked by ops recovery)")
                    pool.restart_all()
                    restart_seen = marker
                pool.reconcile(self._desired(pool))
                deadline = time.monotonic() + settings.SCALE_POOL_POLL_S
                while not stopped() and time.monotonic() < deadline:
                    time.sleep(0.1)
        finally:
            self.stdout.write("qcluster pool: stopping every cluster gracefully")
            pool.stop_all()

    def _restart_marker(self, seen) -> datetime | None:
        try:
            return restart_requested_at()
        except DatabaseError:
            return seen  # asked again at the next poll

    def _desired(self, pool: Pool) -> int:
        try:
            return desired_clusters()
        except DatabaseError as exc:
            # The database being away is no reason to stop the clusters: keep what runs.
            self.stderr.write(
                f"qcluster pool: cannot read the applied size ({type(exc).__name__}); keeping {pool.desired}"
            )
            return max(1, pool.desired)
