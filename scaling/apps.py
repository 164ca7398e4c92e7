from echopilot import plugins


class ScalingConfig(plugins.ConsoleApp):
    name = "scaling"
    verbose_name = "Worker scaling"
