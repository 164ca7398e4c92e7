from django.core.management.base import BaseCommand

from costs import services


class Command(BaseCommand):
    help = "Recompute cost status, append to costs.ndjson, rewrite costs.json and raise due alerts (the hourly job)."

    def handle(self, *args, **options) -> None:
        outcome = services.guardrails_tick()
        self.stdout.write(
            f"cost day {outcome['day']}: {outcome['caps']} cap(s) checked, {outcome['alerts']} new alert(s), "
            f"{outcome['retried']} incident(s) raised again"
        )
