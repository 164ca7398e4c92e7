"""Where a decision goes: one class per platform, each with `apply(desired)` and `actual()`.

`actual()` answers None when the platform cannot say; `apply` raises `ActuatorError` when the change
did not happen (the next tick tries again; three in a row raise an incident).
"""

import subprocess
import time

from django.conf import settings
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from echopilot.events import read_snapshot

from .models import ScaleState

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


class Kubernetes:
    """A Deployment's scale subresource, through the official client: in-cluster config, or
    SCALE_K8S_KUBECONFIG (and SCALE_K8S_CONTEXT)."""

    name = "kubernetes"
    TIMEOUT_S = 10

    def _api(self) -> k8s_client.AppsV1Api:
        if settings.SCALE_K8S_KUBECONFIG:
            api_client = k8s_config.new_client_from_config(
                config_file=settings.SCALE_K8S_KUBECONFIG, context=settings.SCALE_K8S_CONTEXT or None
            )
        else:
            k8s_config.load_incluster_config()
            api_client = k8s_client.ApiClient()
        return k8s_client.AppsV1Api(api_client)

    def apply(self, desired: int) -> None:
        body = {"spec": {"replicas": int(desired)}}
        self._call("patch", lambda api, name, ns: api.patch_namespaced_deployment_scale(
            name, ns, body, _request_timeout=self.TIMEOUT_S))  # fmt: skip

    def actual(self) -> int | None:
        scale = self._call("read", lambda api, name, ns: api.read_namespaced_deployment_scale(
            name, ns, _request_timeout=self.TIMEOUT_S))  # fmt: skip
        replicas = scale.status.replicas if scale.status is not None else None
        return replicas if replicas is not None else scale.spec.replicas

    def _call(self, verb: str, call):
        name, namespace = settings.SCALE_K8S_DEPLOYMENT, settings.SCALE_K8S_NAMESPACE
        where = f"deployments/{name}/scale in namespace {namespace}"
        try:
            return call(self._api(), name, namespace)
        except ApiException as exc:
            raise ActuatorError(f"{verb} {where}: HTTP {exc.status} {exc.reason}") from None
        except (HTTPError, OSError) as exc:
            raise ActuatorError(f"{verb} {where}: {type(exc).__name__}") from None
        except k8s_config.ConfigException as exc:
            raise ActuatorError(f"kubernetes configuration: {exc}") from None


ACTUATORS = {cls.name: cls for cls in (Record, Qcluster, Command, Kubernetes)}


def current():
    """The actuator SCALE_ACTUATOR names."""
    return ACTUATORS[settings.SCALE_ACTUATOR]()
