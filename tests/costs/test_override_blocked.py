"""A model's override while the global daily cap is reached lets nothing through: status says so
(`override_blocked_by_daily_cap`), and so does the model's row on the cost card."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from costs import authorize
from costs.models import CapOverride
from costs.services import record_spend, set_cap, status

pytestmark = pytest.mark.django_db


def spend(model, usd, now):
    return record_spend(model=model, usd=Decimal(usd), now=now, ts=now)


def overridden(scope, key, now) -> CapOverride:
    """An override of an hour from `now`, saved as the admin saves one."""
    return CapOverride.objects.create(scope=scope, key=key, until=now + timedelta(hours=1), reason="test")


def cap_row(scope, key, now=None) -> dict:
    return next(c for c in status(now)["caps"] if (c["scope"], c["key"]) == (scope, key))


def card_row(client, scope, key) -> str:
    """The HTML of one cap's rows on the cost card."""
    page = client.get("/admin/").content.decode()
    return re.search(rf'<tbody data-scope="{scope}" data-key="{key}">(.*?)</tbody>', page, re.S).group(1)


@pytest.fixture
def superuser_client(client, db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_an_overridden_model_is_still_blocked_while_the_global_cap_is_reached(caps, now):
    spend("gpt-4o", "100", now)  # gpt-4o past its $10 cap, and all AI spend at the $100 global cap
    overridden("model", "gpt-4o", now)
    row = cap_row("model", "gpt-4o", now)
    assert row["override_until"] is not None
    assert row["override_blocked_by_daily_cap"] is True
    assert authorize("gpt-4o", now=now).decision == "throttle"  # what the flag says, decide() does

    overridden("daily", "", now)  # the global cap overridden too: now the calls go
    assert cap_row("model", "gpt-4o", now)["override_blocked_by_daily_cap"] is False
    assert authorize("gpt-4o", now=now).decision == "allow"


def test_an_overridden_model_with_room_under_the_global_cap_is_not_blocked(caps, now):
    set_cap("model", "0", "gpt-4.1-nano", now=now)
    spend("gpt-4o-mini", "5", now)
    overridden("model", "gpt-4o-mini", now)
    row = cap_row("model", "gpt-4o-mini", now)
    assert row["override_until"] is not None and row["override_blocked_by_daily_cap"] is False
    assert authorize("gpt-4o-mini", now=now).decision == "allow"


def test_no_override_or_an_ended_one_is_not_said_to_be_blocked(caps, now):
    spend("gpt-4o", "100", now)
    assert cap_row("model", "gpt-4o", now)["override_blocked_by_daily_cap"] is False
    overridden("model", "gpt-4o", now - timedelta(hours=2))  # ended an hour ago
    assert cap_row("model", "gpt-4o", now)["override_blocked_by_daily_cap"] is False


def test_the_card_row_says_the_daily_cap_still_blocks_the_override(superuser_client, caps):
    record_spend(model="gpt-4o", usd=Decimal(100))
    overridden("model", "gpt-4o", timezone.now())
    row = card_row(superuser_client, "model", "gpt-4o")
    assert "override, but the daily cap still blocks it" in row
    assert "override until" not in row


def test_the_card_says_until_when_an_override_lets_spend_through(superuser_client, caps):
    record_spend(model="gpt-4o-mini", usd=Decimal(5))
    override = overridden("model", "gpt-4o-mini", timezone.now())
    row = card_row(superuser_client, "model", "gpt-4o-mini")
    assert f"override until {override.until:%Y-%m-%d %H:%M} UTC" in re.sub(r"<[^>]+>", "", row)
    assert "still blocks" not in row
