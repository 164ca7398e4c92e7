"""With the task broker (Redis) down, the /portal/ form answers as always and the email still goes
out (from the web worker), through a real SMTP server."""

import pytest

from tests.faults import broker_down

pytestmark = pytest.mark.django_db(transaction=True)  # the sending thread reads with its own connection


def test_the_form_answers_as_always_and_the_link_is_emailed_while_the_broker_is_down(client, smtp_inbox, purchases):
    with broker_down():
        response = client.post("/portal/", {"email": "jenny.rosen@example.com"})
    assert response.status_code == 200
    assert b"Check your inbox" in response.content
    assert smtp_inbox.arrived.wait(10), "the link was not emailed"
    assert [m.rcpt_tos for m in smtp_inbox.messages] == [["jenny.rosen@example.com"]]


def test_with_the_broker_down_an_unknown_address_gets_the_same_page(client, smtp_inbox, purchases):
    with broker_down():
        known = client.post("/portal/", {"email": "jenny.rosen@example.com"})
        unknown = client.post("/portal/", {"email": "stranger@example.com"})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
