"""Decide the worker pool's size now, as the schedule does; print the decision."""

import json

from django.core.management.base import BaseCommand, CommandError

from scaling import services


class Command(BaseCommand):
    help = (
        "Read the queue, decide the worker pool's size, apply it unless dry (SCALE_DRY_RUN) or held, and log it. "
        "--apply applies even while SCALE_DRY_RUN is true; --dry-run never applies."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--apply", action="store_true", help="apply even while SCALE_DRY_RUN=true")
        parser.add_argument("--dry-run", action="store_true", help="decide and log, never apply")
        parser.add_argument("--json", action="store_true", help="print the whole decision as JSON")

    def handle(self, *args, **options) -> None:
        if options["apply"] and options["dry_run"]:
            raise CommandError("--apply and --dry-run contradict each other: give one")
        dry_run = True if options["dry_run"] else (False if options["apply"] else None)
        result = services.autoscale_tick(dry_run=dry_run, by="manage.py autoscale_workers")
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
            return
        self.stdout.write(f"{result['outcome']}: desired {result['desired']}, actual {result['actual']}")
        self.stdout.write(result["reason"])
        if result.get("error"):
            raise CommandError(f"the {result['actuator']} actuator failed: {result['error']}")
