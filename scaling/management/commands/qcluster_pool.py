"""Run the decided number of django-q2 clusters on this host (the qcluster actuator's supervisor)."""

import signal
import time
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from echopilot.dbclock import note_clock
from echopilot.models import HostClock
from scaling.pool import Pool, desired_clusters, restart_requested_at


class Command(BaseCommand):
    help = (
        "Keep the autoscaler's applied number of django-q2 clusters running here (one unless "
        "SCALE_ACTUATOR=qcluster); scale-in stops the oldest cluster gracefully. Ctrl-C stops them all."
    )

    def handle(self, *args, **options) -> None:
        stop = {"now": False}

        def on_signal(signum, frame) -> None:
            stop["now"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        pool = Pool()
        self.stdout.write(f"qcluster pool: checking the applied size every {settings.SCALE_POOL_POLL_S:g}s")
        restart_seen = self._restart_marker(None)
        try:
            while not stop["now"]:
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
                while not stop["now"] and time.monotonic() < deadline:
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
