from django.core.management.base import BaseCommand

from ops import tasks


class Command(BaseCommand):
    help = "Probe the uptime checks that are due now, at once (the every-minute job)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(tasks.uptime_probes())
