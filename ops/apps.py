from echopilot import plugins


class OpsConfig(plugins.ConsoleApp):
    name = "ops"
    verbose_name = "Console upkeep"
    # --- security scan: its weekly job (ops/schedules.py); its card is ops/card_security.html ---
    schedules = "ops.schedules.SCHEDULES"
