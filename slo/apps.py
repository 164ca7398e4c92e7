from django.apps import AppConfig


class SloConfig(AppConfig):
    name = "slo"
    verbose_name = "SLOs and error budgets"

    def ready(self):
        from echopilot.health import register_check
        from echopilot.metrics import register_collector

        from . import health

        register_check("slo", health.slo_check)
        register_collector(health.slo_metrics)
