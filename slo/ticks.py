"""The periodic runs: the 15-minute budget tick and the 2-minute watch (alerts, watchdog, gate)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from echopilot.events import append_event, write_snapshot

from . import alerts, gate, ingest, services, watchdog
from .models import SloState, SloTick

STATUS_SNAPSHOT = "slo_status.json"
TICK_HISTORY = timedelta(days=90)


def budget_tick(now=None) -> dict:
    """Judge every SLO: log a slo_tick event each, move alerts and the gate, rewrite slo_status.json.

    Safe to run on several qclusters at once: alerts and the gate lock the SLO's state row.
    """
    now = now or timezone.now()
    statuses = []
    for slo in services.active_slos():
        report = services.status(slo, services.DEFAULT_PERIOD, now)
        report["alerts"] = alerts.evaluate(slo, now)
        gate.evaluate(slo, now)
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
    for slo in services.active_slos():
        done[slo.name] = {
            "alerts": alerts.evaluate(slo, now),
            "recovery": bool(watchdog.check(slo, now)),
            "gate_shut": bool(gate.evaluate(slo, now)),
        }
    gate.sync(now)
    return done
