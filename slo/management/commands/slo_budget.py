from django.core.management.base import BaseCommand

from slo import ticks


class Command(BaseCommand):
    help = "Judge every SLO now: slo_tick events and slo_status.json under LOG_DIR, alerts and the deploy gate."

    def handle(self, *args, **options) -> None:
        snapshot = ticks.budget_tick()
        for report in snapshot["slos"]:
            left = report["remaining_budget_pct"]
            budget = "not judged (too few requests)" if left is None else f"{left}%"
            self.stdout.write(
                f"{report['slo']}: {report['burn_alert']} burn {report['burn']}x "
                f"p95 {report['p95_ms']} ms, error rate {report['error_rate']}, "
                f"budget left {budget}"
            )
        gate_state = snapshot["gate"]
        self.stdout.write(
            f"deploy gate: {gate_state['gate']}" + (f" ({gate_state['reason']})" if gate_state["reason"] else "")
        )
