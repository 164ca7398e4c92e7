"""A CRITICAL raised while the task broker (Redis) is down pages at once, not at the 5-minute tick."""

import pytest

from incidents.models import Delivery, DeliveryAttempt
from tests.faults import broker_down

pytestmark = pytest.mark.django_db


def test_a_critical_raised_while_the_broker_is_down_pages_inline(api, telegram, django_capture_on_commit_callbacks):
    body = {"severity": "CRITICAL", "msg": "checkout is down", "source": "probe"}
    with broker_down(), django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/incidents/raise", body, content_type="application/json")
    assert response.status_code == 201
    assert len(telegram.requests) == 1
    assert "checkout is down" in telegram.requests[0]["json"]["text"]
    delivery = Delivery.objects.get(channel="telegram")
    assert delivery.status == Delivery.SENT
    assert list(DeliveryAttempt.objects.values_list("number", "ok")) == [(1, True)]


def test_with_the_broker_up_the_page_is_handed_to_the_queue(api, telegram, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    body = {"severity": "CRITICAL", "msg": "checkout is down", "source": "probe"}
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/incidents/raise", body, content_type="application/json")
    assert telegram.requests == []
    assert OrmQ.objects.count() == 1
