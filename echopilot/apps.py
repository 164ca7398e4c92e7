from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class EchopilotConfig(AppConfig):
    default = True
    name = "echopilot"
    verbose_name = "Access and kernel"

    def ready(self) -> None:
        from . import audit, dbclock, health, openapi  # noqa: F401  (openapi registers the X-Dash-Key scheme)

        health.register_builtin_checks()
        audit.connect_signals()
        dbclock.connect_signals()


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """The admin, with the dashboard as its index page."""

    default = False
    default_site = "echopilot.dashboard.ConsoleAdminSite"
