"""The operator's screens for cost guardrails: caps, prices, fallbacks, overrides, and the spend
ledger (read-only: the counters are kept in step with it, so rows are never edited by hand)."""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from echopilot.admin import CappedCountPaginator, ReadOnlyAdmin
from echopilot.events import append_event

from . import sealing, services, spend_cache
from .models import (
    CapAlert,
    CapOverride,
    CapReservation,
    CostCap,
    DailyCounter,
    ModelFallback,
    ModelPrice,
    SpendEntry,
    micros_to_usd,
    money,
)


class UsdFormField(forms.DecimalField):
    """Shows an amount as typed, at least to the cent: 21.3425 and 25.00, not the column's 21.342500,
    25.000000 or (for a cap typed as 1e5) 1E+5."""

    def prepare_value(self, value) -> Any:
        if not isinstance(value, Decimal) or not value.is_finite():
            return value
        value = value.normalize()
        return value.quantize(Decimal("0.01")) if value.as_tuple().exponent > -2 else value


USD_FIELDS: dict[type[models.Field], dict[str, Any]] = {models.DecimalField: {"form_class": UsdFormField}}


def _today_spent(scope: str, key: str) -> int:
    _, totals = spend_cache.current(timezone.now())
    return totals.spent.get((scope, key), 0)


@admin.register(CostCap)
class CostCapAdmin(admin.ModelAdmin):
    list_display = ("label", "scope", "usd_cap", "spent_today", "utilization", "updated", "updated_by")
    list_display_links = ("label",)
    list_editable = ("usd_cap",)
    list_filter = ("scope",)
    search_fields = ("key",)
    readonly_fields = ("updated", "updated_by")
    fields = ("scope", "key", "usd_cap", "updated", "updated_by")
    formfield_overrides = USD_FIELDS

    @admin.display(description="spent today")
    def spent_today(self, cap) -> str:
        return money(_today_spent(cap.scope, cap.key))

    @admin.display(description="utilization")
    def utilization(self, cap) -> str:
        spent, cap_usd = micros_to_usd(_today_spent(cap.scope, cap.key)), cap.usd_cap
        if not cap_usd:
            return "100%" if spent else "0%"
        return f"{spent * 100 / cap_usd:.1f}%"

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        services.cap_saved(obj, by=obj.updated_by)
        for warning in services.cap_warnings(obj):
            self.message_user(request, f"Saved, but {warning}.", messages.WARNING)


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("model", "input_per_mtok", "output_per_mtok", "updated")
    list_editable = ("input_per_mtok", "output_per_mtok")
    formfield_overrides = USD_FIELDS
    search_fields = ("model",)
    readonly_fields = ("updated",)


@admin.register(ModelFallback)
class ModelFallbackAdmin(admin.ModelAdmin):
    list_display = ("model", "fallback", "chain", "updated")
    list_editable = ("fallback",)
    search_fields = ("model", "fallback")
    readonly_fields = ("updated",)

    @admin.display(description="whole chain")
    def chain(self, row) -> str:
        config, _ = spend_cache.current(timezone.now())
        return " -> ".join([row.model, *services.fallback_chain(config.fallbacks, row.model)])


@admin.register(CapOverride)
class CapOverrideAdmin(admin.ModelAdmin):
    list_display = ("__str__", "scope", "key", "until", "active", "reason", "created_by", "created")
    list_filter = ("scope",)
    search_fields = ("key", "reason")
    readonly_fields = ("created", "created_by")
    fields = ("scope", "key", "until", "reason", "created", "created_by")
    actions = ["end_now"]

    @admin.display(boolean=True)
    def active(self, row) -> bool:
        return row.is_active()

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        services.log_override(obj, by=request.user.get_username())

    @admin.action(description="End the selected overrides now (the caps apply again)", permissions=["change"])
    def end_now(self, request, queryset) -> None:
        now = timezone.now()
        ended = 0
        for override in queryset.filter(until__gt=now):
            override.until = now
            override.save(update_fields=["until"])  # save(), not update(): the signal tells every worker
            ended += 1
        self.message_user(request, f"Ended {ended} override(s); their caps apply again.", messages.SUCCESS)


