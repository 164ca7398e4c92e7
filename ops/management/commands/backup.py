from echopilot.models import JobRun
from ops import backups, jobs

from ._job import JobCommand


class Command(JobCommand):
    help = "Take a backup: the database (consistent while serving) and LOG_DIR, in one tar.gz under BACKUP_DIR."

    def run_job(self, **_) -> JobRun:
        return jobs.run("backup", backups.take_backup)
