"""Multi-window, multi-burn-rate alerts (the Google SRE workbook's recommendation).

Each rule fires when the burn exceeds its factor over both a long and a short window: the long one
proves it matters, the short one that it is still happening (so the alert resolves soon after the
burn stops). The rules of one SLO share one incident, as Alertmanager groups alerts of one cause:
it opens with the first rule that fires, takes the severity of the worst rule firing (going up pages
once more, coming down pages nobody) and resolves when none fires. The 2-minute watchdog's finding
(slo.watchdog) is one more cause of that same incident, held at CRITICAL while it lasts.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from echopilot.events import append_event
from incidents import raise_incident, resolve_incident
from incidents.models import SEVERITIES
from incidents.services import deescalate

from . import services
from .locks import lock_state
from .models import Slo, SloState


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    factor: float
    long: timedelta
    short: timedelta

    def fingerprint(self, slo: Slo) -> str:
        """The rule's own incident fingerprint, used before the rules shared one: still resolved."""
        return f"slo:{slo.pk}:{self.name}"


def incident_fingerprint(slo: Slo) -> str:
    """The one incident of an SLO's burn: its alerts, and notes such as the deploy gate shutting."""
    return f"slo:{slo.pk}:burn"


RULES = [
    Rule("page-fast", "CRITICAL", 14.4, timedelta(hours=1), timedelta(minutes=5)),
    Rule("page-slow", "CRITICAL", 6.0, timedelta(hours=6), timedelta(minutes=30)),
    Rule("warn-slow", "WARNING", 1.0, timedelta(days=3), timedelta(hours=6)),
]
# The watchdog's finding, kept among the state's active alerts beside the rules while it lasts.
WATCHDOG = "watchdog"
CAUSE_SEVERITY = {**{rule.name: rule.severity for rule in RULES}, WATCHDOG: "CRITICAL"}


# Every window the rules read (services.read_ahead reads them for many SLOs at once).
LENGTHS = list(dict.fromkeys(length for rule in RULES for length in (rule.long, rule.short)))


# The windows that decide whether any rule can fire: a rule fires only when its short window burns
# above its factor, so the long ones (3 days is most of the rows) are read only then (long_windows).
SHORT_LENGTHS = list(dict.fromkeys(rule.short for rule in RULES))


def firing(
    slo: Slo, rule: Rule, now=None, ahead: dict[timedelta, services.Window] | None = None
) -> tuple[bool, float | None, float]:
    """Whether `rule` fires for `slo` now, with the long and short window burns.

    A window with fewer than `slo.min_events` requests is too small to judge and never fires.
    `ahead`: the SLO's windows already read for `now` (services.read_ahead), else each is read. The
    long window is not read when the short one cannot fire (its burn is then None).
    """
    short_window = services.window_from(ahead, slo, rule.short, now)
    short_burn = short_window.burn(slo)
    if not _may_fire(slo, rule, short_window):
        return False, None, short_burn
    long_window = services.window_from(ahead, slo, rule.long, now)
    long_burn = long_window.burn(slo)
    enough = min(long_window.requests, short_window.requests) >= slo.min_events
    return enough and long_burn > rule.factor and short_burn > rule.factor, long_burn, short_burn


def _may_fire(slo: Slo, rule: Rule, short_window: services.Window) -> bool:
    return short_window.requests >= slo.min_events and short_window.burn(slo) > rule.factor


def long_windows(slo: Slo, ahead: dict[timedelta, services.Window]) -> list[timedelta]:
    """The long windows `firing` will read for `slo` given its short windows in `ahead` (which
    holds SHORT_LENGTHS), leaving out those `ahead` holds already."""
    wanted = [rule.long for rule in RULES if _may_fire(slo, rule, ahead[rule.short])]
    return [length for length in dict.fromkeys(wanted) if length not in ahead]


def evaluate(slo: Slo, now=None, ahead: dict[timedelta, services.Window] | None = None) -> dict:
    """Raise the rules that started firing and resolve the ones that stopped; returns {rule: action}.

    All on the SLO's one incident: a rule starting raises it at that rule's severity (opening it, or
    escalating and paging when it is more severe, or only counting a repeat), a CRITICAL rule stopping
    while a WARNING one fires lowers it without a page, and the last rule stopping resolves it.
    """

    now = now or timezone.now()
    verdicts = verdicts_of(slo, now, ahead)
    with transaction.atomic():
        state = lock_state(slo)
        changes = follow(slo, state, verdicts, now)
        state.save(update_fields=["active_alerts"])
    log_changes(slo, changes)
    return changes


def verdicts_of(
    slo: Slo, now, ahead: dict[timedelta, services.Window] | None = None
) -> dict[str, tuple[bool, float | None, float]]:
    """`firing(slo, rule, now, ahead)` of every rule, by rule name."""
    return {rule.name: firing(slo, rule, now, ahead) for rule in RULES}


def follow(slo: Slo, state: SloState, verdicts: dict[str, tuple[bool, float | None, float]], now) -> dict:
    """evaluate's moves on `state`, which the caller has locked and saves (active_alerts); the
    incident is touched only when a rule starts or stops. Returns {rule: action} for log_changes."""
    fingerprint = incident_fingerprint(slo)
    changes = {}
    active = set(state.active_alerts)
    # The watchdog's finding is the watchdog's to end: the rules keep it as they found it.
    firing_now = {rule.name for rule in RULES if verdicts[rule.name][0]} | (active & {WATCHDOG})
    for rule in RULES:
        _, long_burn, short_burn = verdicts[rule.name]
        if rule.name in firing_now - active:
            msg = (
                f"SLO {slo.name} burning {long_burn:.1f}x over {_span(rule.long)} and "
                f"{short_burn:.1f}x over {_span(rule.short)} (alert above {rule.factor:g}x)"
            )
            meta = {"slo": slo.name, "rule": rule.name}
            raise_incident(rule.severity, msg, "slo", meta, fingerprint=fingerprint, now=now)
            changes[rule.name] = "raised"
        elif rule.name in active - firing_now:
            # An incident of the rule's own, opened before the rules shared one, ends with it.
            resolve_incident(rule.fingerprint(slo), by="slo", note="burn fell back", now=now)
            changes[rule.name] = "resolved"
    follow_causes(slo, active, firing_now, note="burn fell back", now=now)
    state.active_alerts = sorted(firing_now)
    return changes


def log_changes(slo: Slo, changes: dict) -> None:
    """The alert_raised / alert_resolved event lines of `changes` (after the commit)."""
    for name, action in changes.items():
        append_event("slo_budget", f"alert_{action}", slo=slo.name, rule=name)


def follow_causes(slo: Slo, before: set[str], after: set[str], *, note: str, now) -> None:
    """Move the SLO's incident from the causes (rules, the watchdog) active `before` to those `after`:
    resolved with `note` when none is left, lowered without a page when its worst cause ended."""
    fingerprint = incident_fingerprint(slo)
    if before and not after:
        resolve_incident(fingerprint, by="slo", note=note, now=now)
    elif after and worst_severity(after) < worst_severity(before):
        deescalate(fingerprint, SEVERITIES[worst_severity(after)], now=now)


def worst_severity(names: set[str]) -> int:
    """The index in SEVERITIES of the most severe of the named causes (-1 for none)."""
    return max((SEVERITIES.index(CAUSE_SEVERITY[name]) for name in names if name in CAUSE_SEVERITY), default=-1)


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"
