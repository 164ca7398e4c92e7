"""The console's own upkeep: what it checked, what it recovered, and the uptime probes it runs."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

# --- The ops check and auto-recovery --------------------------------------------------------------


class Verdict(models.TextChoices):
    """One check's result, and the worst of a whole run (ordered: ok < warn < fail)."""

    OK = "ok", "ok"
    WARN = "warn", "warn"
    FAIL = "fail", "fail"


class OpsCheckRun(models.Model):
    """One run of the ops check: every named check with its verdict, detail and duration."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    worst = models.CharField(max_length=4, choices=Verdict.choices, db_index=True)
    duration_ms = models.PositiveIntegerField(default=0)
    checks = models.JSONField(default=list)
    triggered_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = "ops check run"

    def __str__(self) -> str:
        return f"ops check {self.at:%Y-%m-%d %H:%M:%S} {self.worst}"


class RecoveryRun(models.Model):
    """One auto-recovery: the actions it took (or would take, in a dry run) and their outcomes,
    kept with the incident that triggered it."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    dry_run = models.BooleanField(default=False)
    trigger = models.CharField(max_length=150, help_text="who or what asked: a key, a user, the SLO watchdog")
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="recoveries"
    )
    actions = models.JSONField(default=list)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"recovery {self.at:%Y-%m-%d %H:%M:%S}{' (dry run)' if self.dry_run else ''}"


class RequeuedTask(models.Model):
    """A failed django-q2 task that recovery queued again: the unique id makes it at most once."""

    failed_task_id = models.CharField(max_length=32, unique=True)
    new_task_id = models.CharField(max_length=32, db_index=True)
    func = models.CharField(max_length=256)
    run = models.ForeignKey(RecoveryRun, on_delete=models.CASCADE, related_name="requeued")
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.func} {self.failed_task_id} -> {self.new_task_id}"


# --- Uptime probes ------------------------------------------------------------------------------------


def default_interval() -> int:
    return settings.UPTIME_INTERVAL_SEC


def default_strikes() -> int:
    return settings.UPTIME_STRIKES


class UptimeState(models.TextChoices):
    UNKNOWN = "unknown", "not probed yet"
    UP = "up", "up"
    DOWN = "down", "down"


class UptimeCheck(models.Model):
    """One probe target: an http(s) URL (answered with the expected status, and the keyword when
    given) or a TCP host:port (a connection accepted)."""

    class Method(models.TextChoices):
        GET = "GET"
        HEAD = "HEAD"
        POST = "POST"

    name = models.SlugField(max_length=80, unique=True, help_text="its SLO service is uptime:<name>")
    target = models.CharField(
        "URL or host:port", max_length=500, help_text="http(s)://host/path, or host:port for a TCP check"
    )
    method = models.CharField(max_length=4, choices=Method.choices, default=Method.GET)
    expected_status = models.PositiveSmallIntegerField(
        default=200, validators=[MinValueValidator(100), MaxValueValidator(599)]
    )
    keyword = models.CharField(max_length=200, blank=True, help_text="the body must contain it (HTTP only)")
    timeout_s = models.FloatField(
        "timeout (s)", default=10.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)]
    )
    interval_s = models.PositiveIntegerField(
        "interval (s)",
        default=default_interval,
        validators=[MinValueValidator(60), MaxValueValidator(86_400)],
        help_text="the probe job runs once a minute: 60 s is the shortest interval",
    )
    strikes = models.PositiveSmallIntegerField(
        default=default_strikes,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="failures in a row that raise a CRITICAL incident",
    )
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=8, choices=UptimeState.choices, default=UptimeState.UNKNOWN, editable=False)
    failures_in_a_row = models.PositiveIntegerField(default=0, editable=False)
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_latency_ms = models.FloatField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def service(self) -> str:
        return f"uptime:{self.name}"

    @property
    def fingerprint(self) -> str:
        return f"uptime:{self.name}:down"

    def clean(self) -> None:
        from .uptime import validate_probe  # ops.uptime imports these models: a cycle

        validate_probe(self.target or "", self.method, self.keyword, target_field="target")


class UptimeResult(models.Model):
    """One probe's outcome: what availability and the card's strip are computed from."""

    check_ref = models.ForeignKey(UptimeCheck, on_delete=models.CASCADE, related_name="results")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    latency_ms = models.FloatField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-at"]
        # Availability reads one check's window; retention deletes by age across all checks.
        indexes = [models.Index(fields=["check_ref", "at"]), models.Index(fields=["at"])]

    def __str__(self) -> str:
        return f"{self.check_ref} {'up' if self.ok else 'down'} {self.at:%Y-%m-%d %H:%M:%S}"


# --- Backups and DR drills ---------------------------------------------------------------


class Backup(models.Model):
    """One backup archive under BACKUP_DIR, as taken; the archive and its .sha256 file are the truth,
    this row is what the admin and the card show."""

    name = models.CharField(max_length=200, unique=True)
    created = models.DateTimeField()
    engine = models.CharField(max_length=20)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    tables = models.IntegerField(default=0)
    rows = models.BigIntegerField(default=0)
    uploaded = models.BooleanField(null=True, help_text="empty: no BACKUP_UPLOAD_COMMAND set")
    last_verified = models.DateTimeField(null=True, blank=True)
    verified_ok = models.BooleanField(null=True)
    verify_problem = models.TextField(blank=True)
    deleted = models.DateTimeField(null=True, blank=True, help_text="removed after BACKUP_KEEP_DAYS")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name


class DrillReport(models.Model):
    """One DR drill: the latest backup restored into a scratch database and compared."""

    class Outcome(models.TextChoices):
        PASSED = "passed", "passed"
        FAILED = "failed", "failed"

    started = models.DateTimeField()
    backup_name = models.CharField(max_length=200, blank=True)
    engine = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    rto_s = models.FloatField(null=True, help_text="seconds to restore, migrate and count")
    rpo_s = models.FloatField(null=True, help_text="backup time minus the newest restored row's time")
    problems = models.JSONField(default=list, blank=True)
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started"]

    def __str__(self) -> str:
        return f"drill {self.started:%Y-%m-%d %H:%M} {self.outcome}"
