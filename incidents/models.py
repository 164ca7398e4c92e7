"""The incident inbox and the pager's outbox.

An Incident is one deduplicated problem; a Delivery is one page to one channel, recorded in the
same transaction as the incident and sent later by a task; every try is a DeliveryAttempt.
"""

from datetime import datetime, timedelta

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.utils import timezone

from echopilot.dbclock import db_now

SEVERITIES = ["INFO", "WARNING", "ERROR", "CRITICAL"]
SEVERITY_CHOICES = [(s, s) for s in SEVERITIES]
CHANNELS = ["telegram", "email", "webhook"]
CHANNEL_CHOICES = [(c, c) for c in CHANNELS]
# Long enough for a weekend, a holiday or a vendor's fix; a problem that must stay quiet longer
# belongs in its Route, where it is visible, not in a silence somebody forgot.
MAX_SILENCE = timedelta(days=30)


class Incident(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "open"
        ACKNOWLEDGED = "acknowledged", "acknowledged"
        RESOLVED = "resolved", "resolved"

    OPEN, ACKNOWLEDGED, RESOLVED = Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED

    fingerprint = models.CharField(max_length=255, db_index=True)
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES, db_index=True)
    source = models.CharField(max_length=200, db_index=True)
    message = models.TextField()
    meta = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN, db_index=True)
    count = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolve_note = models.TextField(blank=True)
    silenced_by = models.ForeignKey(
        "Silence", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )

    class Meta:
        ordering = ["-last_seen"]
        indexes = [
            models.Index(fields=["fingerprint", "status", "last_seen"]),
            # The daily prune and the retention table read resolved incidents by when they were resolved.
            models.Index(fields=["status", "resolved_at"], name="incident_resolved_at"),
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.source}: {self.message[:80]}"

    @property
    def runbook_url(self) -> str:
        """`meta["runbook_url"]` when it is an http(s) URL, else ''."""
        url = (self.meta or {}).get("runbook_url") if isinstance(self.meta, dict) else None
        return url if isinstance(url, str) and url.startswith(("https://", "http://")) else ""

    @property
    def is_resolved(self) -> bool:
        return self.status == self.RESOLVED

    def to_dict(self) -> dict:
        return {
            "id": self.pk,
            "fingerprint": self.fingerprint,
            "severity": self.severity,
            "source": self.source,
            "msg": self.message,
            "status": self.status,
            "count": self.count,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }


class FingerprintLock(models.Model):
    """One row per fingerprint ever raised: locking it serialises the raises of that fingerprint.

    The Incident rows cannot be the lock: before the first one exists there is nothing to lock,
    which is exactly when two concurrent raises would both open an incident.
    """

    fingerprint = models.CharField(max_length=255, unique=True)


class Silence(models.Model):
    """Incidents matching every non-blank field are still recorded but not paged until `expires_at`."""

    source = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES, blank=True)
    fingerprint = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-expires_at"]

    def __str__(self) -> str:
        scope = ", ".join(
            f"{k}={v}"
            for k, v in [("source", self.source), ("severity", self.severity), ("fingerprint", self.fingerprint)]
            if v
        )
        return f"silence {scope or 'everything'} until {self.expires_at:%Y-%m-%d %H:%M}"

    def is_active(self, now=None) -> bool:
        return self.expires_at > (now or timezone.now())

    def clean(self) -> None:
        self.validate_at(timezone.now())

    def validate_at(self, now) -> None:
        """ValidationError unless the silence names what it silences and ends after `now`, within MAX_SILENCE."""
        errors: dict[str, str] = {}
        if not (self.source or self.severity or self.fingerprint):
            # As in Alertmanager: a silence without a matcher would silence every incident.
            errors[NON_FIELD_ERRORS] = (
                "Give a source, a severity or a fingerprint: a silence without one would silence every incident."
            )
        if self.expires_at and not now < self.expires_at <= now + MAX_SILENCE:
            errors["expires_at"] = f"The expiry must be in the future and at most {MAX_SILENCE.days} days from now."
        if errors:
            raise ValidationError(errors)

    def matches(self, incident) -> bool:
        return (
            (not self.source or self.source == incident.source)
            and (not self.severity or self.severity == incident.severity)
            and (not self.fingerprint or self.fingerprint == incident.fingerprint)
        )


class Route(models.Model):
    """What a severity does: page at once on some channels, and/or go into the daily digest."""

    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES, unique=True)
    page_now = models.BooleanField(default=False, help_text="Page at once when an incident opens.")
    channels = models.CharField(
        max_length=100,
        blank=True,
        help_text="Comma-separated (telegram,email,webhook); blank = every configured channel.",
    )
    in_digest = models.BooleanField(default=True)

    class Meta:
        ordering = ["severity"]

    def __str__(self) -> str:
        return f"{self.severity}: {'page ' + (self.channels or 'all channels') if self.page_now else 'digest only'}"

    def clean(self) -> None:
        unknown = [c.strip() for c in self.channels.split(",") if c.strip() and c.strip() not in CHANNELS]
        if unknown:
            raise ValidationError({"channels": f"unknown channel(s) {', '.join(unknown)}; use {', '.join(CHANNELS)}"})

    def channel_names(self) -> list[str]:
        names = [c.strip() for c in self.channels.split(",") if c.strip()]
        return [c for c in names if c in CHANNELS] if names else list(CHANNELS)


