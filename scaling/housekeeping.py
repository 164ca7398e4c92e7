"""How long the scaling history is kept (SCALE_HISTORY_DAYS): every autoscale tick prunes it
(scaling.services.prune), so console_prune has nothing of this app's to delete."""

from echopilot.housekeeping import Retained

from .models import Decision, SignalSample


def retained() -> list[Retained]:
    """The queue readings and the decisions, by their time."""
    tick = "autoscale tick"
    return [
        Retained(SignalSample, "at", "SCALE_HISTORY_DAYS", name="Scaling signal samples", pruned_by=tick),
        Retained(Decision, "at", "SCALE_HISTORY_DAYS", name="Scaling decisions", pruned_by=tick),
    ]
