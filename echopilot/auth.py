"""X-Dash-Key authentication and the admin / analyst permission.

A key is checked in constant time: stored keys are found by their visible prefix and compared by
hash with `hmac.compare_digest`; keys from env (DASHBOARD_KEY, ROLES_JSON) are compared the same way.

A stored key, once resolved, is remembered by this process for DASH_KEY_CACHE_S seconds: the lookup
is the most expensive part of a cheap API call (costs/authorize is asked before every AI call). A
key revoked or edited in this process is forgotten at once; in other workers it stops working
within DASH_KEY_CACHE_S.
"""

import hmac
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from .models import DashKey, hash_key

HEADER = "HTTP_X_DASH_KEY"
# last_used is a hint for the operator, not an audit trail: writing it once a minute keeps a busy
# key from turning every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyHolder:
    """Who is calling with a dash key; stands in for request.user."""

    name: str
    role: str
    is_authenticated: bool = True
    is_staff: bool = False
    is_active: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role == DashKey.ADMIN

    def __str__(self) -> str:
        return f"key:{self.name}"


def env_keys() -> dict[str, str]:
    """Keys given in env, mapped to their role."""
    keys = {str(k): str(v).lower() for k, v in (settings.ROLES_JSON or {}).items()}
    if settings.DASHBOARD_KEY:
        keys[settings.DASHBOARD_KEY] = DashKey.ADMIN
    return keys


def resolve_key(raw_key: str, now=None) -> KeyHolder | None:
    """The holder of `raw_key`, or None when it is unknown or revoked."""
    if not raw_key:
        return None
    holder = None
    for env_key, role in env_keys().items():
        if hmac.compare_digest(env_key.encode(), raw_key.encode()) and role in (DashKey.ADMIN, DashKey.ANALYST):
            holder = KeyHolder(name="env", role=role)
    if holder:
        return holder
    prefix = DashKey.prefix_of(raw_key)
    if prefix is None:
        return None
    digest = hash_key(raw_key)
    holder = _cache.get(digest)
    if holder is None:
        now = now or timezone.now()
        key = _resolve_stored_key(prefix, digest, now)
        if key is not None:
            holder = KeyHolder(name=key.name, role=key.role)
            _cache.put(digest, holder, _seconds_left(key, now))
    return holder


def _resolve_stored_key(prefix: str, digest: str, now) -> DashKey | None:
    key = DashKey.objects.filter(prefix=prefix, revoked__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    if key.expires is not None and key.expires <= now:
        return None
    _touch(key, now)
    return key


def _seconds_left(key: DashKey, now) -> float | None:
    # A key about to expire is remembered no longer than it works.
    return None if key.expires is None else (key.expires - now).total_seconds()


class _ResolvedKeys:
    """Holders of recently resolved stored keys, by key hash, each for DASH_KEY_CACHE_S seconds."""

    MAX_ENTRIES = 1024

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, KeyHolder]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> KeyHolder | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, holder: KeyHolder, seconds_left: float | None = None) -> None:
        ttl = settings.DASH_KEY_CACHE_S if seconds_left is None else min(settings.DASH_KEY_CACHE_S, seconds_left)
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + ttl, holder)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = _ResolvedKeys()


@receiver(post_save, sender=DashKey)
@receiver(post_delete, sender=DashKey)
def forget_resolved_keys(**_) -> None:
    """Drop this process's remembered keys (after a key is revoked, edited or deleted)."""
    _cache.clear()


def _touch(key: DashKey, now) -> None:
    if key.last_used is None or now - key.last_used > LAST_USED_RESOLUTION:
        DashKey.objects.filter(pk=key.pk).update(last_used=now)


class DashKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request) -> tuple[KeyHolder, None] | None:
        raw = request.META.get(HEADER)
        if raw is None:
            return None
        holder = resolve_key(raw.strip())
        if holder is None:
            raise exceptions.AuthenticationFailed("unknown or revoked X-Dash-Key")
        return holder, None

    def authenticate_header(self, request) -> str:
        # Any value here makes DRF answer 401 (not 403) to a request without credentials.
        return "X-Dash-Key"


class DashKeyScheme(OpenApiAuthenticationExtension):
    """X-Dash-Key in the OpenAPI schema, so the docs page offers it and generated clients send it."""

    target_class = "echopilot.auth.DashKeyAuthentication"
    name = "dashKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "apiKey", "in": "header", "name": "X-Dash-Key"}


def role_of(user) -> str | None:
    """'admin', 'analyst' or None for whoever made the request. A key holder has its key's role; a
    staff session the role its permissions give (echopilot.api_admin / api_analyst; a superuser has
    both): being staff only lets a user into the admin, not at customers' receipts or the caps."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if isinstance(user, KeyHolder):
        return user.role
    if not (user.is_active and user.is_staff):
        return None
    if user.has_perm("echopilot.api_admin"):
        return DashKey.ADMIN
    if user.has_perm("echopilot.api_analyst"):
        return DashKey.ANALYST
    return None


class HasDashRole(permissions.BasePermission):
    """Analysts may read; only admins may write."""

    message = "this key's role may only read (analyst); writing needs an admin key"

    def has_permission(self, request, view) -> bool:
        role = role_of(request.user)
        if role is None:
            if request.user is not None and getattr(request.user, "is_authenticated", False):
                self.message = (
                    "this account has no API role: give it the permission 'Can use the API ... "
                    "as an admin' or '... as an analyst', or call with an X-Dash-Key"
                )
                return False
            raise exceptions.NotAuthenticated("X-Dash-Key header is required")
        return role == DashKey.ADMIN or request.method in permissions.SAFE_METHODS
