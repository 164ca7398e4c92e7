"""The senders teams already run, unchanged: PagerDuty's client libraries with only their base URL
pointed at the console, Grafana Alerting's webhook (the sample from Grafana's documentation), and an
alert that Alertmanager keeps repeating for hours while it fires."""

import json
import re
import ssl
import warnings
from datetime import timedelta
from pathlib import Path

import pagerduty
import pytest
from django.utils import timezone

from incidents import raise_incident, resolve_incident
from incidents.models import Delivery, Incident
from tests.loopback import self_signed_certificate, tls_tunnel

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pdpyras warns that it is deprecated in favour of pagerduty
    import pdpyras

FIXTURES = Path(__file__).parent.parent / "fixtures"


def grafana_sample() -> dict:
    return json.loads((FIXTURES / "grafana" / "webhook-notifier-firing.json").read_text())


@pytest.fixture
def routing_key(transactional_db):
    from echopilot.models import DashKey

    return DashKey.issue("pagerduty-sender", DashKey.ADMIN)[1]


@pytest.fixture
def https_console(live_server, tmp_path):
    """The live console behind HTTPS (the pagerduty library refuses http://), and a context trusting it."""
    cert, key = self_signed_certificate(tmp_path)
    with tls_tunnel(live_server.thread.port, cert, key) as port:
        yield f"https://localhost:{port}", ssl.create_default_context(cafile=cert)


def _pagerduty_client(routing_key: str, https_console):
    base_url, trust = https_console
    return pagerduty.EventsApiV2Client(routing_key, base_url=base_url, verify=trust)


def _pdpyras_session(routing_key: str, base: str):
    session = pdpyras.EventsAPISession(routing_key)
    session.url = base
    return session


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("suffix", ["", "/api/incidents"])
def test_pdpyras_triggers_acknowledges_and_resolves_with_only_its_base_url_changed(live_server, routing_key, suffix):
    session = _pdpyras_session(routing_key, live_server.url + suffix)
    key = session.trigger("Disk full on db-1", "db-1", dedup_key="db-1/disk", severity="error")
    assert key == "db-1/disk"
    incident = Incident.objects.get(fingerprint="db-1/disk")
    assert (incident.severity, incident.source, incident.message) == ("ERROR", "db-1", "Disk full on db-1")
    assert session.acknowledge(key) == key
    incident.refresh_from_db()
    assert incident.status == Incident.ACKNOWLEDGED
    assert session.resolve(key) == key
    incident.refresh_from_db()
    assert incident.status == Incident.RESOLVED


@pytest.mark.django_db(transaction=True)
def test_the_pagerduty_library_runs_trigger_acknowledge_resolve_against_the_console(https_console, routing_key):
    client = _pagerduty_client(routing_key, https_console)
    key = client.trigger("Checkout error rate 7%", "checkout", custom_details={"error_rate": 0.07})
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    incident = Incident.objects.get(fingerprint=key)
    assert incident.meta["custom_details"] == {"error_rate": 0.07}
    client.acknowledge(key)
    assert Incident.objects.get(fingerprint=key).status == Incident.ACKNOWLEDGED
    client.resolve(key)
    assert Incident.objects.get(fingerprint=key).status == Incident.RESOLVED


@pytest.mark.django_db(transaction=True)
def test_triggers_without_dedup_key_are_separate_alerts_each_with_its_key(https_console, routing_key):
    client = _pagerduty_client(routing_key, https_console)
    first = client.trigger("Checkout error rate 7%", "checkout")
    second = client.trigger("Checkout error rate 7%", "checkout")
    assert first != second
    assert Incident.objects.count() == 2
    client.resolve(first)
    assert set(Incident.objects.values_list("fingerprint", "status")) == {
        (first, Incident.RESOLVED),
        (second, Incident.OPEN),
    }


@pytest.mark.django_db(transaction=True)
def test_a_wrong_routing_key_is_refused_to_the_library(https_console, routing_key):
    client = _pagerduty_client("not-a-key", https_console)
    with pytest.raises(pagerduty.Error):
        client.trigger("x", "y")
    assert not Incident.objects.exists()


def test_grafana_alerting_webhook_sample_is_accepted(api):
    response = api.post("/api/incidents/grafana", grafana_sample(), content_type="application/json")
    assert response.status_code == 200, response.content
    memory = Incident.objects.get(fingerprint="c6eadffa33fcdf37")
    assert memory.message == "This alert was triggered for zone us-1"
    assert memory.meta["labels"] == {"alertname": "High memory usage", "team": "blue", "zone": "us-1"}
    assert Incident.objects.filter(fingerprint="bc97ff14869b13e3").exists()
    # The same body at the Alertmanager path is understood too (one receiver for both senders).
    again = api.post("/api/incidents/alertmanager", grafana_sample(), content_type="application/json")
    assert again.status_code == 200 and Incident.objects.get(fingerprint="c6eadffa33fcdf37").count == 2


def test_label_values_are_stored_exactly_as_sent(api):
    body = grafana_sample()
    del body["alerts"][0]["fingerprint"]
    body["alerts"][0]["labels"]["zone"] = " us-1 "
    body["alerts"] = body["alerts"][:1]
    api.post("/api/incidents/grafana", body, content_type="application/json")
    incident = Incident.objects.get()
    assert incident.meta["labels"]["zone"] == " us-1 "
    assert "zone= us-1 " in incident.fingerprint


@pytest.mark.django_db
def test_a_four_hour_old_firing_alert_repeats_into_its_open_incident(api, telegram):
    """Alertmanager's default repeat_interval is 4 h: the repeat is a reminder, not a second incident."""
    sample = grafana_sample()
    sample["alerts"] = sample["alerts"][:1]
    sample["alerts"][0]["labels"]["severity"] = "critical"
    api.post("/api/incidents/grafana", sample, content_type="application/json")
    incident = Incident.objects.get()
    four_hours_ago = timezone.now() - timedelta(hours=4)
    Incident.objects.filter(pk=incident.pk).update(first_seen=four_hours_ago, last_seen=four_hours_ago)
    Delivery.objects.update(created_at=four_hours_ago)

    response = api.post("/api/incidents/grafana", sample, content_type="application/json")
    (answer,) = response.json()["raised"]
    assert answer["id"] == incident.pk and not answer["created"] and answer["pages"] == 1
    assert Incident.objects.count() == 1 and Incident.objects.get().count == 2
    assert list(Delivery.objects.order_by("pk").values_list("kind", flat=True)) == [Delivery.PAGE, Delivery.REPAGE]


@pytest.mark.django_db
def test_one_resolve_closes_the_one_incident_and_a_new_trigger_opens_a_new_one(telegram):
    now = timezone.now()
    first = raise_incident("CRITICAL", "queue stuck", "worker", fingerprint="q", now=now)
    raise_incident("CRITICAL", "queue stuck", "worker", fingerprint="q", now=now + timedelta(hours=2))
    assert resolve_incident("q") == 1
    again = raise_incident("CRITICAL", "queue stuck", "worker", fingerprint="q", now=now + timedelta(hours=3))
    assert again.created and again.incident.pk != first.incident.pk
    assert again.deliveries and again.deliveries[0].kind == Delivery.PAGE
