from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from slo import openslo


class Command(BaseCommand):
    help = (
        "Create or update SLOs from an OpenSLO file (openslo/v1 SLO documents, YAML or JSON; other kinds "
        "are skipped) or, with --format sloth, a sloth prometheus/v1 spec."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", metavar="FILE", help="YAML (one or more documents, or a sequence) or JSON")
        parser.add_argument(
            "--format", dest="file_format", choices=["openslo", "sloth"], default="openslo", help="default: openslo"
        )

    def handle(self, *args, file, file_format="openslo", **options) -> None:
        try:
            with open(file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise CommandError(f"{file}: not UTF-8 text (an OpenSLO file is YAML or JSON)") from None
        try:
            done = openslo.import_file(text, file_format)
        except ValidationError as exc:
            raise CommandError(f"{file}: nothing imported: {'; '.join(exc.messages)}") from exc
        for slo, outcome in done.slos:
            latency = " ".join(f"{key}<={ms:g}ms" for key, ms in slo.latency_objectives().items())
            self.stdout.write(
                f"{outcome} {slo.name}: {slo.service} "
                f"{latency or 'availability only'} budget {slo.error_budget_pct:g}% over {slo.window_days}d"
            )
        for note in done.notes:
            self.stdout.write(f"note: {note}")
