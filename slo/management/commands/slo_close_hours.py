from django.core.management.base import BaseCommand

from slo import tasks


class Command(BaseCommand):
    help = (
        "Fold the waiting minute parts and build the hour and day rollups of services that went quiet (a"
        " sending service's own batches do theirs); the slo_close_hours job runs this every 10 minutes."
    )

    def handle(self, *args, **options) -> None:
        built = tasks.slo_close_hours()
        for service, rows in sorted(built.items()):
            self.stdout.write(f"{service}: {rows} minute, hour and day rows built")
        if not built:
            self.stdout.write("nothing to build: every service's closed minutes and hours are built")
