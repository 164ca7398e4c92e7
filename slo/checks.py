"""System checks for the SLO settings (`manage.py check`, and every command that runs them; registered
in SloConfig.ready)."""

from django.conf import settings
from django.core.checks import Error
from django.utils.module_loading import import_string


def recovery_hook_check(app_configs=None, **kwargs) -> list[Error]:
    """SLO_RECOVERY_HOOK must name a callable: otherwise the first breach that asks for recovery,
    the worst moment to find out, records only the import error."""
    path = settings.SLO_RECOVERY_HOOK
    try:
        hook = import_string(path)
    except ImportError as exc:
        return [
            Error(
                f"SLO_RECOVERY_HOOK={path!r} cannot be imported: {exc}",
                id="slo.E001",
                hint="a dotted path to a function, e.g. slo.watchdog.record_only",
            )
        ]
    if not callable(hook):
        return [Error(f"SLO_RECOVERY_HOOK={path!r} is not callable", id="slo.E002")]
    return []
