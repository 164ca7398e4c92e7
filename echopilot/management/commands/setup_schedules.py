from django.core.management.base import BaseCommand

from echopilot.registry import sync_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules every app declares (safe to run again)."

    def handle(self, *args, **options) -> None:
        for name, created in sync_schedules():
            self.stdout.write(f"{'created' if created else 'updated'} schedule {name}")
