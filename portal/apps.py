from echopilot import plugins


class PortalConfig(plugins.ConsoleApp):
    name = "portal"
    verbose_name = "Customer Portal"
    schedules = "portal.schedules.SCHEDULES"
    prune = "portal.housekeeping.prune"
    demo = "portal.demo.load"
    card = "portal.dashboard.card_context"

    def ready(self) -> None:
        from echopilot.metrics import register_collector

        from . import redact
        from .metrics import portal_metrics

        register_collector(portal_metrics)
        redact.install()
