"""Auto-recovery: requeue the tasks that failed in the last hour, release tasks stuck
past their timeout, restart the worker pool where this console runs one.

Each action and its outcome is kept on a RecoveryRun (linked to the incident that triggered it), as a
note on that incident, and in logs/ops.ndjson. A dry run lists the same actions and changes nothing.
"""

from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Failure, OrmQ
from django_q.tasks import async_task

from echopilot.events import append_event
from incidents.models import Incident
from incidents.services import add_note
from slo.alerts import incident_fingerprint

from .models import RecoveryRun, RequeuedTask

REQUEUE_WINDOW = timedelta(hours=1)
NOT_OURS = (
    "not in this console's hands: it runs no worker pool of its own (OPS_WORKER_POOL_HOOK is empty); "
    "restart the qcluster processes where they run"
)


@dataclass
class Action:
    action: str  # requeue | skip | release | restart
    target: str
    outcome: str

    def to_dict(self) -> dict:
        return asdict(self)


# --- what applies -----------------------------------------------------------------------------------------


def failed_recently(now) -> list[Failure]:
    """The dead-letter queue: tasks that failed in the last hour, oldest first."""
    return list(Failure.objects.filter(stopped__gte=now - REQUEUE_WINDOW).order_by("stopped"))


def why_not_requeue(task: Failure, done: set[str], retries: set[str]) -> str:
    """Why `task` must not be queued again ("" when it may)."""
    if task.id in done:
        return "already requeued once"
    if task.id in retries:
        return "this is a requeued task failing again: it is not requeued twice"
    try:
        func = import_string(task.func)
    except ImportError:
        return f"its function {task.func} no longer exists"
    return "" if callable(func) else f"{task.func} is not a function"


def stuck_tasks(now) -> list[OrmQ]:
    """ORM-broker packages a worker took longer ago than the task timeout and never acknowledged.
    A dequeue leases a package until now + Q_CLUSTER retry; taken = lease - retry."""
    if settings.REDIS_URL:
        return []
    retry, timeout = settings.Q_CLUSTER["retry"], settings.Q_CLUSTER["timeout"]
    taken_before = now - timedelta(seconds=timeout)
    return list(OrmQ.objects.filter(lock__gt=now, lock__lt=taken_before + timedelta(seconds=retry)))


# --- the run ------------------------------------------------------------------------------------------------


def recover(*, dry_run: bool = False, trigger: str = "", incident: Incident | None = None, now=None) -> RecoveryRun:
    """Run (or, dry, list) every recovery action that applies; returns the run with its actions."""
    now = now or timezone.now()
    run = RecoveryRun.objects.create(at=now, dry_run=dry_run, trigger=trigger[:150], incident=incident)
    actions = [*requeue_failed(run, now, dry_run), *release_stuck(now, dry_run), restart_workers(dry_run)]
    run.actions = [a.to_dict() for a in actions]
    run.save(update_fields=["actions"])
    append_event(
        "ops",
        "recovery",
        run=run.pk,
        dry_run=dry_run,
        trigger=run.trigger,
        incident=incident.pk if incident else None,
        actions=run.actions,
    )
    if incident is not None:
        # On the incident itself too, where the on-call person reads what was already tried.
        add_note(incident.fingerprint, summary(run), now=now)
    return run


def requeue_failed(run: RecoveryRun, now, dry_run: bool) -> list[Action]:
    done = set(RequeuedTask.objects.values_list("failed_task_id", flat=True))
    retries = set(RequeuedTask.objects.values_list("new_task_id", flat=True))
    actions = []
    for task in failed_recently(now):
        reason = why_not_requeue(task, done, retries)
        if reason:
            actions.append(Action("skip", _label(task), reason))
        elif dry_run:
            actions.append(Action("requeue", _label(task), "would be queued again"))
        else:
            actions.append(_requeue(task, run, now))
    return actions


def _requeue(task: Failure, run: RecoveryRun, now) -> Action:
    # The claim row and the enqueue share one transaction: the unique task id makes a second
    # recovery running at the same time skip it, and a broker that refuses the task undoes the claim.
    try:
        with transaction.atomic():
            claim = RequeuedTask.objects.create(failed_task_id=task.id, new_task_id="", func=task.func, run=run, at=now)
            new_id = async_task(
                task.func,
                *(task.args or ()),
                q_options={"task_name": f"{task.name} (requeued)"[:100], "group": task.group, "hook": task.hook},
                **(task.kwargs or {}),
            )
            RequeuedTask.objects.filter(pk=claim.pk).update(new_task_id=new_id)
    except IntegrityError:
        return Action("skip", _label(task), "already requeued once (by another recovery)")
    except Exception as exc:  # the broker refused it: say so, keep going with the rest
        return Action("requeue", _label(task), f"failed: {type(exc).__name__}: {str(exc)[:200]}")
    return Action("requeue", _label(task), f"queued again as {new_id}")


def _label(task: Failure) -> str:
    return f"{task.func} ({task.name}, {task.id})"


def release_stuck(now, dry_run: bool) -> list[Action]:
    """Hand packages stuck past the timeout back to the queue (their lease ends now)."""
    if settings.REDIS_URL:
        return [Action("release", "Redis broker", "nothing to release: the Redis broker leases no tasks")]
    actions = []
    for package in stuck_tasks(now):
        target = f"queued package {package.pk} ({package.name()})"
        if dry_run:
            actions.append(Action("release", target, "would be handed back to the queue"))
            continue
        released = OrmQ.objects.filter(pk=package.pk, lock=package.lock).update(lock=now)
        actions.append(Action("release", target, "handed back to the queue" if released else "already taken again"))
    return actions


def restart_workers(dry_run: bool) -> Action:
    """Restart the worker pool through OPS_WORKER_POOL_HOOK (the scaling app's qcluster pool)."""
    path = settings.OPS_WORKER_POOL_HOOK
    if not path:
        return Action("restart", "worker pool", NOT_OURS)
    try:
        outcome = import_string(path)(dry_run=dry_run)
    except Exception as exc:  # a failing restart is the outcome, recorded like any other
        outcome = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    return Action("restart", "worker pool", str(outcome)[:500])


def summary(run: RecoveryRun) -> str:
    done = [a for a in run.actions if a["action"] != "skip"]
    return f"recovery #{run.pk}{' (dry run)' if run.dry_run else ''}: " + "; ".join(
        f"{a['action']} {a['target']}: {a['outcome']}" for a in done
    )


def to_dict(run: RecoveryRun) -> dict:
    return {
        "run": run.pk,
        "at": run.at.isoformat(),
        "dry_run": run.dry_run,
        "trigger": run.trigger,
        "incident": run.incident_id,
        "actions": run.actions,
    }


# --- the SLO watchdog's hook -----------------------------------------------------------------------------


def watchdog_hook(*, slo, reason: str, now=None) -> str:
    """SLO_RECOVERY_HOOK with INCIDENT_AUTORECOVER=true: recover, keeping the actions on the SLO's
    burn incident (which the watchdog's finding joined). The watchdog already limits this to once per
    30 minutes."""
    if not settings.INCIDENT_AUTORECOVER:
        append_event("ops", "recovery_skipped", slo=slo.name, reason="INCIDENT_AUTORECOVER is off")
        return "not run: INCIDENT_AUTORECOVER is off"
    incident = (
        Incident.objects.filter(fingerprint=incident_fingerprint(slo))
        .exclude(status=Incident.RESOLVED)
        .order_by("-last_seen")
        .first()
    )
    run = recover(trigger=f"slo-watchdog ({slo.name})", incident=incident, now=now)
    return summary(run)
