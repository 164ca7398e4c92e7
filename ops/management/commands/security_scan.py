"""Run the security scan now (the weekly job, by hand) and print its findings."""

from django.core.management.base import BaseCommand

from ops import security_scan


class Command(BaseCommand):
    help = (
        "Security scan: Django's deployment checks, pip-audit over the pinned requirements, and the "
        "console's own rules (secrets, admin key age, public endpoints). Findings become WARNING incidents."
    )

    def handle(self, *args, **options) -> None:
        result = security_scan.run_scan()
        self.stdout.write(security_scan.summary(result))
