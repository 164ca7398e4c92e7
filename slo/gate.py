"""The deploy gate: shut while the error budget burns too fast, so CI stops shipping.

When the burn over the last hour stays above 2x the budgeted rate for 2 hours of evaluations, the
gate shuts: a GateShut row is written (the database is the truth across hosts), `deploy_gate.flag`
is written with the reason on each host, and the shut is noted on the SLO's burn incident (no new
page), or, when no burn alert is open, raised as a CRITICAL incident of its own. It is lifted from the
admin (with a note), by `POST /api/deploy/gate/lift`, or by deleting the flag file on a host that
wrote it, as the product's rollback procedure says.
"""

import os
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from echopilot.events import append_event, log_dir
from incidents import raise_incident, resolve_incident
from incidents.services import add_note

from . import services
from .alerts import incident_fingerprint
from .locks import lock_state
from .models import GateShut, Slo, SloState

FLAG_NAME = "deploy_gate.flag"
MAX_LIFT_NOTE = 2000  # characters; the API and the admin refuse a longer note
GATE_BURN = 2.0
GATE_WINDOW = timedelta(hours=1)
SUSTAIN = timedelta(hours=2)
# Evaluations run every few minutes; a longer silence means nobody watched, so "sustained" restarts.
MAX_GAP = timedelta(minutes=30)


@dataclass
class GateState:
    shut: bool
    reason: str = ""
    shuts: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "gate": "shut" if self.shut else "open",
            "reason": self.reason,
            "shuts": [
                {
                    "id": s.pk,
                    "slo": s.slo.name,
                    "shut_at": s.shut_at.isoformat(),
                    "reason": s.reason,
                    "burn": round(s.burn, 3),
                }
                for s in self.shuts
            ],
        }

    def summary(self) -> str:
        """One sentence for an operator: the gate is open, or which shuts still hold it."""
        if not self.shut:
            return "the deploy gate is open; deploys may go ahead."
        holding = ", ".join(f"#{s.pk} (SLO {s.slo.name}, shut {s.shut_at:%Y-%m-%d %H:%M} UTC)" for s in self.shuts)
        return f"the deploy gate is still SHUT by {holding}; deploys are still refused."


def flag_path() -> Path:
    return log_dir() / FLAG_NAME


def host_id() -> str:
    """Who writes flag files: the host and its LOG_DIR (two consoles on one host are two writers)."""
    return f"{socket.gethostname()}:{Path(settings.LOG_DIR).resolve()}"


def evaluate(slo: Slo, now=None, ahead: dict[timedelta, services.Window] | None = None) -> GateShut | None:
    """Judge the burn of the last hour and move the gate for `slo`; returns a new shut, if any.

    `ahead`: the SLO's windows already read for `now` (services.read_ahead), else the hour is read."""
    now = now or timezone.now()
    last_hour = services.window_from(ahead, slo, GATE_WINDOW, now)
    with transaction.atomic():
        state = lock_state(slo)
        shut = judge(slo, state, last_hour, now)
        state.save(update_fields=["gate_pending_since", "gate_checked_at"])
    if shut is not None:
        sync(now)
    return shut


def judge(slo: Slo, state: SloState, last_hour: services.Window, now) -> GateShut | None:
    """evaluate's move on `state`, which the caller has locked and saves (gate_pending_since,
    gate_checked_at); the caller syncs the flag file after its commit when a shut is returned."""
    burn = last_hour.burn(slo)
    burning = last_hour.requests >= slo.min_events and burn > GATE_BURN
    _track(state, burning, now)
    if not burning or now - state.gate_pending_since < SUSTAIN:
        return None
    if GateShut.objects.filter(slo=slo, lifted_at__isnull=True).exists():
        return None
    return _shut(slo, state, burn, now)


def _track(state: SloState, burning: bool, now) -> None:
    gap = state.gate_checked_at is None or now - state.gate_checked_at > MAX_GAP
    if not burning:
        state.gate_pending_since = None
    elif state.gate_pending_since is None or gap:
        state.gate_pending_since = now
    state.gate_checked_at = now


