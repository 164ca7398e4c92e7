from django.apps import AppConfig


class SloConfig(AppConfig):
    name = "slo"
    verbose_name = "SLOs and error budgets"

    def ready(self):
        from django.core.checks import register

        from echopilot.health import register_check
        from echopilot.metrics import register_collector

        from . import checks, health

        register(checks.recovery_hook_check)
        register_check("slo", health.slo_check)
        register_collector(health.slo_metrics)
