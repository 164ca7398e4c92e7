import logging

from echopilot import plugins
from echopilot.health import register_check


class IncidentsConfig(plugins.ConsoleApp):
    name = "incidents"
    verbose_name = "Incidents"
    schedules = "incidents.schedules.SCHEDULES"
    prune = "incidents.housekeeping.prune"
    retained = "incidents.housekeeping.retained"
    demo = "incidents.demo.load"
    card = "incidents.dashboard.card_context"

    def ready(self) -> None:

        # urllib3 logs request paths at DEBUG, and the Telegram path carries the bot token.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)
        from echopilot.metrics import register_collector

        from .health import pager_check
        from .metrics import collect_metrics

        register_check("pager", pager_check)
        register_collector(collect_metrics)
