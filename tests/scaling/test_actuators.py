"""The command and kubernetes actuators against real things: a shell script that fails, and a
loopback HTTP server answering the Kubernetes scale subresource as the API server does."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from incidents.models import Incident
from scaling.models import Decision, ScaleState
from tests.loopback import free_port

pytestmark = pytest.mark.django_db

BUSY = {"queue_depth": 120, "queue_time_s": 95.0, "arrivals_per_min": 80.0, "jobs_per_worker_min": 20.0}


def apply(api):
    return api.post("/api/scale/apply", {"dry_run": False}, content_type="application/json").json()


# --- command -----------------------------------------------------------------------------------------------


@pytest.fixture
def scripts(tmp_path, settings):
    """A scale script that records what it was asked (or fails while `fail` exists) and an actual script."""
    state = tmp_path / "replicas"
    state.write_text("2\n")
    fail = tmp_path / "fail"
    scale = tmp_path / "scale.sh"
    scale.write_text(
        f'#!/bin/sh\nif [ -e "{fail}" ]; then echo "worker service not found" >&2; exit 3; fi\necho "$1" > "{state}"\n'
    )
    scale.chmod(0o755)
    settings.SCALE_ACTUATOR = "command"
    settings.SCALE_COMMAND = f"{scale} {{desired}}"
    settings.SCALE_ACTUAL_COMMAND = f"cat {state}"
    return {"state": state, "fail": fail}


def test_the_command_actuator_runs_the_template_and_reads_actual_from_the_second_command(api, push, scripts):
    push(**BUSY)
    assert api.get("/api/scale/status").json()["actual"] == 2  # printed by SCALE_ACTUAL_COMMAND
    body = apply(api)
    assert body["outcome"] == "applied" and body["actuator"] == "command"
    assert scripts["state"].read_text().strip() == "6"
    assert api.get("/api/scale/status").json()["actual"] == 6


def test_a_failing_command_is_reported_retried_and_raises_an_incident_after_three_in_a_row(api, push, scripts):
    scripts["fail"].touch()
    push(**BUSY)
    outcomes = [apply(api) for _ in range(3)]
    assert [o["outcome"] for o in outcomes] == ["failed"] * 3
    assert "exit status 3: worker service not found" in outcomes[0]["error"]
    assert "failed (1 in a row)" in outcomes[0]["reason"]
    assert ScaleState.objects.get().failures_in_row == 3
    incident = Incident.objects.get(source="scaling")
    assert "3 times in a row" in incident.message
    assert scripts["state"].read_text().strip() == "2"
    scripts["fail"].unlink()
    assert apply(api)["outcome"] == "applied"  # retried at the next tick, no cooldown from failures
    assert ScaleState.objects.get().failures_in_row == 0


def test_two_failures_raise_no_incident(api, push, scripts):
    scripts["fail"].touch()
    push(**BUSY)
    apply(api)
    apply(api)
    assert not Incident.objects.filter(source="scaling").exists()
    assert Decision.objects.filter(outcome=Decision.Outcome.FAILED).count() == 2


def test_an_actual_command_printing_no_number_is_said_and_the_last_applied_stands_in(api, push, scripts, settings):
    settings.SCALE_ACTUAL_COMMAND = "echo lots"
    push(**BUSY, workers_actual=3)
    body = api.get("/api/scale/status").json()
    assert body["actual"] == 3
    decision = apply(api)
    assert decision["outcome"] == "applied"
    assert "not a number" in Decision.objects.get().inputs["context"]["actuator_problem"]


# --- kubernetes ----------------------------------------------------------------------------------------------


class ScaleApi(BaseHTTPRequestHandler):
    """GET and PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale, as the API server answers."""

    deployments: dict = {}
    requests: list = []
    fail_with: int | None = None

    def log_message(self, *args):
        return None

    def _scale_path(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        if (
            len(parts) == 8
            and parts[:4] == ["apis", "apps", "v1", "namespaces"]
            and parts[5::2] == ["deployments", "scale"]
        ):
            return parts[4], parts[6]
        return None

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _scale(self, namespace, name):
        replicas = self.deployments[(namespace, name)]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "selector": f"app={name}"},
        }

    def _not_found(self, name):
        self._reply(
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
                "message": f'deployments.apps "{name}" not found',
            },
        )

    def do_GET(self):
        where = self._scale_path()
        self.requests.append(("GET", self.path, None, self.headers.get("Content-Type")))
        if where is None or where not in self.deployments:
            return self._not_found(where[1] if where else "?")
        self._reply(200, self._scale(*where))

    def do_PATCH(self):
        where = self._scale_path()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("PATCH", self.path, body, self.headers.get("Content-Type")))
        if self.fail_with:
            return self._reply(self.fail_with, {"kind": "Status", "status": "Failure", "code": self.fail_with})
        if where is None or where not in self.deployments:
            return self._not_found(where[1] if where else "?")
        self.deployments[where] = body["spec"]["replicas"]
        self._reply(200, self._scale(*where))


@pytest.fixture
def kube(tmp_path, settings):
    ScaleApi.deployments = {("jobs", "worker"): 2}
    ScaleApi.requests = []
    ScaleApi.fail_with = None
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), ScaleApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "loopback",
                "clusters": [{"name": "loopback", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                "users": [{"name": "ops", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "loopback", "context": {"cluster": "loopback", "user": "ops"}}],
            }
        )
    )
    settings.SCALE_ACTUATOR = "kubernetes"
    settings.SCALE_K8S_KUBECONFIG = str(kubeconfig)
    settings.SCALE_K8S_CONTEXT = ""
    settings.SCALE_K8S_NAMESPACE = "jobs"
    settings.SCALE_K8S_DEPLOYMENT = "worker"
    yield ScaleApi
    server.shutdown()
    server.server_close()


def test_the_kubernetes_actuator_patches_the_scale_subresource_and_reads_actual_from_it(api, push, kube):
    push(**BUSY)
    assert api.get("/api/scale/status").json()["actual"] == 2
    body = apply(api)
    assert body["outcome"] == "applied"
    assert kube.deployments[("jobs", "worker")] == 6
    patch = next(r for r in kube.requests if r[0] == "PATCH")
    assert patch[1] == "/apis/apps/v1/namespaces/jobs/deployments/worker/scale"
    assert patch[2] == {"spec": {"replicas": 6}}
    assert patch[3] in ("application/merge-patch+json", "application/strategic-merge-patch+json")
    assert api.get("/api/scale/status").json()["actual"] == 6


def test_a_missing_deployment_is_a_failed_decision_naming_it(api, push, kube, settings):
    settings.SCALE_K8S_DEPLOYMENT = "wroker"
    push(**BUSY, workers_actual=2)
    body = apply(api)
    assert body["outcome"] == "failed"
    assert "HTTP 404" in body["error"] and "deployments/wroker/scale" in body["error"]
    assert "not-a-real-token" not in json.dumps(body)


def test_an_api_server_refusing_the_patch_counts_towards_the_incident(api, push, kube):
    kube.fail_with = 403
    push(**BUSY)
    for _ in range(3):
        assert apply(api)["outcome"] == "failed"
    assert Incident.objects.filter(source="scaling").exists()
    assert kube.deployments[("jobs", "worker")] == 2
