import hashlib
import secrets

from django.db import models
from django.utils import timezone

KEY_PREFIX_LEN = 8


def hash_key(raw_key: str) -> str:
    """The stored form of a dash key: SHA-256 is enough for 190 bits of random secret."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


class DashKey(models.Model):
    """An API key for X-Dash-Key. Only its hash and a short visible prefix are stored."""

    ADMIN = "admin"
    ANALYST = "analyst"
    ROLES = [(ADMIN, "admin (everything)"), (ANALYST, "analyst (read only)")]

    name = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=ROLES, default=ANALYST)
    prefix = models.CharField(max_length=KEY_PREFIX_LEN, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.DateTimeField(null=True, blank=True)
    # Optional: past this moment the key no longer works (a rotated key's overlap ends here).
    expires = models.DateTimeField(null=True, blank=True)
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="replaces"
    )

    class Meta:
        verbose_name = "dash key"
        ordering = ["-created"]
        # What a staff session may do in the API and on the dashboard cards (superusers: everything).
        permissions = [
            ("api_admin", "Can use the API and the dashboard's controls as an admin"),
            ("api_analyst", "Can read the API and the dashboard's cards as an analyst"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, {self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked is None and (self.expires is None or self.expires > timezone.now())

    @classmethod
    def issue(cls, name: str, role: str) -> tuple["DashKey", str]:
        """Create a key and return it with the raw secret, which is shown once and never stored."""
        prefix = secrets.token_hex(KEY_PREFIX_LEN // 2)
        raw = f"ep_{prefix}_{secrets.token_urlsafe(24)}"
        key = cls.objects.create(name=name, role=role, prefix=prefix, key_hash=hash_key(raw))
        return key, raw

    @staticmethod
    def prefix_of(raw_key: str) -> str | None:
        parts = raw_key.split("_", 2)
        if len(parts) == 3 and parts[0] == "ep" and len(parts[1]) == KEY_PREFIX_LEN:
            return parts[1]
        return None


class JobRun(models.Model):
    """One run of a periodic job (backup, verify, drill, rotation...): what the admin shows as its
    last result. Written by `echopilot.jobs.run_job`."""

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        FAILED = "failed", "failed"

    name = models.CharField(max_length=100, db_index=True)
    started = models.DateTimeField()
    finished = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    summary = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "job run"
        ordering = ["-started"]
        indexes = [models.Index(fields=["name", "-started"])]

    def __str__(self) -> str:
        return f"{self.name} {self.started:%Y-%m-%d %H:%M} {self.outcome}"

    @property
    def duration_s(self) -> float:
        return (self.finished - self.started).total_seconds()


class AuditEntry(models.Model):
    """One write through the admin or the API, chained: `hash` is an HMAC over the entry's fields
    and `prev_hash` (the previous entry's hash), so a changed, inserted or removed row breaks the
    chain where it happened (see echopilot.audit)."""

    seq = models.BigIntegerField(unique=True, editable=False)
    at = models.DateTimeField(editable=False, db_index=True)
    actor = models.CharField(max_length=200, editable=False)
    address = models.CharField(max_length=64, blank=True, editable=False)
    action = models.CharField(max_length=20, editable=False)
    app_label = models.CharField(max_length=100, blank=True, editable=False)
    model = models.CharField(max_length=100, blank=True, editable=False)
    object_id = models.CharField(max_length=255, blank=True, editable=False)
    # Names of the fields written, comma-separated; never their values (a key hash or a secret).
    fields = models.TextField(blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit chain"
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.actor} {self.action} {self.app_label}.{self.model} {self.object_id}"


class AuditHead(models.Model):
    """The chain's last entry, one row: appending locks it, so racing writers still make one chain,
    and a removed last entry is found against it."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="")

    class Meta:
        verbose_name = "audit chain head"


class HostClock(models.Model):
    """How far one host's clock was from the database's when one of its processes last looked. Web
    workers and task runners each note theirs about once a minute (echopilot.dbclock.note_clock);
    the ops check warns about a host whose clock is off, wherever the check runs."""

    class Role(models.TextChoices):
        WEB = "web", "web (serves requests)"
        TASKS = "tasks", "tasks (runs queued and scheduled jobs)"

    host = models.CharField(max_length=200, editable=False)
    role = models.CharField(max_length=10, choices=Role.choices, editable=False)
    # This host's clock minus the database's, in seconds: positive when the host runs ahead.
    offset_s = models.FloatField(editable=False)
    # The database's clock at the reading, so that "seen lately" does not depend on any host's clock.
    measured_at = models.DateTimeField(db_index=True, editable=False)
    pid = models.PositiveIntegerField(editable=False)

    class Meta:
        verbose_name = "host clock"
        ordering = ["host", "role"]
        constraints = [models.UniqueConstraint(fields=["host", "role"], name="host_clock_one_row_per_host_and_role")]

    def __str__(self) -> str:
        return f"{self.host} ({self.role}) {self.offset_s:+.3f} s"
