"""The per-SLO memory of the periodic jobs, taken under a row lock so concurrent runs queue."""

from .models import Slo, SloState


def lock_state(slo: Slo) -> SloState:
    """The SLO's state row, created if needed and locked for the caller's transaction."""
    SloState.objects.get_or_create(slo=slo)
    return SloState.objects.select_for_update().get(slo=slo)
