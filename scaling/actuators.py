"""Where a decision goes: one class per platform, each with `apply(desired)` and `actual()`.

`actual()` answers None when the platform cannot say; `apply` raises `ActuatorError` when the change
did not happen (the next tick tries again; three in a row raise an incident).
"""

import subprocess
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

from echopilot.events import read_snapshot

from .models import ScaleState

if TYPE_CHECKING:  # scaling.kubernetes_actuator imports this module: a cycle at run time
    from .kubernetes_actuator import Kubernetes

MAX_ERROR = 500  # characters of a failed command's output kept with the decision
POOL_STATUS = "qcluster_pool.json"


class ActuatorError(Exception):
    """The platform refused or could not be reached; the message is safe to show and store."""


class Record:
    """Stores the desired number and nothing else: `actual` is what was last applied."""

    name = "record"

    def apply(self, desired: int) -> None:
        return None

    def actual(self) -> int | None:
        state = ScaleState.objects.filter(pk=ScaleState.ROW).first()
        return state.applied_workers if state else None


class Qcluster(Record):
    """The embedded default: `manage.py qcluster_pool` keeps `applied_workers` django-q2 clusters
    running on this host; it reports what runs in `<LOG_DIR>/qcluster_pool.json`."""

    name = "qcluster"

    def actual(self) -> int | None:
        return pool_running()


def pool_running() -> int | None:
    """How many clusters the host's qcluster pool runs, or None when no pool has reported lately."""
    pool = read_snapshot(POOL_STATUS)
    stale_after = max(30.0, 6 * settings.SCALE_POOL_POLL_S)
    if not pool or time.time() - float(pool.get("at_epoch", 0)) > stale_after:
        return None  # no supervisor is running: nothing here can say
    return int(pool["running"])


class Command:
    """An operator's command: SCALE_COMMAND with `{desired}`, SCALE_ACTUAL_COMMAND printing the number."""

    name = "command"

    def apply(self, desired: int) -> None:
        self._run(settings.SCALE_COMMAND.replace("{desired}", str(int(desired))))

    def actual(self) -> int | None:
        if not settings.SCALE_ACTUAL_COMMAND:
            return Record().actual()
        out = self._run(settings.SCALE_ACTUAL_COMMAND).strip()
        try:
            return int(out.split()[-1])
        except (ValueError, IndexError):
            raise ActuatorError(f"SCALE_ACTUAL_COMMAND printed {out[-80:]!r}, not a number of workers") from None

    def _run(self, command: str) -> str:
        try:
            done = subprocess.run(
                command, shell=True, capture_output=True, text=True, timeout=settings.SCALE_COMMAND_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise ActuatorError(f"timed out after {settings.SCALE_COMMAND_TIMEOUT_S:g}s") from None
        except OSError as exc:
            raise ActuatorError(f"could not start: {exc.strerror}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout or "").strip()[-MAX_ERROR:]
            raise ActuatorError(f"exit status {done.returncode}: {said}")
        return done.stdout


# By dotted path, so the kubernetes client (a third of a second to import) loads only where it is used.
ACTUATORS = {
    "record": "scaling.actuators.Record",
    "qcluster": "scaling.actuators.Qcluster",
    "command": "scaling.actuators.Command",
    "kubernetes": "scaling.kubernetes_actuator.Kubernetes",
}


def current() -> "Record | Command | Kubernetes":
    """The actuator SCALE_ACTUATOR names."""
    return import_string(ACTUATORS[settings.SCALE_ACTUATOR])()
