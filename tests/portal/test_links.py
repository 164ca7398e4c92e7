"""GET /api/portal/receipts and GET /api/portal/download: signed links, one 403, the audit."""

import json
import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import signing as django_signing
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal import services, signing
from portal.models import AccessLog, Customer, Purchase

pytestmark = pytest.mark.django_db

REFUSAL = {"error": "invalid or expired link", "fields": {}}


def token_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["token"][0]


def download(client, token, **extra):
    return client.get("/api/portal/download", {"token": token}, **extra)


def test_receipts_lists_purchases_newest_first_with_links_valid_24_hours(api, purchases):
    before = timezone.now()
    response = api.get("/api/portal/receipts", {"email": "Jenny.Rosen@example.com"})
    assert response.status_code == 200
    body = response.json()
    assert body["known"] is True
    assert [r["id"] for r in body["receipts"]] == [purchases[0].pk, purchases[1].pk]
    first = body["receipts"][0]
    assert first["amount"] == "49.00" and first["currency"] == "usd" and first["status"] == "paid"
    assert first["download_url"].startswith("https://portal.example.test/api/portal/download?token=")
    expires = parse_datetime(first["expires"])
    assert timedelta(hours=23, minutes=59) < expires - before <= timedelta(hours=24, seconds=5)
    assert body["receipts"][1]["status"] == "refunded"


def test_an_unknown_email_is_an_empty_list(api, purchases):
    body = api.get("/api/portal/receipts", {"email": "nobody@example.com"}).json()
    assert body["receipts"] == []
    assert body["known"] is False


@pytest.mark.parametrize("email", ["not-an-email", "", "a@b@c.com"])
def test_a_malformed_email_is_a_400_naming_the_field(api, email):
    response = api.get("/api/portal/receipts", {"email": email})
    assert response.status_code == 400
    assert "email" in response.json()["fields"]


def test_receipts_need_a_key_and_an_analyst_may_read(client, analyst_key, purchases):
    assert client.get("/api/portal/receipts", {"email": "jenny.rosen@example.com"}).status_code == 401
    as_analyst = client.get("/api/portal/receipts", {"email": "jenny.rosen@example.com"}, HTTP_X_DASH_KEY=analyst_key)
    assert as_analyst.status_code == 200


def test_an_analyst_reads_receipts_but_gets_no_download_link(analyst_api, purchases):
    body = analyst_api.get("/api/portal/receipts", {"email": "jenny.rosen@example.com"}).json()
    assert [r["number"] for r in body["receipts"]] == ["1846-0001", purchases[1].reference]
    assert all(r["download_url"] is None and r["expires"] is None for r in body["receipts"])
    assert "token=" not in json.dumps(body)


def test_an_analyst_session_gets_no_download_link_either(staff_with, purchases):
    staff = staff_with("echopilot.api_analyst")
    body = staff.get("/api/portal/receipts", {"email": "jenny.rosen@example.com"}).json()
    assert body["receipts"] and all(r["download_url"] is None for r in body["receipts"])


def test_a_link_from_the_receipts_list_downloads_the_pdf(api, client, purchases):
    url = api.get("/api/portal/receipts", {"email": "jenny.rosen@example.com"}).json()["receipts"][0]["download_url"]
    client.defaults.pop("HTTP_X_DASH_KEY", None)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert "receipt-1846-0001.pdf" in response["Content-Disposition"]


def test_receipt_links_use_the_portal_base_url_whatever_the_host_header(api, purchases):
    response = api.get("/api/portal/receipts", {"email": "jenny.rosen@example.com"}, HTTP_HOST="evil.example")
    urls = [receipt["download_url"] for receipt in response.json()["receipts"]]
    assert len(urls) == 2
    assert all(url.startswith("https://portal.example.test/api/portal/download?token=") for url in urls)


def test_a_tampered_token_is_403(client, purchases):
    token = services.download_link(purchases[0]).token
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    response = download(client, flipped)
    assert response.status_code == 403
    assert response.json() == REFUSAL


def test_a_token_with_a_swapped_payload_is_403(client, purchases):
    paid, refunded = purchases
    good = services.download_link(paid).token
    other = services.download_link(refunded).token
    spliced = other.split(":", 1)[0] + ":" + good.split(":", 1)[1]
    assert download(client, spliced).status_code == 403


def test_a_link_is_refused_after_24_hours(client, purchases):
    issued = timezone.now() - timedelta(hours=24, minutes=1)
    token = services.download_link(purchases[0], now=issued).token
    response = download(client, token)
    assert response.status_code == 403
    assert response.json() == REFUSAL


def test_a_link_still_works_just_before_24_hours(client, purchases):
    issued = timezone.now() - timedelta(hours=23, minutes=59)
    assert download(client, services.download_link(purchases[0], now=issued).token).status_code == 200


