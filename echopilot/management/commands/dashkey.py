from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from echopilot.auth import env_keys
from echopilot.models import DashKey
from echopilot.validators import storable_name


class Command(BaseCommand):
    help = "Create, list or revoke X-Dash-Key keys. A new key is printed once and stored hashed."

    def add_arguments(self, parser):
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

    def handle(self, *args, action, **options):
        getattr(self, f"do_{action}")(**options)

    def do_create(self, name, role, quiet, if_missing=False, replace=False, **_):
        limit = DashKey._meta.get_field("name").max_length
        assert limit is not None
        if not storable_name(name, limit):
            raise CommandError(f"--name must be 1-{limit} printable characters (no newline)")
        active = DashKey.objects.filter(name=name, role=role, revoked__isnull=True)
        kept = active.first() if if_missing else None
        if kept is not None:
            if not quiet:
                self.stdout.write(f"Kept the active {role} key '{name}' (prefix {kept.prefix}).")
            return
        if replace:
            active.update(revoked=timezone.now())
        key, raw = DashKey.issue(name, role)
        if quiet:
            self.stdout.write(raw)
            return
        self.stdout.write(f"Created {role} key '{name}' (prefix {key.prefix}). Copy it now, it is shown only once:")
        self.stdout.write(raw)

    def do_list(self, **_):
        keys = DashKey.objects.all()
        for key in keys:
            state = f"revoked {key.revoked:%Y-%m-%d %H:%M}" if key.revoked else "active"
            used = f"{key.last_used:%Y-%m-%d %H:%M}" if key.last_used else "never"
            self.stdout.write(f"{key.prefix}  {key.role:8} {key.name:20} {state:24} last used {used}")
        if not keys:
            self.stdout.write("No stored keys.")
        # Env keys are never shown, only that they exist: they work too, and revoke cannot touch them.
        for env_key, role in env_keys().items():
            origin = "DASHBOARD_KEY" if env_key == settings.DASHBOARD_KEY else "ROLES_JSON"
            self.stdout.write(f"(env)     {role:8} set in {origin}; change the environment to revoke it")

    def do_revoke(self, prefix, **_):
        # A pasted whole key is taken for its prefix; the message shows only the prefix.
        prefix = (DashKey.prefix_of(prefix.strip()) or prefix.strip()).lower()
        updated = DashKey.objects.filter(prefix=prefix, revoked__isnull=True).update(revoked=timezone.now())
        if not updated:
            raise CommandError(f"no active key with prefix {prefix}")
        # Running web workers remember a resolved key for a few seconds (echopilot.auth).
        self.stdout.write(f"Revoked key {prefix}; running workers refuse it within {settings.DASH_KEY_CACHE_S:g} s.")
