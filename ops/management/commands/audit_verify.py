from echopilot.models import JobRun
from ops import jobs

from ._job import JobCommand


class Command(JobCommand):
    help = "Walk the audit chain and name the first entry changed, inserted or removed (exit 1 and page if any)."

    def run_job(self, **_) -> JobRun:
        return jobs.run("audit_verify", jobs.check_audit_chain)
