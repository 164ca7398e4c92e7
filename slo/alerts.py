"""Multi-window, multi-burn-rate alerts (the Google SRE workbook's recommendation).

Each rule fires when the burn exceeds its factor over both a long and a short window: the long one
proves it matters, the short one that it is still happening (so the alert resolves soon after the
burn stops). Each rule raises and resolves its own incident fingerprint.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from echopilot.events import append_event
from incidents import raise_incident, resolve_incident

from . import services
from .models import Slo
from .state import lock_state


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    factor: float
    long: timedelta
    short: timedelta

    def fingerprint(self, slo: Slo) -> str:
        return f"slo:{slo.pk}:{self.name}"


RULES = [
    Rule("page-fast", "CRITICAL", 14.4, timedelta(hours=1), timedelta(minutes=5)),
    Rule("page-slow", "CRITICAL", 6.0, timedelta(hours=6), timedelta(minutes=30)),
    Rule("warn-slow", "WARNING", 1.0, timedelta(days=3), timedelta(hours=6)),
]


def firing(slo: Slo, rule: Rule, now=None) -> tuple[bool, float, float]:
    """Whether `rule` fires for `slo` now, with the long and short window burns.

    A window with fewer than `slo.min_events` requests is too small to judge and never fires.
    """
    long_window = services.window(slo, rule.long, now)
    short_window = services.window(slo, rule.short, now)
    long_burn, short_burn = long_window.burn(slo), short_window.burn(slo)
    enough = min(long_window.requests, short_window.requests) >= slo.min_events
    return enough and long_burn > rule.factor and short_burn > rule.factor, long_burn, short_burn


def evaluate(slo: Slo, now=None) -> dict:
    """Raise the rules that started firing and resolve the ones that stopped; returns {rule: action}."""

    now = now or timezone.now()
    verdicts = {rule.name: firing(slo, rule, now) for rule in RULES}
    changes = {}
    with transaction.atomic():
        state = lock_state(slo)
        active = set(state.active_alerts)
        for rule in RULES:
            fires, long_burn, short_burn = verdicts[rule.name]
            if fires and rule.name not in active:
                msg = (
                    f"SLO {slo.name} burning {long_burn:.1f}x over {_span(rule.long)} and "
                    f"{short_burn:.1f}x over {_span(rule.short)} (alert above {rule.factor:g}x)"
                )
                raise_incident(
                    rule.severity,
                    msg,
                    "slo",
                    {"slo": slo.name, "rule": rule.name},
                    fingerprint=rule.fingerprint(slo),
                    now=now,
                )
                active.add(rule.name)
                changes[rule.name] = "raised"
            elif not fires and rule.name in active:
                resolve_incident(rule.fingerprint(slo), by="slo", note="burn fell back", now=now)
                active.discard(rule.name)
                changes[rule.name] = "resolved"
        state.active_alerts = sorted(active)
        state.save(update_fields=["active_alerts"])
    for name, action in changes.items():
        append_event("slo_budget", f"alert_{action}", slo=slo.name, rule=name)
    return changes


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"