def test_expiry_is_judged_against_the_clock_the_service_is_given(purchases):
    issued = timezone.now()
    token = services.download_link(purchases[0], now=issued).token
    assert services.open_download(token, now=issued + timedelta(hours=23)) == purchases[0]
    with pytest.raises(signing.LinkRefused):
        services.open_download(token, now=issued + timedelta(hours=24, seconds=1))


def test_revoking_a_customers_links_makes_every_earlier_link_fail(client, customer, purchases):
    old = [services.download_link(p).token for p in purchases]
    services.revoke_links(customer)
    for token in old:
        assert download(client, token).json() == REFUSAL
    # A link issued after the revocation works.
    assert download(client, services.download_link(purchases[0]).token).status_code == 200


def test_the_revoke_endpoint_needs_an_admin(client, admin_key, analyst_key, customer, purchases):
    token = services.download_link(purchases[0]).token
    as_analyst = client.post(
        "/api/portal/revoke", {"email": customer.email}, content_type="application/json", HTTP_X_DASH_KEY=analyst_key
    )
    assert as_analyst.status_code == 403
    response = client.post(
        "/api/portal/revoke",
        {"email": "JENNY.ROSEN@example.com"},
        content_type="application/json",
        HTTP_X_DASH_KEY=admin_key,
    )
    assert response.status_code == 200
    assert response.json()["link_generation"] == 1
    assert download(client, token).status_code == 403


def test_a_link_for_another_customers_document_is_403(client, customer, purchases):
    stranger = Customer.objects.create(email="mallory@example.com")
    theirs = Purchase.objects.create(customer=stranger, amount=100, description="not yours")
    # A token correctly signed, but binding Jenny to Mallory's purchase, must not open it.
    link = signing.sign(
        signing.DOWNLOAD, {"p": theirs.pk, "c": customer.pk, "g": 0, "k": "receipt"}, signing.link_ttl()
    )
    assert download(client, link.token).json() == REFUSAL


def test_a_purchase_moved_to_another_customer_invalidates_the_old_link(client, purchases):
    token = services.download_link(purchases[0]).token
    purchases[0].customer = Customer.objects.create(email="right.person@example.com")
    purchases[0].save()
    assert download(client, token).status_code == 403


def test_tokens_made_for_other_purposes_do_not_download(client, customer, purchases):
    page = services.self_service_link(customer).token
    unsubscribe = services.unsubscribe_token(customer)
    assert download(client, page).json() == REFUSAL
    assert download(client, unsubscribe).json() == REFUSAL


def test_a_token_signed_with_another_secret_is_403(client, settings, purchases):
    token = services.download_link(purchases[0]).token
    settings.PORTAL_SIGNING_SECRET = "a-completely-different-secret"
    assert download(client, token).status_code == 403


def test_a_rotated_secret_keeps_links_already_sent_working(client, settings, purchases):
    old_token = services.download_link(purchases[0]).token
    settings.PORTAL_SIGNING_SECRET = "portal-signing-secret-next"
    settings.PORTAL_SIGNING_SECRET_FALLBACKS = ["portal-signing-secret-current"]
    assert download(client, old_token).status_code == 200
    new_token = services.download_link(purchases[0]).token
    assert new_token != old_token
    assert download(client, new_token).status_code == 200
    # Once the old secret is dropped from the fallbacks, its links stop.
    settings.PORTAL_SIGNING_SECRET_FALLBACKS = []
    assert download(client, old_token).status_code == 403


def test_tokens_use_djangos_signing_with_a_salt_of_their_own(purchases, settings):
    token = services.download_link(purchases[0]).token
    loaded = django_signing.TimestampSigner(
        key=settings.PORTAL_SIGNING_SECRET, salt=signing.DOWNLOAD, algorithm="sha256"
    ).unsign_object(token, max_age=timedelta(hours=24))
    assert loaded["p"] == purchases[0].pk
    with pytest.raises(django_signing.BadSignature):
        django_signing.TimestampSigner(key=settings.PORTAL_SIGNING_SECRET, salt="other").unsign_object(token)


def test_every_refusal_is_the_same_answer(client, customer, purchases):
    expired = services.download_link(purchases[0], now=timezone.now() - timedelta(days=2)).token
    fresh = services.download_link(purchases[1]).token
    services.revoke_links(customer)
    answers = {
        (r.status_code, r.content)
        for r in (download(client, "garbage"), download(client, expired), download(client, fresh))
    }
    assert len(answers) == 1
    assert answers.pop()[0] == 403


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


