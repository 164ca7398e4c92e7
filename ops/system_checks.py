"""System checks for the ops settings (`manage.py check`)."""

from django.conf import settings
from django.core.checks import Error
from django.utils.module_loading import import_string


def worker_pool_hook_check(app_configs=None, **kwargs) -> list[Error]:
    """OPS_WORKER_POOL_HOOK, when set, must name a callable: recovery is the worst time to learn it does not."""
    path = settings.OPS_WORKER_POOL_HOOK
    if not path:
        return []
    try:
        hook = import_string(path)
    except ImportError as exc:
        return [Error(f"OPS_WORKER_POOL_HOOK={path!r} cannot be imported: {exc}", id="ops.E001")]
    if not callable(hook):
        return [Error(f"OPS_WORKER_POOL_HOOK={path!r} is not callable", id="ops.E002")]
    return []
