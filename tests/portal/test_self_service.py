"""The public self-service pages, the email through a real SMTP server, and unsubscribe."""

import re
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from portal import mail, services, tasks
from portal.models import AccessLog
from tests.loopback import free_port, smtp_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_tasks_now(monkeypatch):
    """django-q2 runs queued tasks in-process, as Q_CLUSTER sync does."""
    monkeypatch.setattr(Conf, "SYNC", True)


def only_message(inbox):
    assert inbox.arrived.wait(5), "no email arrived at the SMTP server"
    assert len(inbox.messages) == 1
    envelope = inbox.messages[0]
    return envelope, message_from_bytes(envelope.content, policy=default_policy)


def local(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


def link_in(message, path: str) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(rf"https://portal\.example\.test{re.escape(path)}\?token=\S+", body)
    assert match, body
    return match.group(0)


def test_the_request_page_is_a_csrf_protected_form(client):
    response = client.get("/portal/")
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/portal/", {"email": "jenny.rosen@example.com"}).status_code == 403


def test_a_customer_gets_their_link_by_email_and_sees_their_receipts(client, smtp_inbox, run_tasks_now, purchases):
    response = client.post("/portal/", {"email": "Jenny.Rosen@Example.com"})
    assert response.status_code == 200
    assert b"Check your inbox" in response.content

    envelope, message = only_message(smtp_inbox)
    assert envelope.rcpt_tos == ["jenny.rosen@example.com"]
    assert envelope.mail_from == "receipts@echopilot.example"
    assert message["Subject"] == "Your EchoPilot receipts"
    page = client.get(local(link_in(message, "/portal/receipts")))
    assert page.status_code == 200
    html = page.content.decode()
    assert "EchoPilot Pro, monthly" in html and "REFUNDED" in html
    downloads = re.findall(r'href="(/api/portal/download\?token=[^"]+)"', html)
    assert len(downloads) == 2
    pdf = client.get(downloads[0].replace("&amp;", "&"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


def test_the_answer_is_the_same_for_an_unknown_email_and_no_email_is_sent(client, smtp_inbox, run_tasks_now, purchases):
    known = client.post("/portal/", {"email": "jenny.rosen@example.com"})
    assert smtp_inbox.arrived.wait(5)
    unknown = client.post("/portal/", {"email": "stranger@example.com"})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert [m.rcpt_tos for m in smtp_inbox.messages] == [["jenny.rosen@example.com"]]


def test_the_request_only_queues_the_email(client, purchases):
    client.post("/portal/", {"email": "jenny.rosen@example.com"})
    assert OrmQ.objects.count() == 1
    request = AccessLog.objects.get(action="link_request")
    assert (request.outcome, request.email) == ("allowed", "jenny.rosen@example.com")


def test_a_malformed_email_is_a_400_form(client):
    response = client.post("/portal/", {"email": "not an email"})
    assert response.status_code == 400
    assert b"valid email" in response.content
    assert OrmQ.objects.count() == 0


def test_link_requests_beyond_the_limit_are_429(client, settings, purchases):
    settings.PORTAL_LINK_REQUEST_RATE_PER_HOUR = 2
    codes = [client.post("/portal/", {"email": f"x{i}@example.com"}).status_code for i in range(3)]
    assert codes == [200, 200, 429]
    assert OrmQ.objects.count() == 2


def test_one_address_gets_no_more_than_the_hourly_number_of_emails(smtp_inbox, settings, customer):
    settings.PORTAL_EMAIL_RATE_PER_HOUR = 2
    outcomes = [tasks.send_receipts_link(customer.email) for _ in range(3)]
    assert outcomes == ["sent", "sent", "throttled"]


def test_the_email_has_rfc_8058_one_click_unsubscribe_headers(smtp_inbox, customer):
    assert tasks.send_receipts_link(customer.email) == "sent"
    _, message = only_message(smtp_inbox)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(message["List-Unsubscribe"]).strip()  # long headers are folded onto a second line
    assert re.fullmatch(r"<https://portal\.example\.test/portal/unsubscribe\?token=\S+>", header)
    assert header.strip("<>") == link_in(message, "/portal/unsubscribe")


def test_one_click_unsubscribe_marks_the_customer_unsubscribed(smtp_inbox, customer):
    tasks.send_receipts_link(customer.email)
    _, message = only_message(smtp_inbox)
    url = str(message["List-Unsubscribe"]).strip().strip("<>")
    # What a mail provider sends (RFC 8058): a POST with this body, no cookie, no CSRF token.
    response = Client(enforce_csrf_checks=True).post(
        local(url), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.is_unsubscribed
    assert AccessLog.objects.filter(action="unsubscribe", outcome="allowed", customer=customer).exists()


def test_the_unsubscribe_link_shows_a_button_and_does_not_unsubscribe_on_get(client, customer):
    token = services.unsubscribe_token(customer)
    page = client.get("/portal/unsubscribe", {"token": token})
    assert page.status_code == 200 and b'<form method="post"' in page.content
    customer.refresh_from_db()
    assert not customer.is_unsubscribed


def test_a_forged_unsubscribe_is_refused(client, customer):
    response = client.post(
        "/portal/unsubscribe?token=forged",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 403
    customer.refresh_from_db()
    assert not customer.is_unsubscribed


def test_an_unsubscribed_customer_still_gets_the_link_they_ask_for_but_nothing_else(smtp_inbox, customer):
    services.unsubscribe(services.unsubscribe_token(customer))
    assert tasks.send_receipts_link(customer.email, requested=False) == "unsubscribed"
    assert tasks.send_receipts_link(customer.email, requested=True) == "sent"
    envelope, _ = only_message(smtp_inbox)
    assert envelope.rcpt_tos == [customer.email]


def test_the_self_service_link_is_short_lived(client, settings, customer):
    issued = timezone.now() - timedelta(minutes=settings.PORTAL_SELF_SERVICE_TTL_MIN + 1)
    token = services.self_service_link(customer, now=issued).token
    response = client.get("/portal/receipts", {"token": token})
    assert response.status_code == 403
    refused = AccessLog.objects.get(action="receipts_page")
    assert (refused.outcome, refused.email) == ("refused", customer.email)


def test_a_download_token_does_not_open_the_receipts_page(client, purchases):
    token = services.download_link(purchases[0]).token
    assert client.get("/portal/receipts", {"token": token}).status_code == 403


def test_revoking_links_also_closes_the_receipts_page(client, customer):
    token = services.self_service_link(customer).token
    assert client.get("/portal/receipts", {"token": token}).status_code == 200
    services.revoke_links(customer)
    assert client.get("/portal/receipts", {"token": token}).status_code == 403


def test_email_links_come_from_the_configured_base_url_not_the_host_header(customer, settings):
    settings.PORTAL_BASE_URL = "https://receipts.echopilot.example"
    message = mail.receipts_page_email(customer)
    assert "https://receipts.echopilot.example/portal/receipts?token=" in message.body


def test_a_send_that_failed_in_the_task_gives_its_slot_back(customer, settings):
    settings.PORTAL_EMAIL_RATE_PER_HOUR = 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False
    with pytest.raises(OSError):
        tasks.send_receipts_link(customer.email)
    with smtp_server() as (inbox, port):
        settings.EMAIL_PORT = port
        assert tasks.send_receipts_link(customer.email) == "sent"
        assert inbox.arrived.wait(5)


def test_the_form_page_lets_the_browser_send_its_origin_and_token_pages_send_no_referrer(client, customer):
    form = client.get("/portal/")
    assert form["Referrer-Policy"] == "same-origin"
    assert b'<meta name="referrer" content="same-origin">' in form.content
    token = services.self_service_link(customer).token
    receipts = client.get("/portal/receipts", {"token": token})
    assert receipts["Referrer-Policy"] == "no-referrer"
    assert b'<meta name="referrer" content="no-referrer">' in receipts.content
