from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from slo import openslo


class Command(BaseCommand):
    help = "Create or update SLOs from an OpenSLO file (openslo/v1 SLO documents, YAML or JSON)."

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="OpenSLO file: YAML (one or more documents) or JSON")

    def handle(self, *args, file, **options):
        try:
            with open(file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise CommandError(f"{file}: not UTF-8 text (an OpenSLO file is YAML or JSON)") from None
        try:
            done = openslo.import_text(text)
        except ValidationError as exc:
            raise CommandError(f"{file}: nothing imported: {'; '.join(exc.messages)}") from exc
        for slo, outcome in done:
            self.stdout.write(
                f"{outcome} {slo.name}: {slo.service} "
                f"p95<={slo.p95_ms:g}ms p99<={slo.p99_ms:g}ms budget {slo.error_budget_pct:g}% "
                f"over {slo.window_days}d"
            )
