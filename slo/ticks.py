"""The periodic runs: the 15-minute budget tick and the 2-minute watch (alerts, watchdog, gate)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from echopilot.events import append_event, write_snapshot

from . import alerts, gate, ingest, services, watchdog
from .models import SloState, SloTick

STATUS_SNAPSHOT = "slo_status.json"
TICK_HISTORY = timedelta(days=90)
# The windows the alerts, the watchdog and the gate read of each SLO.
WATCHED = [*alerts.LENGTHS, watchdog.WINDOW, gate.GATE_WINDOW]


def budget_tick(now=None) -> dict:
    """Judge every SLO: log a slo_tick event each, move alerts and the gate, rewrite slo_status.json.

    Safe to run on several qclusters at once: alerts and the gate lock the SLO's state row.
    """
    now = now or timezone.now()
    statuses = []
    slos = services.active_slos()
    # Every window of every SLO in one read; the writes (ticks, alerts, the gate) stay per SLO.
    ahead = services.read_ahead(
        slos, lambda slo: [*services.status_lengths(slo, services.DEFAULT_PERIOD), *WATCHED], now
    )
    for slo in slos:
        report = services.status_from(slo, services.DEFAULT_PERIOD, ahead[slo.pk], now)
        report["alerts"] = alerts.evaluate(slo, now, ahead[slo.pk])
        gate.evaluate(slo, now, ahead[slo.pk])
        _record_tick(slo, report, now)
        statuses.append(report)
    gate_state = gate.current(now)
    snapshot = {"generated_at": now.isoformat(), "gate": gate_state.to_dict(), "slos": statuses}
    write_snapshot(STATUS_SNAPSHOT, snapshot)
    ingest.expire(now)
    SloTick.objects.filter(at__lt=now - TICK_HISTORY).delete()
    return snapshot


def _record_tick(slo, report: dict, now) -> None:
    with transaction.atomic():
        SloTick.objects.create(
            slo=slo,
            at=now,
            requests=report["requests"],
            p95_ms=report["p95_ms"],
            p99_ms=report["p99_ms"],
            error_rate=report["error_rate"],
            burn=report["burn"],
            weekly_burn=report["weekly_burn"],
            remaining_budget_pct=report["remaining_budget_pct"],
            burn_alert=report["burn_alert"],
        )
        SloState.objects.get_or_create(slo=slo)
        SloState.objects.filter(slo=slo).update(burn_alert=report["burn_alert"], last_tick_at=now)
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
    done = {}
    slos = services.active_slos()
    ahead = services.read_ahead(slos, lambda slo: WATCHED, now)  # every SLO's windows in one read
    for slo in slos:
        done[slo.name] = {
            "alerts": alerts.evaluate(slo, now, ahead[slo.pk]),
            "recovery": bool(watchdog.check(slo, now, ahead[slo.pk])),
            "gate_shut": bool(gate.evaluate(slo, now, ahead[slo.pk])),
        }
    gate.sync(now)
    return done
