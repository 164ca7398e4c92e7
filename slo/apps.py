from echopilot import plugins


class SloConfig(plugins.ConsoleApp):
    name = "slo"
    verbose_name = "SLO & Error Budget"
    schedules = "slo.schedules.SCHEDULES"
    prune = "slo.housekeeping.prune"
    demo = "slo.demo.load"
    card = "slo.dashboard.card_context"

    def ready(self) -> None:
        from django.core.checks import register

        from echopilot import fastpath
        from echopilot.health import register_check
        from echopilot.metrics import register_collector

        from . import checks, health, metrics, middleware

        register(checks.recovery_hook_check)
        fastpath.on_answered(middleware.record_request)
        register_check("slo", health.slo_check)
        register_collector(metrics.slo_metrics)
