"""Cost guardrails: caps, prices, fallbacks and overrides (what the operator edits), and the spend
ledger with its per-day counters (what the product reports).

Money that is summed is kept as integer micro-dollars (`*_micros`): SQLite has no exact decimal
arithmetic, and a sum of integers is exact on every backend.
"""

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

MICROS = 1_000_000


def micros_to_usd(micros: int) -> Decimal:
    return (Decimal(int(micros)) / MICROS).quantize(Decimal("0.000001"))


def usd_to_micros(usd) -> int:
    """Dollars (Decimal, int, float or str) as whole micro-dollars, rounded half up."""
    amount = usd if isinstance(usd, Decimal) else Decimal(repr(usd) if isinstance(usd, float) else str(usd))
    return int((amount * MICROS).to_integral_value(rounding="ROUND_HALF_UP"))


def money(micros: int) -> str:
    """Micro-dollars as an operator reads them: $15.30 (sub-cent amounts keep their digits)."""
    usd = micros / 1_000_000
    return f"${usd:,.2f}" if usd >= 0.01 or usd == 0 else f"${usd:.6f}"


class CostConfig(models.Model):
    """One row: a version bumped on every edit of caps, prices, fallbacks or overrides, so every web
    worker notices an edit without re-reading them on each decision; and whether env caps were seeded."""

    version = models.PositiveBigIntegerField(default=1)
    env_caps_seeded = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "cost configuration"


class CostCap(models.Model):
    DAILY = "daily"
    MODEL = "model"
    MAX_USD = Decimal(99_999_999)  # what usd_cap's 14 digits, 6 of them decimals, hold
    KEY_LENGTH = 100
    SCOPES = [(DAILY, "global daily cap (all AI spend)"), (MODEL, "one model's daily cap")]

    scope = models.CharField(max_length=10, choices=SCOPES)
    key = models.CharField(max_length=KEY_LENGTH, blank=True, default="", help_text="the model, for a model cap")
    usd_cap = models.DecimalField(max_digits=14, decimal_places=6, help_text="USD per day")
    updated = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["scope", "key"]
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="costs_cap_scope_key_unique")]

    def __str__(self) -> str:
        return f"{self.label}: {money(usd_to_micros(self.usd_cap))}/day"  # not "$1E+5" for a cap typed as 1e5

    @property
    def label(self) -> str:
        return "all AI spend" if self.scope == self.DAILY else self.key

    def clean(self) -> None:
        if self.scope == self.MODEL and not self.key:
            raise ValidationError({"key": "a model cap needs the model name"})
        if self.scope == self.DAILY:
            self.key = ""
        if self.usd_cap is not None and self.usd_cap < 0:
            raise ValidationError({"usd_cap": "must not be negative"})


class ModelPrice(models.Model):
    """Used to price a usage report that comes without `usd`."""

    model = models.CharField(max_length=100, unique=True)
    input_per_mtok = models.DecimalField("input USD / 1M tokens", max_digits=12, decimal_places=6)
    output_per_mtok = models.DecimalField("output USD / 1M tokens", max_digits=12, decimal_places=6)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return f"{self.model}: ${self.input_per_mtok} in / ${self.output_per_mtok} out per 1M tokens"

    def clean(self) -> None:
        for field in ("input_per_mtok", "output_per_mtok"):
            if getattr(self, field) is not None and getattr(self, field) < 0:
                raise ValidationError({field: "must not be negative"})


class ModelFallback(models.Model):
    """The next cheaper model to use when `model` is at its cap; followed link by link, it forms
    the model's fallback chain (gpt-4o -> gpt-4o-mini -> ...)."""

    model = models.CharField(max_length=100, unique=True)
    fallback = models.CharField(max_length=100)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return f"{self.model} -> {self.fallback}"

    def clean(self) -> None:
        if self.model and self.model == self.fallback:
            raise ValidationError({"fallback": "a model cannot fall back to itself"})
        loop = self._chain_back_to_model()
        if loop:
            # The decision would stop at the loop anyway; refused here so the chain says what it does.
            raise ValidationError({"fallback": f"this makes a loop: {' -> '.join(loop)}"})

    def _chain_back_to_model(self) -> list[str]:
        """The chain from this model through its new fallback, when it leads back to the model."""
        links = dict(ModelFallback.objects.exclude(model=self.model).values_list("model", "fallback"))
        chain: list[str] = [self.model]
        nxt: str | None = self.fallback
        while nxt and nxt not in chain:
            chain.append(nxt)
            nxt = links.get(nxt)
        return [*chain, self.model] if nxt == self.model else []


