"""Behind the load balancer the README describes, each customer has their own rate-limit bucket and
the access audit records the customer's address, not the balancer's."""

import pytest

from portal import services
from portal.models import AccessLog

pytestmark = pytest.mark.django_db

BALANCER = "10.0.0.5"


def download(client, token, forwarded):
    return client.get("/api/portal/download", {"token": token}, REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=forwarded)


def test_one_client_behind_the_balancer_does_not_lock_out_the_others(client, settings, purchases):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.PORTAL_DOWNLOAD_RATE_PER_MIN = 2
    token = services.download_link(purchases[0]).token
    codes = [download(client, token, "203.0.113.7").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert download(client, token, "198.51.100.9").status_code == 200
    assert AccessLog.objects.get(outcome=AccessLog.RATE_LIMITED).ip == "203.0.113.7"
    assert set(AccessLog.objects.values_list("ip", flat=True)) == {"203.0.113.7", "198.51.100.9"}


def test_link_requests_behind_the_balancer_are_limited_per_client(client, settings, purchases):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.PORTAL_LINK_REQUEST_RATE_PER_HOUR = 1
    ask = [
        client.post("/portal/", {"email": "a@example.com"}, REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=ip).status_code
        for ip in ("203.0.113.7", "203.0.113.7", "198.51.100.9")
    ]
    assert ask == [200, 429, 200]


def test_without_a_trusted_proxy_a_forged_header_buys_no_fresh_allowance(client, settings, purchases):
    settings.PORTAL_DOWNLOAD_RATE_PER_MIN = 2
    token = services.download_link(purchases[0]).token
    codes = [download(client, token, f"203.0.113.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]
    assert set(AccessLog.objects.values_list("ip", flat=True)) == {BALANCER}
