from echopilot import plugins


class PortalConfig(plugins.ConsoleApp):
    name = "portal"
    verbose_name = "Customer Portal"
    schedules = "portal.schedules.SCHEDULES"
    prune = "portal.housekeeping.prune"
    retained = "portal.housekeeping.retained"
    demo = "portal.demo.load"
    card = "portal.dashboard.card_context"

    def ready(self) -> None:
        # Here rather than at the top: these reach models (echopilot.metrics through django_q's), and
        # models load only after every app's apps.py.
        from echopilot.metrics import register_collector

        from . import redact
        from .metrics import portal_metrics

        register_collector(portal_metrics)
        redact.install()
