"""Settings read from the environment, checked once, when the settings load.

A value that cannot work would otherwise surface much later and far from its cause: a counter
shard PostgreSQL's smallint cannot store fails every usage report, a link lifetime of 1e300 hours
overflows timedelta on the first email, a webhook URL without a scheme fails the first page, an
SLO window of 0 days is one the admin's own form refuses. Refusing it at startup, with the
variable's name, stops gunicorn, the qcluster and manage.py alike before they serve anything.
"""

import ipaddress
import json
import math
import os
import secrets
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured, ValidationError

_env = environ.Env()
_T = TypeVar("_T")

MINUTE_S = 60
HOUR_S = 60 * MINUTE_S
DAY_S = 24 * HOUR_S
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def integer(name: str, default: int, low: int, high: int) -> int:
    """The integer in env `name` (or `default` when it is unset or empty), from `low` to `high`."""
    return _checked(name, default, int, lambda value: low <= value <= high, f"an integer from {low:,} to {high:,}")


def number(name: str, default: float, low: float, high: float, *, low_allowed: bool = True) -> float:
    """The finite number in env `name` (or `default` when it is unset or empty), up to `high`, from
    `low` (or above it when `low_allowed` is False: a timeout or an objective of 0 means nothing)."""
    wanted = (
        f"a number {'from' if low_allowed else 'above'} {low:,g} {'to' if low_allowed else 'and at most'} {high:,g}"
    )

    def in_range(value) -> bool:
        return math.isfinite(value) and (low <= value if low_allowed else low < value) and value <= high

    return _checked(name, default, float, in_range, wanted)


def json_object(name: str, default: dict, *, values: tuple[str, ...] = ()) -> dict:
    """The JSON object in env `name` (or `default`); with `values`, each of its values must be one of
    them (case aside). Never echoes the value: ROLES_JSON holds keys."""
    raw = _env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} in the environment: is not valid JSON") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} in the environment: must be a JSON object")
    if values and any(str(v).lower() not in values for v in value.values()):
        raise ImproperlyConfigured(f"{name} in the environment: every value must be one of {', '.join(values)}")
    return value


def log_level(name: str, default: str) -> str:
    """One of logging's level names, in env `name` (or `default`), in any case."""
    return _checked(name, default, str.upper, LOG_LEVELS.__contains__, f"one of {', '.join(LOG_LEVELS)}")


def choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices`, in env `name` (or `default`), in any case."""
    return _checked(name, default, str.lower, choices.__contains__, f"one of {', '.join(choices)}")


def url(name: str, default: str) -> str:
    """An http(s) URL with a host in env `name` (or `default`; "" when that is "", a channel left off).
    Never echoes the value: webhook URLs carry their secret in the path."""
    value = _env.str(name, default=default)
    if not value:
        return ""
    try:
        parts = urlsplit(value.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ImproperlyConfigured(f"{name} in the environment: must be an http:// or https:// URL with a host")
    return value.strip()


def database(name: str, default: str) -> dict:
    """Django's DATABASES entry for the URL in env `name` (or `default`): SQLite or PostgreSQL, the
    two the console runs on. Never echoes the URL: it may hold a password."""
    try:
        # django-environ warns about an unknown scheme with the parsed URL, password included.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = _env.db(name, default=default)
    except Exception:  # django-environ raises KeyError, ValueError or ImproperlyConfigured by case
        config = {}
    engine = config.get("ENGINE", "")
    if engine not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
        raise ImproperlyConfigured(f"{name} in the environment: must be a postgres:// or sqlite:/// URL")
    return config


def redis_url(name: str) -> str:
    """The Redis URL in env `name`, or "" (no Redis: the ORM broker and the database cache)."""
    value = (_env.str(name, default="") or "").strip()
    try:
        scheme_ok = urlsplit(value).scheme in ("redis", "rediss", "unix")
    except ValueError:
        scheme_ok = False
    if value and not scheme_ok:
        raise ImproperlyConfigured(f"{name} in the environment: must be a redis://, rediss:// or unix:// URL")
    return value


def emails(name: str) -> list[str]:
    """The comma-separated addresses in env `name`, each a valid address."""
    from django.core.validators import validate_email  # at the call: settings import it lazily

    addresses = [a.strip() for a in _env.list(name, default=[]) if a.strip()]
    for n, address in enumerate(addresses, 1):
        try:
            validate_email(address)
        except ValidationError:
            raise ImproperlyConfigured(f"{name} in the environment: address {n} is not an email address") from None
    return addresses


def networks(name: str) -> list[str]:
    """The comma-separated IP networks (CIDR, or single addresses) in env `name`, each valid."""
    values = [v.strip() for v in _env.list(name, default=[]) if v.strip()]
    for n, value in enumerate(values, 1):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name} in the environment: entry {n} is not an IP network") from None
    return values


def header_and_value(name: str) -> tuple[str, str] | None:
    """`("HTTP_X_FORWARDED_PROTO", "https")` from env `name` = "HTTP_X_FORWARDED_PROTO=https", or None."""
    raw = (_env.str(name, default="") or "").strip()
    if not raw:
        return None
    header, _, value = raw.partition("=")
    if not header.strip().startswith("HTTP_") or not value.strip():
        raise ImproperlyConfigured(
            f"{name} in the environment: must be HEADER=value, e.g. HTTP_X_FORWARDED_PROTO=https"
        )
    return header.strip(), value.strip()


def writable_directory(name: str, default: Path) -> Path:
    """The directory in env `name` (or `default`): one this process can write in, or create. Not
    created here: the first event makes it. Caught now, a file or a read-only path stops every
    command at once, instead of a traceback after its work is committed and before it is logged."""
    path = Path(_env.str(name, default="") or default)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ImproperlyConfigured(f"{name}={str(path)!r} in the environment: {str(existing)!r} is not a directory")
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        raise ImproperlyConfigured(f"{name}={str(path)!r} in the environment: this user cannot write there")
    return path


# Values that were once published as defaults, here or in Django's templates: a key anyone can read
# signs links anyone can forge.
PUBLISHED_SECRETS = ("echopilot-embedded-default-change-me", "change-me", "changeme", "secret")


def secret(name: str, *, generated_beside: Path | None) -> str:
    """The secret in env `name`; a published default is refused. Unset, it is refused too, unless
    `generated_beside` names the SQLite database of the embedded default: then a random one is made
    once, kept in a file beside it (mode 0600), and read back by every later start and process.
    Never echoes the value."""
    value = (_env.str(name, default="") or "").strip()
    how = "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
    if value.lower() in PUBLISHED_SECRETS or value.startswith("django-insecure"):
        raise ImproperlyConfigured(f"{name} in the environment: is a published default; set a long random value {how}")
    if value:
        return value
    if generated_beside is None:
        raise ImproperlyConfigured(
            f"{name} in the environment: is not set; a server on PostgreSQL needs its own long random value {how}"
        )
    return _generated_secret(name, Path(f"{generated_beside}.{name.lower()}"))


def _generated_secret(name: str, path: Path) -> str:
    """The secret kept in `path`, made first if there is none. Written to a temporary file and linked
    into place, so a gunicorn worker and the qcluster starting together end up with the same one."""
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(50))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
            finally:
                draft.unlink()
        except OSError:
            raise ImproperlyConfigured(
                f"{name} is not set and cannot be kept in {str(path)!r} (beside the SQLite database): "
                "set it in the environment or make that directory writable"
            ) from None
    value = path.read_text().strip()
    require(bool(value), f"{name}: {str(path)!r} is empty; delete it to make a new one, or set {name}")
    return value


def require(ok: bool, message: str) -> None:
    """Refuse settings that are each in range but wrong together (SCALE_MAX below SCALE_MIN)."""
    if not ok:
        raise ImproperlyConfigured(message)


def _checked(name: str, default: _T, parse: Callable[[str], _T], ok: Callable[[_T], bool], wanted: str) -> _T:
    """`parse` of env `name` (stripped) when `ok` says it is usable, else ImproperlyConfigured naming
    the variable and `wanted`; `default` when it is unset or empty."""
    raw = _env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = parse(raw.strip())
    except ValueError:
        value = None
    if value is None or not ok(value):
        # Only numbers and level names come here, so echoing the value back cannot leak a secret.
        raise ImproperlyConfigured(f"{name}={raw[:40]!r} in the environment: must be {wanted}")
    return value
