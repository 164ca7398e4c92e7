from django.core.checks import register

from echopilot import plugins


class OpsConfig(plugins.ConsoleApp):
    name = "ops"
    verbose_name = "Console upkeep"
    # Each part's jobs are a block of ops/schedules.py; the card (ops/card.html) includes each part's.
    schedules = "ops.schedules.SCHEDULES"
    card = "ops.dashboard.card_context"
    demo = "ops.demo.load"
    retained = "ops.housekeeping.retained"

    def ready(self) -> None:
        # Here rather than at the top: these reach models (echopilot.metrics through django_q's), and
        # models load only after every app's apps.py.
        from echopilot.metrics import register_collector

        from . import checks, dr_card, metrics, system_checks

        # --- The ops check, auto-recovery and uptime probes ---
        checks.register_builtin_checks()
        checks.register("backup", dr_card.check_last_backup)
        # A chain walk reads every entry (100,000 a second or more): give it longer than a ping.
        checks.register("audit_chain", dr_card.check_audit_chain, 8.0)
        register(system_checks.worker_pool_hook_check)
        register_collector(metrics.ops_metrics)
