"""The customer portal's state: customers, their purchases, Stripe events seen, the access audit.

Amounts are kept in the currency's minor unit (cents), exactly as Stripe sends them, so no float
ever touches money; `amount_display` turns them into a Decimal for people.
"""

from decimal import Decimal

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

# Stripe's zero-decimal currencies: their amounts are already whole units.
ZERO_DECIMAL_CURRENCIES = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}
# Stripe's three-decimal currencies: their minor unit is a thousandth (5120 is 5.120 KWD).
THREE_DECIMAL_CURRENCIES = {"bhd", "jod", "kwd", "omr", "tnd"}


def decimal_places(currency: str) -> int:
    """How many decimals the currency's major unit has, by Stripe's lists (zero, three, else two)."""
    code = (currency or "").lower()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    return 3 if code in THREE_DECIMAL_CURRENCIES else 2


def minor_to_major(amount: int, currency: str) -> Decimal:
    """An amount in Stripe's minor unit as a Decimal in the currency's major unit."""
    places = decimal_places(currency)
    return Decimal(amount).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def normalize_email(email: str) -> str:
    """Emails are matched case-insensitively: the stored form is trimmed and lower-cased."""
    return (email or "").strip().lower()


class Customer(models.Model):
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    stripe_customer_id = models.CharField(max_length=64, blank=True, db_index=True)
    created = models.DateTimeField(default=timezone.now, editable=False)
    # Part of every signed link: bumping it makes every link issued so far fail.
    link_generation = models.PositiveIntegerField(default=0, editable=False)
    links_revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="portal_customer_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    @property
    def is_unsubscribed(self) -> bool:
        return self.unsubscribed_at is not None


