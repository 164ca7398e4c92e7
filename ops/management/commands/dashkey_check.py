from echopilot.models import JobRun
from ops import jobs

from ._job import JobCommand


class Command(JobCommand):
    help = "Raise an incident for each dash key older than DASH_KEY_MAX_AGE_DAYS or expiring within 7 days."

    def run_job(self, **_) -> JobRun:
        return jobs.run("dashkey_check", jobs.check_dash_keys)
