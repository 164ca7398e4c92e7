from echopilot.models import JobRun
from ops import backups, jobs

from ._job import JobCommand


class Command(JobCommand):
    help = "Check every checksum of every kept backup; names each damaged archive and member."

    def run_job(self, **_) -> JobRun:
        return jobs.run("backup_verify", backups.verify_backups)
