from django.core.checks import register

from echopilot import plugins


class ScalingConfig(plugins.ConsoleApp):
    name = "scaling"
    verbose_name = "Worker scaling"
    schedules = "scaling.schedules.SCHEDULES"
    card = "scaling.dashboard.card_context"
    demo = "scaling.demo.load"
    retained = "scaling.housekeeping.retained"

    def ready(self) -> None:
        # Here rather than at the top: these reach models (echopilot.metrics through django_q's), and
        # models load only after every app's apps.py.
        from echopilot.metrics import register_collector

        from . import checks, metrics

        register(checks.actuator_check)
        register_collector(metrics.scaling_metrics)