class CapOverride(models.Model):
    """A cap ignored until a given time (an operator's decision to let spend through)."""

    REASON_LENGTH = 200

    scope = models.CharField(max_length=10, choices=CostCap.SCOPES)
    key = models.CharField(max_length=100, blank=True, default="")
    until = models.DateTimeField()
    reason = models.CharField(max_length=REASON_LENGTH, blank=True, default="")
    created = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=100, blank=True, default="", editable=False)

    class Meta:
        ordering = ["-until"]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key or 'all'} ignored until {self.until:%Y-%m-%d %H:%M}"

    def is_active(self, now=None) -> bool:
        return (now or timezone.now()) < self.until

    # Temporary: a cap that should not apply for longer wants raising, not overriding.
    MAX_LENGTH = timedelta(days=31)

    def clean(self) -> None:
        if self.scope == CostCap.MODEL and not self.key:
            raise ValidationError({"key": "a model override needs the model name"})
        if self.scope == CostCap.DAILY and self.key:
            # Probably meant for one model: overriding the global cap instead lets all spend through.
            raise ValidationError({"key": "the daily cap covers all AI spend and takes no key; choose scope model"})
        now = timezone.now()
        if self.until is not None and self._state.adding and self.until <= now:
            raise ValidationError({"until": "must be in the future"})
        if self.until is not None and self.until > now + self.MAX_LENGTH:
            raise ValidationError({"until": "an override lasts at most 31 days; raise the cap instead"})


# A report or a hold records who made it and from where on its own row: one made through the API's
# fast path is chained into the audit trail later, in bulk (costs.sealing), not under the chain's
# lock on every AI call.
ACTOR_HELP = "who wrote it through the API (key:NAME or user:NAME); blank for a write outside the API"
ADDRESS_HELP = "the caller's address (REMOTE_ADDR)"
AUDIT_PENDING_HELP = "the audit chain still owes it an entry: chained in bulk within a minute"