def test_a_browser_opening_a_dead_link_gets_a_plain_page_offering_a_fresh_link(client, customer, purchases):
    expired = services.download_link(purchases[0], now=timezone.now() - timedelta(days=2)).token
    fresh = services.download_link(purchases[1]).token
    services.revoke_links(customer)
    pages = {download(client, t, HTTP_ACCEPT=BROWSER_ACCEPT) for t in ("garbage", expired, fresh)}
    assert {(p.status_code, p["Content-Type"]) for p in pages} == {(403, "text/html; charset=utf-8")}
    assert len({p.content for p in pages}) == 1, "the page never says which check failed"
    html = pages.pop().content.decode()
    assert "This link no longer works" in html and 'href="/portal/"' in html
    assert "invalid or expired" not in html and "REST framework" not in html


def test_a_script_opening_a_dead_link_still_gets_the_json_403(client, purchases):
    for accept in ("*/*", "application/json", ""):
        response = download(client, "garbage", HTTP_ACCEPT=accept)
        assert (response.status_code, response.json()) == (403, REFUSAL)


def test_a_missing_token_is_a_400_naming_it(client):
    response = client.get("/api/portal/download")
    assert response.status_code == 400
    assert "token" in response.json()["fields"]


def test_allowed_and_refused_downloads_are_audited_without_the_token(client, purchases, log_dir):
    good = services.download_link(purchases[0]).token
    expired = services.download_link(purchases[1], now=timezone.now() - timedelta(days=2)).token
    download(client, good, HTTP_USER_AGENT="Mozilla/5.0 (receipts test)", REMOTE_ADDR="203.0.113.7")
    download(client, expired, HTTP_USER_AGENT="curl/8.5", REMOTE_ADDR="198.51.100.9")
    download(client, "garbage", REMOTE_ADDR="198.51.100.9")

    allowed, refused_expired, refused_garbage = AccessLog.objects.order_by("id")
    assert (allowed.outcome, allowed.status, allowed.email, allowed.ip) == (
        "allowed",
        200,
        "jenny.rosen@example.com",
        "203.0.113.7",
    )
    assert allowed.user_agent == "Mozilla/5.0 (receipts test)"
    assert allowed.resource == "receipt:1846-0001" and allowed.purchase == purchases[0]
    # An authentic but expired token still tells the audit whose it was.
    assert (refused_expired.outcome, refused_expired.status, refused_expired.email) == (
        "refused",
        403,
        "jenny.rosen@example.com",
    )
    assert refused_expired.user_agent == "curl/8.5"
    assert (refused_garbage.outcome, refused_garbage.email) == ("refused", "")

    lines = [json.loads(line) for line in (log_dir / "portal_access.ndjson").read_text().splitlines()]
    downloads = [line for line in lines if line["event"] == "download"]
    assert [(d["status"], d["email"], d["ip"]) for d in downloads] == [
        (200, "jenny.rosen@example.com", "203.0.113.7"),
        (403, "jenny.rosen@example.com", "198.51.100.9"),
        (403, "", "198.51.100.9"),
    ]
    assert all({"ts", "resource", "user_agent"} <= set(d) for d in downloads)
    text = (log_dir / "portal_access.ndjson").read_text()
    assert good not in text and expired not in text
    assert good.split(":")[0] not in text


def test_downloads_beyond_the_per_ip_limit_are_429(client, settings, purchases):
    settings.PORTAL_DOWNLOAD_RATE_PER_MIN = 3
    token = services.download_link(purchases[0]).token
    codes = [download(client, token, REMOTE_ADDR="192.0.2.1").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # Another address has its own allowance.
    assert download(client, token, REMOTE_ADDR="192.0.2.2").status_code == 200
    limited = AccessLog.objects.get(outcome=AccessLog.RATE_LIMITED)
    assert (limited.status, limited.ip) == (429, "192.0.2.1")


def test_the_rate_limit_window_resets(purchases):
    start = timezone.now().replace(second=0, microsecond=0)
    assert not services.hit("download:192.0.2.9", 1, timedelta(minutes=1), now=start)
    assert services.hit("download:192.0.2.9", 1, timedelta(minutes=1), now=start + timedelta(seconds=30))
    assert not services.hit("download:192.0.2.9", 1, timedelta(minutes=1), now=start + timedelta(minutes=1))


def test_the_server_access_log_never_shows_a_token(caplog, purchases):
    token = services.download_link(purchases[0]).token
    with caplog.at_level("INFO", logger="django.server"):
        # What runserver logs for every request line.
        logging.getLogger("django.server").info(
            '"%s" %s %s', f"GET /api/portal/download?token={token} HTTP/1.1", "200", "1706"
        )
    assert "/api/portal/download?token=[redacted]" in caplog.text
    assert token not in caplog.text and token.split(":")[0] not in caplog.text
