"""The shared edge of the ops job commands: run the job as its schedule does, print its summary,
exit 1 when it failed (it has been recorded and paged by then)."""

from django.core.management.base import BaseCommand, CommandError

from echopilot.models import JobRun


class JobCommand(BaseCommand):
    job_name = ""

    def run_job(self) -> JobRun:
        raise NotImplementedError

    def handle(self, *args, **options) -> None:
        run = self.run_job(**options)
        if run.outcome != JobRun.Outcome.OK:
            raise CommandError(run.summary)
        self.stdout.write(run.summary)
