"""The periodic runs: the 15-minute budget tick and the 2-minute watch (alerts, watchdog, gate)."""

from collections.abc import Callable, Collection
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from echopilot.events import append_event, write_snapshot

from . import alerts, gate, ingest, services, watchdog
from .locks import lock_states, save_states, snapshot
from .models import RecoveryRequest, Slo, SloState, SloTick
from .schedules import WATCH_EVERY

STATUS_SNAPSHOT = "slo_status.json"
TICK_HISTORY = timedelta(days=90)
# The windows the alerts, the watchdog and the gate read first of each SLO; the alerts' long ones
# follow for the SLOs whose short ones burn (_read).
FIRST_LOOK = list(dict.fromkeys([*alerts.SHORT_LENGTHS, watchdog.WINDOW, gate.GATE_WINDOW]))
STATE_FIELDS = [
    "burn_alert",
    "last_tick_at",
    "gate_pending_since",
    "gate_checked_at",
    "active_alerts",
    "watch_history",
    "last_recovery_at",
]
# A budget tick runs every 15 minutes: older than two of them, its figures are no longer current.
TICK_FRESH = timedelta(minutes=30)
TICK_FIGURES = [
    "requests",
    "p95_ms",
    "p99_ms",
    "error_rate",
    "burn",
    "weekly_burn",
    "remaining_budget_pct",
    "burn_alert",
]


def budget_tick(now=None) -> dict:
    """Judge every SLO: log a slo_tick event each, move alerts and the gate, rewrite slo_status.json.

    The alerts and the gate of an SLO the watch looked at within its interval (WATCH_EVERY) are left
    as the watch left them: it read the same windows at most that long ago, and runs again that soon.
    Safe to run on several qclusters at once: the SLOs' state rows are locked for the writes.
    """
    now = now or timezone.now()
    slos = services.active_slos()
    watched = _watched_lately(slos, now)
    ahead = _read(
        slos,
        lambda slo: [
            *services.status_lengths(slo, services.DEFAULT_PERIOD),
            *([] if slo.pk in watched else FIRST_LOOK),
        ],
        [slo for slo in slos if slo.pk not in watched],
        now,
    )
    reports = [services.status_from(slo, services.DEFAULT_PERIOD, ahead[slo.pk], now) for slo in slos]
    looks = _judge(slos, ahead, now, skip=watched, watchdog_too=False, reports=reports)
    for slo, report in zip(slos, reports, strict=True):
        report["alerts"] = looks[slo.pk]["alerts"]
        _log_tick(slo, report)
    gate_state = gate.current(now)
    snapshot = {"generated_at": now.isoformat(), "gate": gate_state.to_dict(), "slos": reports}
    write_snapshot(STATUS_SNAPSHOT, snapshot)
    ingest.expire(now)
    SloTick.objects.filter(at__lt=now - TICK_HISTORY).delete()
    return snapshot


def _read(
    slos: list[Slo], lengths_of: Callable[[Slo], list[timedelta]], judged: list[Slo], now
) -> dict[int, dict[timedelta, services.Window]]:
    # Every SLO's windows in one query, then the alerts' long windows of those of `judged` whose
    # short ones burn in one more (alerts.long_windows: no rule of the others can fire).
    ahead = services.read_ahead(slos, lengths_of, now)
    longer = {slo.pk: alerts.long_windows(slo, ahead[slo.pk]) for slo in judged}
    burning = [slo for slo in judged if longer[slo.pk]]
    if burning:
        for pk, windows in services.read_ahead(burning, lambda slo: longer[slo.pk], now).items():
            ahead[pk].update(windows)
    return ahead


def _watched_lately(slos: list[Slo], now) -> set[int]:
    states = SloState.objects.filter(slo__in=slos).only("slo_id", "watch_history")
    return {
        state.slo_id
        for state in states
        if (last := watchdog.last_look(state)) is not None and timedelta(0) <= now - last < WATCH_EVERY
    }