def _shut(slo: Slo, state: SloState, burn: float, now) -> GateShut:

    reason = (
        f"SLO {slo.name}: burn {burn:.2f}x over the last hour, above {GATE_BURN:g}x the daily error "
        f"budget since {state.gate_pending_since:%Y-%m-%d %H:%M} UTC (sustained {SUSTAIN})"
    )
    shut = GateShut.objects.create(slo=slo, shut_at=now, reason=reason, burn=burn)
    # One cause, one incident: the burn alerts already paged for it, so the shut is a note on theirs.
    if not add_note(incident_fingerprint(slo), f"Deploy gate shut: {reason}", now=now):
        raise_incident(
            "CRITICAL",
            f"Deploy gate shut: {reason}",
            "slo",
            {"slo": slo.name, "burn": burn},
            fingerprint=f"slo:{slo.pk}:gate",
            now=now,
        )
    append_event("slo_budget", "gate_shut", slo=slo.name, burn=round(burn, 4), reason=reason, id=shut.pk)
    return shut


def lift(shut: GateShut, *, by: str, note: str = "", now=None, resync=True) -> bool:
    """Lift one shut (idempotent); returns whether this call lifted it."""

    now = now or timezone.now()
    with transaction.atomic():
        lifted = GateShut.objects.filter(pk=shut.pk, lifted_at__isnull=True).update(
            lifted_at=now, lifted_by=by[:200], lift_note=note
        )
        if not lifted:
            return False
        # Start counting "sustained" afresh: a lifted gate shuts again only after two more hours.
        SloState.objects.filter(slo_id=shut.slo_id).update(gate_pending_since=None)
        resolve_incident(f"slo:{shut.slo_id}:gate", by=by, note=note or "deploy gate lifted", now=now)
        add_note(incident_fingerprint(shut.slo), f"Deploy gate lifted by {by}: {note or '(no note)'}", now=now)
        append_event("slo_budget", "gate_lifted", slo=shut.slo.name, id=shut.pk, by=by, note=note)
    if resync:
        sync(now)
    return True


def lift_all(*, by: str, note: str = "", now=None) -> int:
    """Lift every open shut; returns how many were lifted."""
    shuts = GateShut.objects.filter(lifted_at__isnull=True).select_related("slo")
    return sum(lift(shut, by=by, note=note, now=now) for shut in shuts)


def sync(now=None) -> list[GateShut]:
    """Make this host's flag file agree with the database, and notice an operator deleting it.

    A missing flag on a host that wrote it means an operator removed it: the gate is lifted. A host
    that never wrote it (a new web host) writes it. With no open shut, a stale flag is removed.
    """
    me, path = host_id(), flag_path()
    open_shuts = list(GateShut.objects.filter(lifted_at__isnull=True).select_related("slo").order_by("shut_at"))
    if open_shuts and not path.exists():
        deleted = [s for s in open_shuts if me in s.flag_hosts]
        for shut in deleted:
            lift(shut, by=f"flag file deleted on {me}", note=f"{FLAG_NAME} was removed", now=now, resync=False)
        open_shuts = [s for s in open_shuts if s not in deleted]
    if not open_shuts:
        path.unlink(missing_ok=True)
        return []
    _write_flag(path, open_shuts)
    for shut in open_shuts:
        if me not in shut.flag_hosts:
            _add_host(shut, me)
    return open_shuts


def _add_host(shut: GateShut, me: str) -> None:
    with transaction.atomic():
        row = GateShut.objects.select_for_update().get(pk=shut.pk)
        if me not in row.flag_hosts:
            row.flag_hosts = [*row.flag_hosts, me]
            row.save(update_fields=["flag_hosts"])
        shut.flag_hosts = row.flag_hosts


def _write_flag(path: Path, shuts: list[GateShut]) -> None:
    text = "".join(f"gate_id={s.pk} shut_at={s.shut_at.isoformat()} {s.reason}\n" for s in shuts)
    if path.exists() and path.read_text() == text:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".deploy_gate.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def current(now=None) -> GateState:
    """The gate as the database says, after syncing this host's flag file."""
    shuts = sync(now)
    return GateState(shut=bool(shuts), reason="; ".join(s.reason for s in shuts), shuts=shuts)


def is_active(now=None) -> bool:
    """Whether the deploy gate is shut (for the scaling app and CI)."""
    return current(now).shut


def reason(now=None) -> str:
    """Why the gate is shut, or "" when it is open."""
    return current(now).reason
