"""The incident inbox and pager. Other apps report problems with `raise_incident`.

The functions are imported inside their bodies so that `import incidents` never touches models
before the app registry is ready.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .services import RaiseResult


def raise_incident(severity, msg, source, meta=None, *, fingerprint=None, now=None) -> "RaiseResult":
    """Record a problem (a repeat joins the open incident of its fingerprint); see incidents.services."""
    from .services import raise_incident as _raise

    return _raise(severity, msg, source, meta, fingerprint=fingerprint, now=now)


def resolve_incident(fingerprint, *, by="system", note="", now=None) -> int:
    """Resolve the unresolved incidents with `fingerprint`; returns how many."""
    from .services import resolve_incident as _resolve

    return _resolve(fingerprint, by=by, note=note, now=now)


__all__ = ["raise_incident", "resolve_incident"]
