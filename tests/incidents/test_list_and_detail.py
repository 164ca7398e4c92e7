"""GET /api/incidents/ (filters, pages) and GET /api/incidents/<id> (with its deliveries)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Delivery, DeliveryAttempt, Incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def incidents(db):
    now = timezone.now()

    def make(severity, status, msg, hours_ago):
        seen = now - timedelta(hours=hours_ago)
        return Incident.objects.create(
            fingerprint=msg,
            severity=severity,
            source="checkout",
            message=msg,
            status=status,
            first_seen=seen,
            last_seen=seen,
        )

    return [
        make("CRITICAL", "open", "checkout timeout after 3012 ms", 1),
        make("WARNING", "open", "disk 91% on db-1", 3),
        make("CRITICAL", "resolved", "payment provider 502", 30),
        make("INFO", "acknowledged", "deploy 2026.11.21-3 done", 50),
    ]


def msgs(response):
    return [row["msg"] for row in response.json()["incidents"]]


def test_the_list_is_newest_first_and_says_how_many_there_are(api, incidents):
    response = api.get("/api/incidents/")
    assert response.status_code == 200
    assert msgs(response) == [i.message for i in incidents]
    assert response.json() | {"incidents": None} == {
        "incidents": None,
        "limit": 25,
        "offset": 0,
        "total": 4,
        "more": False,
    }


def test_the_list_filters_by_status_severity_and_since(api, incidents):
    assert msgs(api.get("/api/incidents/", {"status": "open", "severity": "critical"})) == [incidents[0].message]
    since = (timezone.now() - timedelta(hours=40)).isoformat()
    assert msgs(api.get("/api/incidents/", {"since": since})) == [i.message for i in incidents[:3]]


def test_the_list_pages_with_limit_and_offset(api, incidents):
    first = api.get("/api/incidents/", {"limit": 3}).json()
    second = api.get("/api/incidents/", {"limit": 3, "offset": 3}).json()
    assert (len(first["incidents"]), first["more"]) == (3, True)
    assert ([r["id"] for r in second["incidents"]], second["more"]) == ([incidents[3].pk], False)


@pytest.mark.parametrize(
    "query, field",
    [
        ({"status": "burning"}, "status"),
        ({"severity": "FATAL"}, "severity"),
        ({"since": "yesterday"}, "since"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, incidents, query, field):
    response = api.get("/api/incidents/", query)
    assert response.status_code == 400 and field in response.json()["fields"]


def test_an_analyst_may_list_and_read(analyst_api, incidents):
    assert analyst_api.get("/api/incidents/").status_code == 200
    assert analyst_api.get(f"/api/incidents/{incidents[0].pk}").status_code == 200


def test_one_incident_comes_with_its_deliveries_and_their_attempts(api, incidents):
    incident = incidents[0]
    delivery = Delivery.objects.create(
        incident=incident, channel="telegram", subject="CRITICAL checkout", body="...", status="sent", attempts=2
    )
    DeliveryAttempt.objects.create(delivery=delivery, number=1, ok=False, status="429", error="retry after 3")
    DeliveryAttempt.objects.create(delivery=delivery, number=2, ok=True, status="200")
    body = api.get(f"/api/incidents/{incident.pk}").json()
    assert body["id"] == incident.pk and body["msg"] == "checkout timeout after 3012 ms"
    assert [(d["channel"], d["status"], d["attempts"]) for d in body["deliveries"]] == [("telegram", "sent", 2)]
    assert [(a["number"], a["ok"], a["status"]) for a in body["deliveries"][0]["attempt_log"]] == [
        (1, False, "429"),
        (2, True, "200"),
    ]


def test_an_unknown_incident_is_a_404(api):
    response = api.get("/api/incidents/999999")
    assert response.status_code == 404 and response.json()["error"] == "no such incident"
