"""The real Alertmanager (Debian's prometheus-alertmanager, 0.25) notifying a live console: its
repeats of a firing alert join the one open incident, its resolve closes it, and the alert firing
again afterwards opens a new incident."""

import json
import shutil
import subprocess
import time
import urllib.request

import pytest

from echopilot.models import DashKey
from incidents.models import Incident
from tests.loopback import free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BINARY, reason="Alertmanager (Debian package prometheus-alertmanager) is not installed"),
    pytest.mark.django_db(transaction=True),
]

CONFIG = """
route:
  receiver: console
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: console
    webhook_configs:
      - url: {url}/api/incidents/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {key}
"""


@pytest.fixture
def alertmanager(live_server, tmp_path):
    key = DashKey.issue("alertmanager", DashKey.ADMIN)[1]
    (tmp_path / "alertmanager.yml").write_text(CONFIG.format(url=live_server.url, key=key))
    port = free_port()
    process = subprocess.Popen(
        [BINARY, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'data'}"]
        + [f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=2).status == 200, 30)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def _wait_for(check, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def _post_alert(base: str, ends_at: str | None = None) -> None:
    alert = {"labels": {"alertname": "QueueStuck", "severity": "critical", "job": "worker"}}
    alert["annotations"] = {"summary": "queue stuck for 10 minutes"}
    if ends_at:
        alert["endsAt"] = ends_at
    request = urllib.request.Request(
        f"{base}/api/v2/alerts", json.dumps([alert]).encode(), {"Content-Type": "application/json"}
    )
    assert urllib.request.urlopen(request, timeout=5).status == 200


def test_alertmanager_repeats_join_the_open_incident_until_it_resolves(alertmanager):
    _post_alert(alertmanager)
    _wait_for(lambda: Incident.objects.filter(count__gte=3).exists(), 30)  # the first and two repeats
    assert Incident.objects.count() == 1
    first = Incident.objects.get()
    assert (first.severity, first.source, first.status) == ("CRITICAL", "worker", Incident.OPEN)

    _post_alert(alertmanager, ends_at="2000-01-01T00:00:00Z")
    _wait_for(lambda: Incident.objects.filter(status=Incident.RESOLVED).exists(), 30)
    assert Incident.objects.count() == 1

    _post_alert(alertmanager)
    _wait_for(lambda: Incident.objects.exclude(status=Incident.RESOLVED).exists(), 30)
    assert Incident.objects.count() == 2
    assert Incident.objects.exclude(pk=first.pk).get().fingerprint == first.fingerprint
