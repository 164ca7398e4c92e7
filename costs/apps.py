from django.conf import settings
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save

from echopilot import plugins
from echopilot.health import CheckResult, register_check


class CostsConfig(plugins.ConsoleApp):
    name = "costs"
    verbose_name = "Cost guardrails"
    schedules = "costs.schedules.SCHEDULES"
    prune = "costs.housekeeping.prune"
    retained = "costs.housekeeping.retained"
    demo = "costs.demo.load"
    card = "costs.dashboard.card_context"

    def ready(self) -> None:
        # Here rather than at the top: these reach models (echopilot.metrics through django_q's), and
        # models load only after every app's apps.py.
        from echopilot import audit
        from echopilot.metrics import register_collector

        from . import metrics, sealing, spend_cache
        from .models import CapOverride, CostCap, ModelFallback, ModelPrice

        # Every edit, from the admin, the API or a shell, tells all web workers to reload the caps.
        for model in (CostCap, ModelPrice, ModelFallback, CapOverride):
            post_save.connect(_config_changed, sender=model, dispatch_uid=f"costs-config-save-{model.__name__}")
            post_delete.connect(_config_changed, sender=model, dispatch_uid=f"costs-config-delete-{model.__name__}")
        register_collector(metrics.cost_metrics)
        audit.register_sealer(sealing.seal_all)  # the ledger's rows owed a chain entry, before a verify
        register_check("costs", _health)
        setting_changed.connect(spend_cache.on_setting_changed, dispatch_uid="costs-setting-changed")


def _config_changed(sender, **kwargs) -> None:
    from . import spend_cache  # imports the models: not at the top of apps.py, loaded before them

    spend_cache.bump_version()


def _health() -> CheckResult:
    from . import spend_cache  # imports the models: not at the top of apps.py, loaded before them

    problem = spend_cache.zone_problem()
    return CheckResult(problem is None, problem or f"cost days in {settings.COST_TIMEZONE}")
