from pathlib import Path

from echopilot.models import JobRun
from ops import drills, jobs

from ._job import JobCommand


class Command(JobCommand):
    help = "Restore the latest backup into a scratch database, migrate, compare row counts; report RTO and RPO."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--backup", help="drill this archive instead of the latest")

    def run_job(self, backup=None, **_) -> JobRun:
        archive = Path(backup) if backup else None
        return jobs.run("dr_drill", lambda: drills.run_drill(archive=archive))
