"""Cost guardrails. Other apps call these two functions, never the models.

The imports sit inside the functions so that importing `costs` (e.g. from another app's module at
load time) never touches models before the app registry is ready.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .services import Decision, SpendResult


def record_spend(
    *, model="", usd=None, input_tokens=0, output_tokens=0, kind="ai", request_id=None, ts=None, now=None
) -> "SpendResult":
    """Count one spend once per `request_id` (kind "ai" or "stripe_fee"); see costs.services."""
    from .services import record_spend as _record_spend

    return _record_spend(
        model=model,
        usd=usd,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        kind=kind,
        request_id=request_id,
        ts=ts,
        now=now,
    )


def authorize(model, est_usd=None, *, now=None) -> "Decision":
    """allow | warn | downgrade | throttle for a call of `model`; see costs.services."""
    global _authorize
    if _authorize is None:  # resolved once: the import machinery would cost more than the decision
        from .services import authorize as _authorize
    return _authorize(model, est_usd, now=now)  # type: ignore[misc]  # set just above


_authorize = None
