import json
import sys

from django.core.management.base import BaseCommand

from ops import checks


class Command(BaseCommand):
    help = "Run every ops check at once (within 10 s); exit 0 ok, 1 warn, 2 fail."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options) -> None:
        report = checks.ops_check(by="manage.py ops_check")
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), indent=2))
        else:
            for outcome in report.checks:
                self.stdout.write(
                    f"{outcome.status:<4}  {outcome.name:<13} {outcome.duration_ms:>5} ms  {outcome.detail}"
                )
            self.stdout.write(f"ops check: {report.worst} in {report.duration_ms} ms")
        sys.stdout.flush()
        sys.exit(checks.exit_code(report.worst))
