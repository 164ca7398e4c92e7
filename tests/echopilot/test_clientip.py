"""The client's address is read through the proxies we run, and X-Forwarded-For is never trusted by default."""

import pytest

from echopilot.clientip import client_ip_from

BALANCER = "10.0.0.5"


def meta(forwarded=None, remote=BALANCER):
    return {"REMOTE_ADDR": remote, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {})}


def test_by_default_the_header_is_ignored_whatever_it_says(settings):
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXY_NETWORKS = 0, []
    assert client_ip_from(meta("203.0.113.7")) == BALANCER


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        # A client that sends its own header only adds entries to the left of what the balancer wrote.
        ("1.2.3.4, 203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("not-an-address", BALANCER),
        (None, BALANCER),
    ],
)
def test_behind_one_balancer_the_client_is_the_address_it_appended(settings, forwarded, client):
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXY_NETWORKS = 1, []
    assert client_ip_from(meta(forwarded)) == client


def test_two_counted_proxies_skip_two_hops(settings):
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXY_NETWORKS = 2, []
    assert client_ip_from(meta("1.2.3.4, 203.0.113.7, 10.0.0.9")) == "203.0.113.7"


def test_trusted_networks_skip_every_hop_inside_them_and_stop_at_the_first_outside(settings):
    settings.TRUSTED_PROXY_COUNT, settings.TRUSTED_PROXY_NETWORKS = 0, ["10.0.0.0/8", "fd00::/8"]
    assert client_ip_from(meta("1.2.3.4, 203.0.113.7, 10.1.2.3, fd00::1")) == "203.0.113.7"
    # A request straight from outside the networks is its own client, whatever header it sends.
    assert client_ip_from(meta("10.9.9.9", remote="198.51.100.1")) == "198.51.100.1"
