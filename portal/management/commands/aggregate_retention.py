from django.core.management.base import BaseCommand, CommandError

from echopilot.models import JobRun
from portal import tasks


class Command(BaseCommand):
    help = "Count DAU / WAU / MAU for yesterday, for days never counted, and for days late events touched."

    def handle(self, *args, **options) -> None:
        run = tasks.run_retention()
        if run.outcome != JobRun.Outcome.OK:
            raise CommandError(run.summary)
        self.stdout.write(run.summary)
