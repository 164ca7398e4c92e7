"""The operator's screens for cost guardrails: caps, prices, fallbacks, overrides, and the spend
ledger (read-only: the counters are kept in step with it, so rows are never edited by hand)."""
from django.contrib import admin, messages
from django.utils import timezone

from echopilot.admin import ReadOnlyAdmin
from echopilot.events import append_event

from . import services, state
from .models import CapAlert, CapOverride, CostCap, DailyCounter, ModelFallback, ModelPrice, SpendEntry, micros_to_usd


def _today_spent(scope: str, key: str) -> int:
    _, totals = state.current(timezone.now())
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

    @admin.display(description="spent today (USD)")
    def spent_today(self, cap):
        return micros_to_usd(_today_spent(cap.scope, cap.key))

    @admin.display(description="utilization")
    def utilization(self, cap):
        spent, cap_usd = micros_to_usd(_today_spent(cap.scope, cap.key)), cap.usd_cap
        if not cap_usd:
            return "100%" if spent else "0%"
        return f"{spent * 100 / cap_usd:.1f}%"

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        append_event("costs", "cap_set", scope=obj.scope, key=obj.key, usd_cap=obj.usd_cap, by=obj.updated_by)


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("model", "input_per_mtok", "output_per_mtok", "updated")
    list_editable = ("input_per_mtok", "output_per_mtok")
    search_fields = ("model",)
    readonly_fields = ("updated",)


@admin.register(ModelFallback)
class ModelFallbackAdmin(admin.ModelAdmin):
    list_display = ("model", "fallback", "chain", "updated")
    list_editable = ("fallback",)
    search_fields = ("model", "fallback")
    readonly_fields = ("updated",)

    @admin.display(description="whole chain")
    def chain(self, row):
        config, _ = state.current(timezone.now())
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
    def active(self, row):
        return row.is_active()

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        append_event("costs", "cap_override", scope=obj.scope, key=obj.key, until=obj.until, by=request.user.get_username())

    @admin.action(description="End the selected overrides now (the caps apply again)")
    def end_now(self, request, queryset):
        now = timezone.now()
        ended = 0
        for override in queryset.filter(until__gt=now):
            override.until = now
            override.save(update_fields=["until"])  # save(), not update(): the signal tells every worker
            ended += 1
        self.message_user(request, f"Ended {ended} override(s); their caps apply again.", messages.SUCCESS)


@admin.register(SpendEntry)
class SpendEntryAdmin(ReadOnlyAdmin):
    list_display = ("ts", "day", "kind", "model", "input_tokens", "output_tokens", "usd", "priced", "request_id")
    list_filter = ("day", "kind", ("model", admin.AllValuesFieldListFilter), "priced")
    date_hierarchy = "day"
    search_fields = ("request_id", "model")
    list_per_page = 100
    show_full_result_count = False  # counting a big ledger on every page view is slow on PostgreSQL


@admin.register(DailyCounter)
class DailyCounterAdmin(ReadOnlyAdmin):
    list_display = ("day", "scope", "key", "shard", "usd", "reports")
    list_filter = ("scope", "day")
    date_hierarchy = "day"
    search_fields = ("key",)


@admin.register(CapAlert)
class CapAlertAdmin(ReadOnlyAdmin):
    list_display = ("day", "scope", "key", "level", "spent", "cap", "created", "raised", "incident_id")
    list_filter = ("level", "scope", "day")
    search_fields = ("key",)
    actions = ["raise_again"]

    @admin.display(description="spent (USD)")
    def spent(self, row):
        return micros_to_usd(row.spent_micros)

    @admin.display(description="cap (USD)")
    def cap(self, row):
        return micros_to_usd(row.cap_micros)

    def has_change_permission(self, request, obj=None):
        # Needed for the action; the fields themselves stay read-only.
        return request.user.is_staff

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.action(description="Raise the incident again for alerts whose incident failed")
    def raise_again(self, request, queryset):
        done = sum(services.raise_alert_incident(alert) for alert in queryset.filter(raised__isnull=True))
        self.message_user(request, f"Raised {done} incident(s).", messages.SUCCESS)
