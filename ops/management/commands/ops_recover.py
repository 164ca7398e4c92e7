from django.core.management.base import BaseCommand

from ops import recovery


class Command(BaseCommand):
    help = (
        "Requeue the tasks that failed in the last hour (each at most once), release tasks stuck past "
        "their timeout, restart the worker pool where this console runs one."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list what would happen; change nothing")

    def handle(self, *args, **options) -> None:
        run = recovery.recover(dry_run=options["dry_run"], trigger="manage.py ops_recover")
        for action in run.actions:
            self.stdout.write(f"{action['action']:<8} {action['target']}: {action['outcome']}")
        self.stdout.write(f"recovery #{run.pk}{' (dry run: nothing changed)' if run.dry_run else ''}")