class SpendEntry(models.Model):
    """One reported spend. `request_id` is unique, so a report sent twice is counted once."""

    AI = "ai"
    STRIPE_FEE = "stripe_fee"
    KINDS = [(AI, "AI call"), (STRIPE_FEE, "Stripe fee")]

    # Unique through a constraint, not unique=True: on PostgreSQL that would add a second (LIKE) index,
    # and every index is one more write per report. Otherwise indexed only through (day, kind, model).
    request_id = models.CharField(max_length=200)
    day = models.DateField(help_text="the cost day (COST_TIMEZONE) the spend counts to")
    ts = models.DateTimeField()
    kind = models.CharField(max_length=20, choices=KINDS, default=AI)
    model = models.CharField(max_length=100, blank=True, default="")
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    usd_micros = models.BigIntegerField()
    priced = models.BooleanField(default=False, help_text="priced from the price table (no usd reported)")
    created = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.CharField(max_length=200, blank=True, default="", editable=False, help_text=ACTOR_HELP)
    address = models.CharField(max_length=64, blank=True, default="", editable=False, help_text=ADDRESS_HELP)
    audit_pending = models.BooleanField(default=False, editable=False, help_text=AUDIT_PENDING_HELP)

    class Meta:
        verbose_name = "spend entry"
        verbose_name_plural = "spend ledger"
        ordering = ["-ts"]
        indexes = [
            models.Index(fields=["day", "kind", "model"], name="costs_spend_day_kind_model"),
            # Only the rows not chained yet (a minute's worth): finding them stays cheap on a year of ledger.
            models.Index(fields=["id"], condition=Q(audit_pending=True), name="costs_spend_audit_pending"),
        ]
        constraints = [models.UniqueConstraint(fields=["request_id"], name="costs_spend_request_id_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.model or '-'} ${self.usd}"

    @property
    def usd(self) -> Decimal:
        return micros_to_usd(self.usd_micros)


class DailyCounter(models.Model):
    """A running total of one scope on one cost day, incremented in the same statement or
    transaction as the ledger row: model/<name> the AI spend of one model, kind/<kind> non-AI spend.
    All AI spend of a day (the global cap's) is the sum of the model rows: one row a report to
    write. A scope's total is the sum over its shards: each web worker adds to its own shard row,
    so reports from different workers never queue on one row lock."""

    KIND = "kind"

    day = models.DateField()
    scope = models.CharField(max_length=10)
    key = models.CharField(max_length=100, blank=True, default="")
    shard = models.PositiveSmallIntegerField(default=0)
    usd_micros = models.BigIntegerField(default=0)
    reports = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "scope", "key", "shard"]
        constraints = [
            models.UniqueConstraint(fields=["day", "scope", "key", "shard"], name="costs_counter_day_scope_key_shard")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.scope}:{self.key or 'all'} ${self.usd}"

    @property
    def usd(self) -> Decimal:
        return micros_to_usd(self.usd_micros)


class CapAlert(models.Model):
    """A cap crossing 90% or 100% on one day. The unique row makes the alert happen once per cap,
    day and level however many reports cross it at the same moment."""

    WARN = 90
    CRITICAL = 100
    LEVELS = [(WARN, "90% (WARN)"), (CRITICAL, "100% (CRITICAL)")]

    day = models.DateField()
    scope = models.CharField(max_length=10)
    key = models.CharField(max_length=100, blank=True, default="")
    level = models.PositiveSmallIntegerField(choices=LEVELS)
    spent_micros = models.BigIntegerField()
    cap_micros = models.BigIntegerField()
    created = models.DateTimeField(default=timezone.now)
    incident_id = models.CharField(max_length=64, blank=True, default="")
    raised = models.DateTimeField(null=True, blank=True, help_text="when the incident was raised")

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["day", "scope", "key", "level"], name="costs_alert_once_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.scope}:{self.key or 'all'} reached {self.level}%"

    @property
    def fingerprint(self) -> str:
        return f"costs:{self.scope}:{self.key or 'all'}:{self.day.isoformat()}:{self.level}"


class CapReservation(models.Model):
    """An AI call allowed near a cap, held against the cap until its usage report settles it (the
    row is deleted) or it expires. While it is open, every other near-cap decision counts it as
    spent, so concurrent callers cannot all spend the same remaining headroom."""

    day = models.DateField(help_text="the cost day (COST_TIMEZONE) the call counts to")
    model = models.CharField(max_length=100)
    usd_micros = models.BigIntegerField(help_text="the estimate held: est_usd, or the model's typical call")
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(help_text="after this the hold no longer counts (the call never reported)")
    settled = models.DateTimeField(
        null=True, blank=True, help_text="released by its call's usage report; kept until the audit chain has it"
    )
    actor = models.CharField(max_length=200, blank=True, default="", editable=False, help_text=ACTOR_HELP)
    address = models.CharField(max_length=64, blank=True, default="", editable=False, help_text=ADDRESS_HELP)
    audit_pending = models.BooleanField(default=False, editable=False, help_text=AUDIT_PENDING_HELP)

    class Meta:
        verbose_name = "cap reservation"
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["day", "model", "expires"], name="costs_reservation_open"),
            models.Index(fields=["id"], condition=Q(audit_pending=True), name="costs_hold_audit_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} {money(self.usd_micros)} until {self.expires:%H:%M:%S}"

    def counts(self, now) -> bool:
        """Whether the hold still counts as spent: neither settled by its report nor expired."""
        return self.settled is None and now < self.expires

    @property
    def usd(self) -> Decimal:
        return micros_to_usd(self.usd_micros)
