from django.core.management.base import BaseCommand

from echopilot.registry import load_demo


class Command(BaseCommand):
    help = "Load demo data from every app that has some."

    def handle(self, *args, **options) -> None:
        for app, summary in load_demo():
            self.stdout.write(f"{app}: {summary}")
