from echopilot import plugins


class OpsConfig(plugins.ConsoleApp):
    name = "ops"
    verbose_name = "Console upkeep"
    schedules = "ops.schedules.SCHEDULES"
    card = "ops.dashboard.card_context"
    demo = "ops.demo.load"

    def ready(self):
        from django.core.checks import register

        from . import checks, system_checks

        # --- The ops check and auto-recovery ---
        checks.register_builtin_checks()
        register(system_checks.worker_pool_hook_check)
