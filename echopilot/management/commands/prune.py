from django.core.management.base import BaseCommand

from echopilot.tasks import prune_tick


class Command(BaseCommand):
    help = "Delete what has outlived its retention setting, in every app (the daily console_prune job)."

    def handle(self, *args, **options) -> None:
        for table, rows in prune_tick().items():
            self.stdout.write(f"{table}: {rows} deleted")
