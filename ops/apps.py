from echopilot import plugins


class OpsConfig(plugins.ConsoleApp):
    name = "ops"
    verbose_name = "Console upkeep"
    schedules = "ops.schedules.SCHEDULES"
