import time

from django.core.management.base import BaseCommand, CommandError

from slo import logfile


class Command(BaseCommand):
    help = "Read NDJSON access logs (ts, latency_ms, status, route, service) into the SLO rollups."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--service", help="service for lines that do not name one")
        parser.add_argument("--follow", action="store_true", help="keep reading as the file grows or rotates")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between looks in --follow mode")

    def handle(self, *args, paths, service, follow, interval, **options):
        started = time.monotonic()
        if follow:
            if len(paths) != 1:
                raise CommandError("--follow takes one PATH")
            try:
                logfile.follow(paths[0], service=service, interval=interval, progress=self._progress(started))
            except KeyboardInterrupt:
                return
            return
        for path in paths:
            try:
                run = logfile.ingest_file(path, service=service, progress=self._progress(started))
            except FileNotFoundError:
                raise CommandError(f"{path}: no such file")
            self._report(run, time.monotonic() - started)

    def _progress(self, started):
        def show(run):
            done = 100 * run.offset / run.size if run.size else 100
            rate = run.lines / max(time.monotonic() - started, 1e-9)
            self.stderr.write(f"\r{run.path}: {done:5.1f}%  {run.lines:,} lines  {rate:,.0f} lines/s", ending="")
            self.stderr.flush()

        return show

    def _report(self, run, elapsed):
        self.stderr.write("")
        if run.restarted:
            self.stdout.write(f"{run.path}: {run.restarted}, read from the start")
        self.stdout.write(
            f"{run.path}: {run.lines} lines, {run.accepted} samples stored, {run.rejected} rejected "
            f"in {elapsed:.2f}s (offset {run.offset})"
        )
        for label, problem in run.problems.items():
            self.stdout.write(f"  {label}: {problem}")