class ChannelState(models.Model):
    """Per channel: whether a permanent error broke it, and the row that serialises its page budget."""

    name = models.CharField(max_length=20, choices=CHANNEL_CHOICES, unique=True)
    broken_at = models.DateTimeField(null=True, blank=True)
    broken_reason = models.TextField(blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    last_failure = models.CharField(
        max_length=300, blank=True, help_text="The last failed attempt's error, without secrets."
    )
    next_send_at = models.DateTimeField(null=True, blank=True, help_text="Earliest time the next message may go out.")

    def __str__(self) -> str:
        return f"{self.name} ({'broken' if self.broken_at else 'ok'})"

    def last_attempt_failed(self) -> bool:
        if self.last_failed_at is None:
            return False
        return not (self.last_ok_at and self.last_ok_at >= self.last_failed_at)

    def last_attempt(self) -> str:
        """How the last send went, e.g. 'last attempt failed 2026-11-24 14:02 UTC: smtp 421: busy'.

        A channel can be on and never get a page through (every send failing with a retryable
        error never marks it broken): this is where the operator sees that.
        """
        if self.last_attempt_failed():
            return f"last attempt failed {_minute(self.last_failed_at)}: {self.last_failure}"
        if self.last_ok_at:
            return f"last attempt ok {_minute(self.last_ok_at)}"
        return "no attempt yet"

    @classmethod
    def reserve_send_slot(cls, name: str, interval_s: float, now=None) -> datetime:
        """The time this sender may send, spacing every process's sends `interval_s` apart.

        The row is locked only to move `next_send_at` on; the wait happens outside the transaction.
        Slots are reckoned by the database's clock, so a host whose clock runs ahead cannot push them on.
        """
        now = now or db_now()
        with transaction.atomic():
            cls.objects.get_or_create(name=name)
            state = cls.objects.select_for_update().get(name=name)
            slot = max(now, state.next_send_at or now)
            cls.objects.filter(pk=state.pk).update(next_send_at=slot + timedelta(seconds=interval_s))
        return slot


def _minute(at) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M %Z}"


class Delivery(models.Model):
    """One message to one channel. Recorded with its incident, sent by a task, retried with backoff."""

    PAGE = "page"
    REPAGE = "repage"
    STORM = "storm"
    NOTICE = "notice"
    DIGEST = "digest"
    KINDS = [
        (PAGE, "page"),
        (REPAGE, "page again"),
        (STORM, "storm summary"),
        (NOTICE, "channel notice"),
        (DIGEST, "daily digest"),
    ]

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"
        CAPPED = "capped", "capped (storm)"

    PENDING, SENDING, SENT, FAILED, CAPPED = Status.PENDING, Status.SENDING, Status.SENT, Status.FAILED, Status.CAPPED

    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=20, choices=CHANNEL_CHOICES)
    kind = models.CharField(max_length=10, choices=KINDS, default=PAGE)
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES, default="CRITICAL")
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=40, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    ack_used_at = models.DateTimeField(
        null=True, blank=True, help_text="When this page's one-click acknowledge link was used (it works once)."
    )
    storm = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="capped",
        help_text="For a capped page: the 'N more incidents' summary that stands for it.",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.kind} via {self.channel}: {self.status}"

    def is_due(self, now) -> bool:
        if self.status == self.PENDING:
            return self.next_attempt_at <= now
        # A lease that ran out means the sender died mid-send: send again rather than lose it.
        return self.status == self.SENDING and self.lease_until is not None and self.lease_until <= now


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    ok = models.BooleanField(default=False)
    status = models.CharField(max_length=40, blank=True, help_text="HTTP status or SMTP reply code.")
    error = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)  # the retention table's oldest attempt

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {'ok' if self.ok else self.error[:60]}"


class FileOffset(models.Model):
    """How far the pager has read an NDJSON file on one host; the inode tells a rotated file from the old one."""

    host = models.CharField(
        max_length=200,
        blank=True,
        help_text="Whose LOG_DIR (LOG_READER_HOST); blank: kept before hosts were told apart.",
    )
    path = models.CharField(max_length=500)
    inode = models.BigIntegerField(default=0)
    head = models.CharField(
        max_length=64, blank=True, help_text="Hash of the file's first line: a new file has another."
    )
    offset = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "path"], name="fileoffset_one_per_host_and_path")]

    def __str__(self) -> str:
        return f"{self.host}:{self.path} @ {self.offset}"


class DigestRun(models.Model):
    """One row per local day the digest went out, so several clusters send it once."""

    day = models.DateField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    incidents = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"digest {self.day}"
