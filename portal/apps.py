from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Customer portal"

    def ready(self):
        from echopilot.metrics import register_collector

        from . import redact
        from .metrics import portal_metrics

        register_collector(portal_metrics)
        redact.install()
