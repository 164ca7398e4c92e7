"""The pager's readiness check."""

from django.conf import settings

from echopilot.health import CheckResult
from echopilot.zones import zone_problem

from .channels import configured_channels
from .models import ChannelState


def pager_check() -> CheckResult:
    """Failing when a configured channel is broken (pages would not reach a human there), or when
    the digest's time zone is misspelt (it goes out at the hour in UTC instead)."""
    problem = zone_problem("PAGER_DIGEST_TIMEZONE", settings.PAGER_DIGEST_TIMEZONE)
    if problem:
        return CheckResult(False, problem)
    configured = list(configured_channels())
    broken = list(
        ChannelState.objects.filter(name__in=configured, broken_at__isnull=False).values_list("name", flat=True)
    )
    if broken:
        return CheckResult(False, f"broken pager channel(s): {', '.join(sorted(broken))}")
    return CheckResult(True, f"channels on: {', '.join(configured) or 'none configured'}")
