from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from echopilot import keys
from echopilot.auth import env_keys
from echopilot.models import DashKey
from echopilot.validators import storable_name


class Command(BaseCommand):
    help = "Create, list or revoke X-Dash-Key keys. A new key is printed once and stored hashed."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="issue a key and print it once")
        create.add_argument("--name", required=True, help="who or what uses the key, e.g. ci or grafana")
        create.add_argument(
            "--role",
            choices=[DashKey.ADMIN, DashKey.ANALYST],
            default=DashKey.ANALYST,
            help="admin: everything; analyst: read only (default)",
        )
        create.add_argument("--quiet", action="store_true", help="print the key alone")
        create.add_argument("--expires-days", type=float, help="the key stops working after this many days")
        again = create.add_mutually_exclusive_group()
        again.add_argument(
            "--if-missing",
            action="store_true",
            help="keep an active key of this name if there is one (prints nothing then)",
        )
        again.add_argument("--replace", action="store_true", help="revoke the active keys of this name first (rotate)")
        sub.add_parser("list", help="list the stored keys (prefixes only) and say which env keys are set")
        revoke = sub.add_parser("revoke", help="revoke a stored key")
        revoke.add_argument("prefix", help="the key's prefix, as `list` shows it, or the whole key")
        rotate = sub.add_parser(
            "rotate", help="issue a successor (printed once); the old key works until the overlap ends"
        )
        rotate.add_argument("name", help="the key's name, as `list` shows it")
        rotate.add_argument("--overlap-days", type=float, default=7, help="how long the old key keeps working (7)")
        rotate.add_argument("--quiet", action="store_true", help="print the new key alone")

    def handle(self, *args, action, **options) -> None:
        getattr(self, f"do_{action}")(**options)

    def do_create(self, name, role, quiet, expires_days=None, if_missing=False, replace=False, **_) -> None:
        limit = DashKey._meta.get_field("name").max_length
        assert limit is not None
        if not storable_name(name, limit):
            raise CommandError(f"--name must be 1-{limit} printable characters (no newline)")
        if expires_days is not None and not 0 < expires_days <= keys.MAX_OVERLAP_DAYS * 10:
            raise CommandError(f"--expires-days must be above 0 and at most {keys.MAX_OVERLAP_DAYS * 10}")
        # An expired key is no key to keep: it answers 401.
        active = DashKey.objects.filter(name=name, role=role, revoked__isnull=True).exclude(expires__lte=timezone.now())
        kept = active.first() if if_missing else None
        if kept is not None:
            if not quiet:
                self.stdout.write(f"Kept the active {role} key '{name}' (prefix {kept.prefix}).")
            return
        if replace:
            active.update(revoked=timezone.now())
        key, raw = DashKey.issue(name, role)
        if expires_days is not None:
            key.expires = key.created + timedelta(days=expires_days)
            key.save(update_fields=["expires"])
        if quiet:
            self.stdout.write(raw)
            return
        self.stdout.write(f"Created {role} key '{name}' (prefix {key.prefix}). Copy it now, it is shown only once:")
        self.stdout.write(raw)

    def do_list(self, **_) -> None:
        keys = DashKey.objects.all()
        for key in keys:
            state = f"revoked {key.revoked:%Y-%m-%d %H:%M}" if key.revoked else "active"
            if not key.revoked and key.expires:
                verb = "expires" if key.expires > timezone.now() else "expired"
                state = f"{verb} {key.expires:%Y-%m-%d %H:%M}"
            used = f"{key.last_used:%Y-%m-%d %H:%M}" if key.last_used else "never"
            self.stdout.write(f"{key.prefix}  {key.role:8} {key.name:20} {state:24} last used {used}")
        if not keys:
            self.stdout.write("No stored keys.")
        # Env keys are never shown, only that they exist: they work too, and revoke cannot touch them.
        for env_key, role in env_keys().items():
            origin = "DASHBOARD_KEY" if env_key == settings.DASHBOARD_KEY else "ROLES_JSON"
            self.stdout.write(f"(env)     {role:8} set in {origin}; change the environment to revoke it")

    def do_revoke(self, prefix, **_) -> None:
        # A pasted whole key is taken for its prefix; the message shows only the prefix.
        prefix = (DashKey.prefix_of(prefix.strip()) or prefix.strip()).lower()
        updated = DashKey.objects.filter(prefix=prefix, revoked__isnull=True).update(revoked=timezone.now())
        if not updated:
            raise CommandError(f"no active key with prefix {prefix}")
        # Running web workers remember a resolved key for a few seconds (echopilot.auth).
        self.stdout.write(f"Revoked key {prefix}; running workers refuse it within {settings.DASH_KEY_CACHE_S:g} s.")

    def do_rotate(self, name, overlap_days, quiet, **_) -> None:
        try:
            key, raw = keys.rotate(name, overlap_days)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        if quiet:
            self.stdout.write(raw)
            return
        old_until = timezone.now() + timedelta(days=overlap_days)
        self.stdout.write(
            f"Issued a successor for '{name}' (prefix {key.prefix}); "
            f"the old key works until {old_until:%Y-%m-%d %H:%M} UTC."
        )
        self.stdout.write("Copy it now, it is shown only once:")
        self.stdout.write(raw)
