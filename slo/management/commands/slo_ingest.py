import argparse
import math
import os
import time
from collections.abc import Callable
from typing import Never

from django.core.management.base import BaseCommand, CommandError

from slo import logfile


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0.01 <= seconds <= 3600:  # also refuses nan; 0 would spin, a huge one would never look again
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0.01 to 3600")
    return seconds


class Command(BaseCommand):
    help = "Read NDJSON access logs (ts, latency_ms, status, route, service) into the SLO rollups."

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--service", help="service for lines that do not name one")
        parser.add_argument("--follow", action="store_true", help="keep reading as the file grows or rotates")
        parser.add_argument(
            "--interval", type=_interval, help="with --follow: seconds between looks (0.01-3600, default 1)"
        )
        parser.add_argument(
            "--from-start",
            action="store_true",
            help="read the files from their first line again, though read before (their samples count again)",
        )

    def handle(self, *args, paths, service, follow, interval, from_start, **options) -> None:
        started = time.monotonic()
        if interval is not None and not follow:
            raise CommandError("--interval only applies with --follow")
        if from_start:
            for path in paths:
                if counted := logfile.forget(path):
                    self.stdout.write(f"{path}: reading from the start again; its {counted:,} lines count again")
        if follow:
            if len(paths) != 1:
                raise CommandError("--follow takes one PATH")
            if not os.path.exists(paths[0]):
                self.stderr.write(f"{paths[0]}: not there yet; waiting for it to appear (Ctrl-C to stop)")
            try:
                logfile.follow(paths[0], service=service, interval=interval or 1.0, progress=self._progress(started))
            except KeyboardInterrupt:
                return
            except OSError as exc:
                raise CommandError(f"{paths[0]}: {exc.strerror}") from exc
            return
        lines = accepted = 0
        for path in paths:
            try:
                run = logfile.ingest_file(path, service=service, progress=self._progress(started))
            except KeyboardInterrupt:
                self._interrupted(path)
            except OSError as exc:  # missing, a directory, unreadable
                raise CommandError(f"{path}: {exc.strerror}") from exc
            self._report(run, time.monotonic() - started)
            lines, accepted = lines + run.lines, accepted + run.accepted
        if lines and not accepted:
            raise CommandError(f"nothing stored: none of the {lines:,} lines read was accepted (problems above)")

    def _progress(self, started) -> Callable[[logfile.FileRun], None]:
        def show(run) -> None:
            done = 100 * run.offset / run.size if run.size else 100
            rate = run.lines / max(time.monotonic() - started, 1e-9)
            self.stderr.write(f"\r{run.path}: {done:5.1f}%  {run.lines:,} lines  {rate:,.0f} lines/s", ending="")
            self.stderr.flush()

        return show

    def _interrupted(self, path) -> Never:
        # Each chunk is committed with its offset, so the cursor says exactly what a rerun skips.
        cursor = logfile.committed(path)
        stored = f"its first {cursor.lines:,} lines are stored (offset {cursor.offset:,})" if cursor else "none stored"
        self.stderr.write("")
        raise CommandError(f"{path}: interrupted; {stored}; run it again to resume", returncode=130)

    def _report(self, run, elapsed) -> None:
        self.stderr.write("")
        if run.restarted:
            self.stdout.write(f"{run.path}: {run.restarted}, read from the start")
        self.stdout.write(
            f"{run.path}: {run.lines} lines, {run.accepted} samples stored, {run.rejected} rejected "
            f"in {elapsed:.2f}s (offset {run.offset})"
        )
        for label, problem in run.problems.items():
            self.stdout.write(f"  {label}: {problem}")
