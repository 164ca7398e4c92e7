"""The kubernetes actuator: a Deployment's scale subresource through the official client."""

from django.conf import settings
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from .actuators import ActuatorError


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
        self._call(
            "patch",
            lambda api, name, ns: api.patch_namespaced_deployment_scale(
                name, ns, body, _request_timeout=self.TIMEOUT_S
            ),
        )

    def actual(self) -> int | None:
        scale = self._call(
            "read",
            lambda api, name, ns: api.read_namespaced_deployment_scale(name, ns, _request_timeout=self.TIMEOUT_S),
        )
        replicas = scale.status.replicas if scale.status is not None else None
        return replicas if replicas is not None else scale.spec.replicas

    def _call(self, verb: str, call) -> k8s_client.V1Scale:
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