def _judge(
    slos: list[Slo],
    ahead: dict[int, dict[timedelta, services.Window]],
    now,
    *,
    skip: Collection[int] = (),
    watchdog_too: bool,
    reports: list[dict] | None = None,
) -> dict[int, dict]:
    # One transaction for every SLO: the state rows are locked together (lock_states) and written
    # back one UPDATE per field that moved (save_states); incidents, shuts and recovery requests
    # are written only for the SLOs whose alerts, watchdog or gate move. Events and recovery hooks
    # wait for the commit.
    done: dict[int, dict] = {}
    asked: list[tuple[Slo, RecoveryRequest]] = []
    with transaction.atomic():
        states = lock_states(slos)
        before = snapshot(states, STATE_FIELDS)
        for slo in slos:
            state, windows = states[slo.pk], ahead[slo.pk]
            if slo.pk in skip:
                done[slo.pk] = {"alerts": {}, "recovery": False, "gate_shut": False}
                continue
            changes = alerts.follow(slo, state, alerts.verdicts_of(slo, now, windows), now)
            request = watchdog.look(slo, state, windows[watchdog.WINDOW], now) if watchdog_too else None
            shut = gate.judge(slo, state, windows[gate.GATE_WINDOW], now)
            done[slo.pk] = {"alerts": changes, "recovery": request is not None, "gate_shut": shut is not None}
            if request is not None:
                asked.append((slo, request))
        if reports is not None:
            _record_ticks(slos, reports, states, now)
        save_states(states, STATE_FIELDS, before)
    for slo in slos:
        alerts.log_changes(slo, done[slo.pk]["alerts"])
    for slo, request in asked:
        watchdog.call_hook(request, slo, now)
    return done


def _record_ticks(slos: list[Slo], reports: list[dict], states: dict[int, SloState], now) -> None:
    ticks = []
    for slo, report in zip(slos, reports, strict=True):
        ticks.append(SloTick(slo=slo, at=now, **{name: report[name] for name in TICK_FIGURES}))
        states[slo.pk].burn_alert = report["burn_alert"]
        states[slo.pk].last_tick_at = now
    SloTick.objects.bulk_create(ticks)


def _log_tick(slo: Slo, report: dict) -> None:
    append_event(
        "slo_budget",
        "slo_tick",
        slo=slo.name,
        p95=report["p95_ms"],
        p99=report["p99_ms"],
        err_rate=report["error_rate"],
        burn=report["burn"],
        weekly_burn=report["weekly_burn"],
        remaining_budget_pct=report["remaining_budget_pct"],
        burn_alert=report["burn_alert"],
        requests=report["requests"],
    )


def watch_tick(now=None) -> dict:
    """The frequent run: multi-window alerts, the watchdog and the gate for every SLO."""
    now = now or timezone.now()
    slos = services.active_slos()
    ahead = _read(slos, lambda slo: FIRST_LOOK, slos, now)
    done = _judge(slos, ahead, now, watchdog_too=True)
    gate.sync(now)
    return {slo.name: done[slo.pk] for slo in slos}


def last_ticks(slos: list[Slo], states: dict[int, SloState], now=None) -> dict[int, SloTick]:
    """The last budget tick of each of `slos` (`states`: their state rows, by SLO pk) that still
    stands for it: not older than TICK_FRESH and not before the SLO was last edited or rebaselined.
    One query (the ticks of one run share their time), none when no SLO was ticked."""
    now = now or timezone.now()
    times = {state.last_tick_at for state in states.values() if state.last_tick_at is not None}
    if not times:
        return {}
    found = {}
    edited = {slo.pk: slo.updated_at for slo in slos}
    for tick in SloTick.objects.filter(slo__in=slos, at__in=times):
        state = states.get(tick.slo_id)
        if state and tick.at == state.last_tick_at and now - tick.at <= TICK_FRESH and tick.at >= edited[tick.slo_id]:
            found[tick.slo_id] = tick
    return found