class Purchase(models.Model):
    RECEIPT = "receipt"
    INVOICE = "invoice"
    KINDS = [(RECEIPT, "receipt"), (INVOICE, "invoice")]

    class Status(models.TextChoices):
        PAID = "paid", "paid"
        PARTIALLY_REFUNDED = "partially_refunded", "partially refunded"
        REFUNDED = "refunded", "refunded"

    PAID, PARTIALLY_REFUNDED, REFUNDED = Status.PAID, Status.PARTIALLY_REFUNDED, Status.REFUNDED

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="purchases")
    kind = models.CharField(max_length=10, choices=KINDS, default=RECEIPT)
    number = models.CharField(max_length=64, blank=True, help_text="receipt or invoice number shown on the PDF")
    description = models.CharField(max_length=300, blank=True)
    amount = models.PositiveBigIntegerField(help_text="in the currency's minor unit (cents), as Stripe sends it")
    amount_refunded = models.PositiveBigIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PAID)
    purchased_at = models.DateTimeField(default=timezone.now)
    # Several events describe one payment; any of these ids finds the purchase they belong to.
    stripe_payment_intent = models.CharField(max_length=64, null=True, blank=True, unique=True)
    stripe_charge = models.CharField(max_length=64, null=True, blank=True, unique=True)
    stripe_checkout_session = models.CharField(max_length=80, null=True, blank=True, unique=True)
    stripe_invoice = models.CharField(max_length=64, null=True, blank=True, unique=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-purchased_at", "-id"]
        indexes = [models.Index(fields=["customer", "-purchased_at"])]

    def __str__(self) -> str:
        return f"{self.document_title} {self.reference} ({self.customer_id})"

    def save(self, *args, **kwargs) -> None:
        self.currency = (self.currency or "usd").lower()
        # Empty strings from the admin would collide on the unique Stripe id columns.
        for field in ("stripe_payment_intent", "stripe_charge", "stripe_checkout_session", "stripe_invoice"):
            if not getattr(self, field):
                setattr(self, field, None)
        super().save(*args, **kwargs)

    @property
    def reference(self) -> str:
        return self.number or f"EP-{self.pk:06d}"

    @property
    def document_title(self) -> str:
        return "Invoice" if self.kind == self.INVOICE else "Receipt"

    @property
    def amount_display(self) -> Decimal:
        return minor_to_major(self.amount, self.currency)

    @property
    def refunded_display(self) -> Decimal:
        return minor_to_major(self.amount_refunded, self.currency)

    @property
    def is_refunded(self) -> bool:
        return self.status in (self.REFUNDED, self.PARTIALLY_REFUNDED)


class StripeEvent(models.Model):
    """One row per Stripe event processed; its unique id is what makes a replay change nothing."""

    event_id = models.CharField(max_length=80, unique=True)
    type = models.CharField(max_length=80)
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(null=True, blank=True, help_text="when Stripe created the event")
    # The admin list is newest first and the prune deletes by age: both read this index, not the table.
    received = models.DateTimeField(default=timezone.now, db_index=True)
    purchase = models.ForeignKey(Purchase, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class AccessLog(models.Model):
    """Every access to a portal resource, allowed or refused. Never holds a token."""

    ALLOWED = "allowed"
    REFUSED = "refused"
    RATE_LIMITED = "rate_limited"
    OUTCOMES = [(ALLOWED, "allowed"), (REFUSED, "refused"), (RATE_LIMITED, "rate limited")]

    ts = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=30)
    outcome = models.CharField(max_length=15, choices=OUTCOMES)
    status = models.PositiveSmallIntegerField(help_text="HTTP status answered")
    email = models.EmailField(max_length=254, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    resource = models.CharField(max_length=200, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL)
    purchase = models.ForeignKey(Purchase, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-ts", "-id"]
        verbose_name = "access log entry"
        verbose_name_plural = "access log"

    def __str__(self) -> str:
        return f"{self.ts:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome} {self.resource}"


class RateBucket(models.Model):
    """A fixed-window request counter shared by every web worker (the database is the one place)."""

    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="portal_ratebucket_unique")]


class ReconcileRun(models.Model):
    """One run of the Stripe reconciliation: the window it asked Stripe about and what it recovered.

    The start of the last completed run is where the next one begins to ask (see portal.reconcile).
    """

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        OK = "ok", "ok"
        INCOMPLETE = "incomplete", "some events could not be applied"
        FAILED = "failed", "Stripe could not be asked"

    started = models.DateTimeField(default=timezone.now, db_index=True)
    finished = models.DateTimeField(null=True, blank=True)
    since = models.DateTimeField(help_text="events created from this moment on were asked for")
    # A run asked for a window of its own (--since) leaves the nightly runs' starting point alone.
    window_given = models.BooleanField(default=False, help_text="asked with --since")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    events_seen = models.PositiveIntegerField(default=0)
    recovered_by_type = models.JSONField(default=dict, blank=True, help_text="events applied by this run, by type")
    already_applied = models.PositiveIntegerField(default=0, help_text="events the webhook had delivered already")
    purchases_created = models.JSONField(default=list, blank=True, help_text="ids of the purchases this run created")
    unapplied = models.JSONField(default=list, blank=True, help_text="events that could not be applied, and why")
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started", "-id"]
        verbose_name = "Stripe reconciliation run"

    def __str__(self) -> str:
        return f"reconciliation {self.started:%Y-%m-%d %H:%M} {self.status}"

    @property
    def recovered(self) -> int:
        return sum(self.recovered_by_type.values())


# --- Retention analytics: the product's customers' activity ----------------------------------


class ActiveDay(models.Model):
    """A product user seen active on a day (UTC). Events are folded to one row per user and day: DAU,
    WAU and MAU only ask who was active when."""

    user_id = models.CharField(max_length=200)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "user_id"], name="portal_activeday_once_per_day")]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.day}"


class RetentionDay(models.Model):
    """DAU, WAU and MAU for one day: distinct users active that day, in the 7 and the 30 days ending
    it. `stale` is set when late events arrive for a day it counts, until the daily job recounts."""

    day = models.DateField(unique=True)
    dau = models.PositiveIntegerField(default=0)
    wau = models.PositiveIntegerField(default=0)
    mau = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()
    stale = models.BooleanField(default=False)

    class Meta:
        ordering = ["-day"]
        verbose_name = "retention day"

    def __str__(self) -> str:
        return f"{self.day}: DAU {self.dau}, WAU {self.wau}, MAU {self.mau}"
