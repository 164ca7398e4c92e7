"""Replay a trace through the queue simulator under the three policies and print their metrics."""

import json

from django.core.management.base import BaseCommand, CommandError

from scaling import backtest, services

COLUMNS = ("violation_minutes", "backlog_minutes", "max_wait_s", "worker_minutes", "actions_per_hour")


class Command(BaseCommand):
    help = (
        "Replay TRACE.csv (minute,arrivals,mean_job_s; one row a minute) under the predictive policy, an "
        "HPA-like one and a queue-time step policy, with the same cadence, start-up delay and bounds."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("trace", help="CSV with the header minute,arrivals,mean_job_s")
        parser.add_argument("--json", action="store_true", help='print {"policies": {...}} as JSON')
        parser.add_argument("--tick-min", type=int, default=1, help="minutes between decisions (default 1)")
        parser.add_argument("--startup-min", type=float, default=2, help="minutes a new worker takes to start")

    def handle(self, *args, **options) -> None:
        if options["tick_min"] < 1:
            raise CommandError("--tick-min must be a whole number of minutes, at least 1")
        if not 0 <= options["startup_min"] <= 24 * 60:
            raise CommandError("--startup-min must be from 0 to 1440")
        try:
            trace = backtest.read_trace(options["trace"])
        except OSError as exc:
            raise CommandError(f"{options['trace']}: {exc.strerror}") from None
        except backtest.TraceError as exc:
            raise CommandError(str(exc)) from None
        result = backtest.backtest(
            trace, services.limits(), tick_min=options["tick_min"], startup_min=options["startup_min"]
        )
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(self._table(result))

    def _table(self, result: dict) -> str:
        lines = [
            f"{result['minutes']} minutes, a decision every {result['tick_min']} min, workers start in "
            f"{result['startup_min']:g} min, bounds {result['bounds'][0]}..{result['bounds'][1]}, "
            f"queue-time target {result['queue_time_target_s']:g}s",
            f"{'policy':<12}" + "".join(f"{c:>19}" for c in COLUMNS),
        ]
        for name, metrics in result["policies"].items():
            lines.append(f"{name:<12}" + "".join(f"{metrics[c]:>19}" for c in COLUMNS))
        return "\n".join(lines)
