from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from echopilot.events import append_event
from ops import drills


class Command(BaseCommand):
    help = (
        "Replace the LIVE database with a backup's, then migrate. Refuses a backup whose checksums fail "
        "or whose migrations are newer than the code. Stop the web workers and the qcluster first."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("backup", help="path to the .tar.gz (its .sha256 must sit beside it)")
        parser.add_argument("--yes", action="store_true", help="really replace the live database")

    def handle(self, *args, backup, yes, **options) -> None:
        if not yes:
            raise CommandError("this replaces the live database: run again with --yes")
        try:
            result = drills.restore(Path(backup))
        except ValidationError as exc:
            append_event("backup", "restore_refused", backup=backup, problems=exc.messages)
            raise CommandError("restore refused: " + "; ".join(exc.messages)) from None
        append_event("backup", "restored", backup=result["backup"], summary=result["summary"])
        self.stdout.write(result["summary"])
