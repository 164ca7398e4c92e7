from django.core.checks import register

from echopilot import plugins
from echopilot.health import register_check


class SloConfig(plugins.ConsoleApp):
    name = "slo"
    verbose_name = "SLO & Error Budget"
    schedules = "slo.schedules.SCHEDULES"
    prune = "slo.housekeeping.prune"
    retained = "slo.housekeeping.retained"
    demo = "slo.demo.load"
    card = "slo.dashboard.card_context"

    def ready(self) -> None:
        # Here rather than at the top: these reach models (echopilot.metrics through django_q's), and
        # models load only after every app's apps.py.
        from echopilot import fastpath
        from echopilot.metrics import register_collector

        from . import checks, health, metrics, middleware

        register(checks.recovery_hook_check)
        fastpath.on_answered(middleware.record_request)
        register_check("slo", health.slo_check)
        register_collector(metrics.slo_metrics)
