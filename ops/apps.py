from echopilot import plugins


class OpsConfig(plugins.ConsoleApp):
    name = "ops"
    verbose_name = "Console upkeep"
    # Each part's jobs are a block of ops/schedules.py; the card (ops/card.html) includes each part's.
    schedules = "ops.schedules.SCHEDULES"
    card = "ops.dashboard.card_context"
    demo = "ops.demo.load"

    def ready(self):
        from django.core.checks import register

        from echopilot.metrics import register_collector

        from . import checks, metrics, system_checks

        # --- The ops check, auto-recovery and uptime probes ---
        checks.register_builtin_checks()
        register(system_checks.worker_pool_hook_check)
        register_collector(metrics.ops_metrics)
