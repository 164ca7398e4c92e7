from echopilot.models import JobRun
from ops import jobs, logrotate

from ._job import JobCommand


class Command(JobCommand):
    help = "Rotate each NDJSON file under LOG_DIR holding lines from before today to a dated gzip; delete old ones."

    def run_job(self, **_) -> JobRun:
        return jobs.run("log_rotation", logrotate.rotate_logs)