class LedgerModelFilter(admin.SimpleListFilter):
    """The models that have spend, read from the day counters: the ledger's distinct models would
    mean reading the whole ledger on every page view."""

    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin) -> list:
        keys = DailyCounter.objects.filter(scope=CostCap.MODEL).order_by("key").values_list("key", flat=True)
        return [(key, key) for key in keys.distinct()]

    def queryset(self, request, queryset) -> QuerySet:
        return queryset if self.value() is None else queryset.filter(model=self.value())


@admin.register(SpendEntry)
class SpendEntryAdmin(ReadOnlyAdmin):
    """Every query of a page goes through an index, whatever the ledger's size: newest recorded first
    (the primary key; sorting by ts would read every row), the day filter instead of a date
    hierarchy (its year and month links are a DISTINCT over the whole ledger), the model filter from
    the counters, an exact request_id for search (a substring search reads every row), and a
    count that stops at CappedCountPaginator.CAP."""

    list_display = (
        *("ts", "day", "kind", "model", "input_tokens", "output_tokens", "usd", "priced", "request_id"),
        *("actor", "address"),
    )
    list_filter = ("day", "kind", LedgerModelFilter, "priced")
    ordering = ("-id",)
    search_fields = ("request_id",)
    search_help_text = "The exact request_id of a report."
    list_per_page = 100
    paginator = CappedCountPaginator
    show_full_result_count = False  # counting a big ledger on every page view is slow on PostgreSQL

    def get_search_results(self, request, queryset, search_term) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        return (queryset.filter(request_id=term) if term else queryset), False


@admin.register(DailyCounter)
class DailyCounterAdmin(ReadOnlyAdmin):
    list_display = ("day", "scope", "key", "shard", "usd", "reports")
    list_filter = ("scope", "day")
    date_hierarchy = "day"
    search_fields = ("key",)


@admin.register(CapReservation)
class CapReservationAdmin(ReadOnlyAdmin):
    """The calls allowed near a cap whose usage has not been reported yet: each holds its estimate
    against the cap until the report settles it or it expires (COST_RESERVATION_TTL_S)."""

    list_display = ("day", "model", "held", "created", "expires", "is_open", "actor", "address")
    list_filter = ("day", "model")
    search_fields = ("model",)
    date_hierarchy = "day"
    actions = ["release"]

    @admin.display(description="held")
    def held(self, row) -> str:
        return money(row.usd_micros)

    @admin.display(description="still counts", boolean=True)
    def is_open(self, row) -> bool:
        return row.counts(timezone.now())

    def has_release_permission(self, request) -> bool:
        return request.user.has_perm("costs.delete_capreservation")

    @admin.action(description="Release the selected holds (their calls will not report)", permissions=["release"])
    def release(self, request, queryset) -> None:
        sealing.seal_all()  # a hold made through the fast path, deleted before it is chained, never would be
        released, _ = queryset.delete()
        append_event("costs", "reservations_released", count=released, by=str(request.user))
        self.message_user(request, f"Released {released} hold(s).", messages.SUCCESS)


@admin.register(CapAlert)
class CapAlertAdmin(ReadOnlyAdmin):
    list_display = ("day", "scope", "key", "level", "spent", "cap", "created", "raised", "incident_id")
    list_filter = ("level", "scope", "day")
    search_fields = ("key",)
    actions = ["raise_again"]

    @admin.display(description="spent")
    def spent(self, row) -> str:
        return money(row.spent_micros)

    @admin.display(description="cap")
    def cap(self, row) -> str:
        return money(row.cap_micros)

    def has_raise_permission(self, request) -> bool:
        # The rows stay read-only; raising their incident again is what changing an alert means.
        return request.user.has_perm("costs.change_capalert")

    @admin.action(description="Raise the incident again for alerts whose incident failed", permissions=["raise"])
    def raise_again(self, request, queryset) -> None:
        done = sum(services.raise_alert_incident(alert) for alert in queryset.filter(raised__isnull=True))
        self.message_user(request, f"Raised {done} incident(s).", messages.SUCCESS)
