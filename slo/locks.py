"""The per-SLO memory of the periodic jobs, taken under a row lock so concurrent runs queue."""

from .models import Slo, SloState


def lock_state(slo: Slo) -> SloState:
    """The SLO's state row, created if needed and locked for the caller's transaction."""
    SloState.objects.get_or_create(slo=slo)
    return SloState.objects.select_for_update().get(slo=slo)


def lock_states(slos: list[Slo]) -> dict[int, SloState]:
    """The state rows of `slos` by SLO pk, created where missing and locked for the caller's
    transaction, in two queries whatever the number of SLOs.

    Locked in pk order, the order every batch takes them in, so two runs queue instead of deadlocking.
    """
    SloState.objects.bulk_create([SloState(slo=slo) for slo in slos], ignore_conflicts=True)
    locked = SloState.objects.select_for_update().filter(slo__in=slos).order_by("slo_id")
    return {state.slo_id: state for state in locked}
