"""SLO definitions, the pre-aggregated request metrics they are judged on, and their history."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

ALL_ROUTES = "*"
# The ranges settings.py gives SLO_LAT_P95_MS / SLO_LAT_P99_MS and SLO_MIN_EVENTS, so the env SLO, the
# admin form and an OpenSLO import (full_clean) accept the same values.
MAX_OBJECTIVE_MS = 3_600_000
MAX_MIN_EVENTS = 10**9
# The statuses ingest accepts (100-599), so every code named here can occur.
STATUS_CLASSES = "12345"
MIN_STATUS, MAX_STATUS = 100, 599
STATUSES_HELP = "classes 1xx-5xx and codes 100-599, comma separated, e.g. 5xx, 429"


def _codes_of(part: str) -> set[int]:
    """The codes one part of `error_statuses` names ("5xx" or "429"); empty when it names none."""
    part = part.strip().lower()
    if len(part) == 3 and part.endswith("xx") and part[0] in STATUS_CLASSES:
        base = int(part[0]) * 100
        return set(range(base, base + 100))
    if part.isascii() and part.isdigit() and MIN_STATUS <= int(part) <= MAX_STATUS:
        return {int(part)}
    return set()


def validate_error_statuses(text: str) -> None:
    """Refuse anything but real HTTP status classes and codes (the form's and the import's rule)."""
    bad = [part.strip() for part in text.split(",") if not _codes_of(part)]
    if bad:
        raise ValidationError(f"not a status class or code: {', '.join(map(repr, bad))}; name {STATUSES_HELP}")


class Slo(models.Model):
    """What "good" means for one service: latency objectives and an error budget over a window."""

    name = models.SlugField(max_length=100, unique=True)
    service = models.CharField(max_length=100, db_index=True)
    route = models.CharField(
        max_length=200, blank=True, default="", help_text="Judge one route only; empty means all routes."
    )
    # Latency objectives are optional: an availability-only SLO (a ratio indicator, as most OpenSLO
    # and sloth files are) is judged on its error budget alone.
    p95_ms = models.FloatField(
        "p95 objective (ms)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.001), MaxValueValidator(MAX_OBJECTIVE_MS)],
        help_text="Empty: no p95 latency objective.",
    )
    p99_ms = models.FloatField(
        "p99 objective (ms)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.001), MaxValueValidator(MAX_OBJECTIVE_MS)],
        help_text="Empty: no p99 latency objective.",
    )
    error_budget_pct = models.FloatField(
        "error budget (% of requests)",
        validators=[MinValueValidator(0.0001), MaxValueValidator(100)],
        help_text="Share of requests per day that may fail.",
    )
    window_days = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(365)])
    error_statuses = models.CharField(
        max_length=200,
        default="5xx",
        validators=[validate_error_statuses],
        help_text=f"Statuses that count as errors: {STATUSES_HELP}.",
    )
    min_events = models.PositiveIntegerField(
        default=100,
        validators=[MaxValueValidator(MAX_MIN_EVENTS)],
        help_text="A window with fewer requests than this is too small to judge or page on.",
    )
    baseline_at = models.DateTimeField(
        null=True, blank=True, help_text="Windows start no earlier than this (set by rebaseline)."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "SLO"

    def __str__(self) -> str:
        return self.name

    def latency_objectives(self) -> dict[str, float]:
        """The latency thresholds this SLO has, by objective ("p95", "p99"); none for availability only."""
        thresholds = {"p95": self.p95_ms, "p99": self.p99_ms}
        return {key: ms for key, ms in thresholds.items() if ms is not None}

    @property
    def rollup_route(self) -> str:
        return self.route or ALL_ROUTES

    def error_codes(self) -> set[int]:
        """The status codes that count as errors, from `error_statuses` ("5xx, 429")."""
        # Lenient: a row saved before the validator existed still answers with the parts it can read.
        return set().union(*map(_codes_of, self.error_statuses.split(",")))

    def clean(self) -> None:
        # Either may be missing here: a blank form field is reported by its own check, not as a crash.
        if self.p95_ms is not None and self.p99_ms is not None and self.p99_ms < self.p95_ms:
            raise ValidationError({"p99_ms": "the p99 objective cannot be below the p95 objective"})

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "service": self.service,
            "route": self.route,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "error_budget_pct": self.error_budget_pct,
            "window_days": self.window_days,
            "error_statuses": self.error_statuses,
            "min_events": self.min_events,
            "baseline_at": self.baseline_at.isoformat() if self.baseline_at else None,
        }


class Rollup(models.Model):
    """Request metrics of one service and route over one minute, hour or day.

    Rows are bounded by time, not by traffic: a busy minute is still one row. `route` "*" holds the
    whole service, so a service-wide question never has to add up its routes.
    """

    MINUTE, HOUR, DAY = "m", "h", "d"
    RESOLUTIONS = [(MINUTE, "minute"), (HOUR, "hour"), (DAY, "day")]

    service = models.CharField(max_length=100)
    route = models.CharField(max_length=200)
    resolution = models.CharField(max_length=1, choices=RESOLUTIONS)
    start = models.DateTimeField()
    count = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0, help_text="5xx responses")
    latency_sum_ms = models.FloatField(default=0)
    statuses = models.JSONField(default=dict, help_text="count per status code")
    sketch = models.BinaryField(default=b"")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "route", "resolution", "start"], name="slo_rollup_key")
        ]
        indexes = [models.Index(fields=["resolution", "start"], name="slo_rollup_expiry")]

    def __str__(self) -> str:
        return f"{self.service}{self.route} {self.get_resolution_display()} {self.start:%Y-%m-%d %H:%M}"


class ClosedHours(models.Model):
    """How far one service's hour and day rollups are built: every hour before `hours_until` has its
    hour rows, every day before `days_until` its day rows.

    Ingest writes minute rows only; an hour's rows are built once from its minutes when the hour has
    closed (and a day's from its hours), so a batch every 10 s no longer rewrites the 1-1.5 KB hour
    and day rows each time. Reads take hour rows only before `hours_until` and minutes from there on.
    A service without a row has every hour and day built (rows from before this table, or written by
    hand).
    """

    service = models.CharField(max_length=100, unique=True)
    hours_until = models.DateTimeField()
    days_until = models.DateTimeField()

    class Meta:
        verbose_name = "closed hours"
        verbose_name_plural = "closed hours"

    def __str__(self) -> str:
        return f"{self.service} closed until {self.hours_until:%Y-%m-%d %H:%M}"


class RollupPart(models.Model):
    """What one batch added to one route's minute while that minute is still open.

    A batch every 10 s would otherwise rewrite each ~650-byte minute row six times a minute; it
    appends these small rows instead (real routes only: the service-wide "*" is their sum), and the
    service's first batch of a later minute, or the quiet-service job, folds them into their minute
    rows once and deletes them (ingest.fold_parts). Reads add them to the minute rows of their range.
    No id column: every index costs WAL on each of these short-lived rows.
    """

    # The one index: the fold and the reads take a service's parts (a few minutes' worth at most, as
    # they are folded) and keep those of the minutes they want. `seq` numbers a service's waiting
    # parts; without `start` in it, each index entry is 8 bytes smaller.
    pk = models.CompositePrimaryKey("service", "seq")
    # Fixed-width columns first, so the row carries no alignment padding.
    start = models.DateTimeField()
    latency_sum_ms = models.FloatField()
    seq = models.PositiveIntegerField()
    # A batch's requests of one route and minute: well within 4 bytes, and every byte is WAL.
    count = models.PositiveIntegerField()
    errors = models.PositiveIntegerField()
    service = models.CharField(max_length=100)
    route = models.CharField(max_length=200)
    # JSON text, not jsonb: jsonb's headers double the ~11 bytes of {"200": 25}, on every part.
    statuses = models.TextField(default="{}", help_text="count per status code, as JSON")
    sketch = models.BinaryField(default=b"")

    class Meta:
        verbose_name = "rollup part"

    def __str__(self) -> str:
        return f"{self.service}{self.route} minute {self.start:%Y-%m-%d %H:%M} (part {self.seq})"


class SloState(models.Model):
    """What the periodic jobs remember between runs about one SLO (never edited by hand)."""

    slo = models.OneToOneField(Slo, on_delete=models.CASCADE, primary_key=True, related_name="state")
    burn_alert = models.CharField(max_length=10, default="OK")
    last_tick_at = models.DateTimeField(null=True, blank=True)
    gate_pending_since = models.DateTimeField(null=True, blank=True)
    gate_checked_at = models.DateTimeField(null=True, blank=True)
    active_alerts = models.JSONField(default=list, blank=True)
    watch_history = models.JSONField(default=list, blank=True)
    last_recovery_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"state of {self.slo}"


class SloTick(models.Model):
    """One run of the budget job for one SLO: the figures it saw (the tick history)."""

    slo = models.ForeignKey(Slo, on_delete=models.CASCADE, related_name="ticks")
    at = models.DateTimeField(db_index=True)
    requests = models.BigIntegerField()
    p95_ms = models.FloatField(null=True)
    p99_ms = models.FloatField(null=True)
    error_rate = models.FloatField()
    burn = models.FloatField()
    weekly_burn = models.FloatField()
    remaining_budget_pct = models.FloatField(null=True, help_text="empty: too few requests to judge")
    burn_alert = models.CharField(max_length=10)

    class Meta:
        ordering = ["-at"]
        verbose_name = "budget tick"


class GateShut(models.Model):
    """One closing of the deploy gate, and how it was lifted. An open row means the gate is shut."""

    slo = models.ForeignKey(Slo, on_delete=models.CASCADE, related_name="gate_shuts")
    shut_at = models.DateTimeField()
    reason = models.TextField()
    burn = models.FloatField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=200, blank=True)
    lift_note = models.TextField(blank=True)
    # Hosts (hostname:LOG_DIR) that wrote the flag file: only there does a missing file mean "lifted".
    flag_hosts = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-shut_at"]
        verbose_name = "deploy gate shut"
        constraints = [
            models.UniqueConstraint(
                fields=["slo"], condition=Q(lifted_at__isnull=True), name="slo_one_open_gate_per_slo"
            )
        ]

    def __str__(self) -> str:
        return f"gate shut by {self.slo} at {self.shut_at:%Y-%m-%d %H:%M}"

    @property
    def is_open_record(self) -> bool:
        return self.lifted_at is None


class RecoveryRequest(models.Model):
    """The watchdog asked for recovery: when, why, which hook ran and what it said."""

    slo = models.ForeignKey(Slo, on_delete=models.CASCADE, related_name="recoveries")
    at = models.DateTimeField()
    reason = models.TextField()
    hook = models.CharField(max_length=200)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["-at"]


class IngestCursor(models.Model):
    """How far `slo_ingest` has read one file; moved in the same transaction as the metrics it read."""

    path = models.CharField(max_length=500, unique=True)
    inode = models.BigIntegerField(default=0)
    head = models.CharField(max_length=64, blank=True, help_text="hash of the file's first line")
    offset = models.BigIntegerField(default=0)
    lines = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.path} @ {self.offset}"
