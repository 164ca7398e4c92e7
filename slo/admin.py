"""The SLO screens: definitions, tick history, gate history (with the lift action), recoveries."""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

from echopilot.admin import BigHistoryAdmin, ReadOnlyAdmin, recent_values_filter

from . import gate, services
from .models import ClosedHours, GateShut, IngestCursor, RecoveryRequest, Slo, SloTick

# What the list says of an SLO whose last tick had too few requests to judge.
WAITING = "waiting for data"

STATE_COLORS = {"OK": "#137333", "WATCH": "#b06000", "WARNING": "#b06000", "CRITICAL": "#c5221f"}


def who(request) -> str:
    return f"admin:{request.user.get_username()}" if request.user.is_authenticated else "admin"


def colored_state(state: str) -> str:
    return format_html('<strong style="color:{}">{}</strong>', STATE_COLORS.get(state, "#777"), state)


@admin.register(Slo)
class SloAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "current_state",
        "budget_left",
        "service",
        "route",
        "p95_ms",
        "p99_ms",
        "error_budget_pct",
        "window_days",
        "min_events",
        "enabled",
        "baseline_at",
    ]
    list_filter = ["enabled", "service"]
    search_fields = ["name", "service", "route"]
    readonly_fields = ["baseline_at", "created_at", "updated_at"]
    actions = ["rebaseline"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Slo]:
        # The last budget tick's figures ride along in the list's one query, not a query per row.
        last_tick = SloTick.objects.filter(slo=OuterRef("pk")).order_by("-at")
        return (
            super()
            .get_queryset(request)
            .annotate(
                tick_at=Subquery(last_tick.values("at")[:1]),
                tick_state=Subquery(last_tick.values("burn_alert")[:1]),
                tick_budget=Subquery(last_tick.values("remaining_budget_pct")[:1]),
            )
        )

    @admin.display(description="state (last tick, UTC)", ordering="tick_state")
    def current_state(self, obj: Any) -> str:
        if obj.tick_at is None:
            return format_html('<span style="color:#777">{}</span>', "no tick yet")
        at = f"{obj.tick_at:%H:%M} UTC"
        if obj.tick_state == services.NOT_ENOUGH_DATA:
            return format_html('<span style="color:#777">{}</span> <small>{}</small>', WAITING, at)
        return format_html("{} <small>{}</small>", colored_state(obj.tick_state), at)

    @admin.display(description="budget left", ordering="tick_budget")
    def budget_left(self, obj: Any) -> str:
        if obj.tick_budget is None:
            return format_html('<span style="color:#777">{}</span>', WAITING if obj.tick_at else "-")
        colour = "#c5221f" if obj.tick_budget <= 0 else "#b06000" if obj.tick_budget < 25 else "#137333"
        return format_html('<strong style="color:{}">{}%</strong>', colour, f"{obj.tick_budget:.1f}")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A new SLO starts with the README's defaults (the settings); a link's query (an uptime
        # check's offer) still wins.
        defaults = {
            "p95_ms": settings.SLO_LAT_P95_MS,
            "p99_ms": settings.SLO_LAT_P99_MS,
            "error_budget_pct": settings.SLO_ERR_BUDGET_DAILY_PCT,
            "window_days": settings.SLO_WINDOW_DAYS,
            "min_events": settings.SLO_MIN_EVENTS,
        }
        return {**defaults, **super().get_changeform_initial_data(request)}

    @admin.action(description="Rebaseline: start the rolling windows anew from now", permissions=["change"])
    def rebaseline(self, request, queryset) -> None:
        for slo in queryset:
            services.rebaseline(slo)
        self.message_user(
            request, f"Rebaselined {queryset.count()} SLO(s); older data is kept but not counted.", messages.SUCCESS
        )


@admin.register(SloTick)
class SloTickAdmin(BigHistoryAdmin):
    list_display = [
        "at",
        "slo",
        "state",
        "burn",
        "weekly_burn",
        "p95_ms",
        "p99_ms",
        "error_rate",
        "remaining_budget_pct",
        "requests",
    ]
    list_filter = ["slo", recent_values_filter("burn_alert", "state"), "at"]
    list_select_related = ["slo"]

    @admin.display(description="state", ordering="burn_alert")
    def state(self, obj) -> str:
        return colored_state(obj.burn_alert)


@admin.register(GateShut)
class GateShutAdmin(ReadOnlyAdmin):
    list_display = ["shut_at", "slo", "gate_state", "burn_x", "short_reason", "lifted_at", "lifted_by", "lift_note"]
    list_filter = ["slo", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["reason", "lift_note", "lifted_by"]
    date_hierarchy = "shut_at"
    list_select_related = ["slo"]
    actions = ["lift"]

    @admin.display(description="gate")
    def gate_state(self, obj: GateShut) -> str:
        if obj.lifted_at is None:
            return format_html('<strong style="color:{}">shut</strong>', STATE_COLORS["CRITICAL"])
        return "lifted"

    @admin.display(description="burn (1 h)", ordering="burn")
    def burn_x(self, obj: GateShut) -> str:
        return f"{obj.burn:.2f}x"

    @admin.display(description="reason")
    def short_reason(self, obj) -> str:
        return obj.reason[:120]

    def get_urls(self) -> list[URLPattern]:
        lift = self.admin_site.admin_view(self.lift_view)
        return [path("lift/", lift, name="slo_gateshut_lift"), *super().get_urls()]

    def lift_view(self, request: HttpRequest) -> HttpResponse:
        """The lift form for every open shut, where the dashboard card's "Lift" link leads."""
        if not self.has_lift_permission(request):
            raise PermissionDenied
        shuts = GateShut.objects.filter(lifted_at__isnull=True)
        if request.method == "POST":
            shuts = shuts.filter(pk__in=request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))
        return self.lift(request, shuts) or redirect("admin:index")

    def has_lift_permission(self, request) -> bool:
        # The screen is read-only (has_change_permission is False), yet lifting writes the shut row.
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename('change', self.opts)}")

    @admin.action(description="Lift the deploy gate (asks for a note)", permissions=["lift"])
    def lift(self, request, queryset) -> TemplateResponse | None:
        open_shuts = queryset.filter(lifted_at__isnull=True)
        note = request.POST.get("note", "").strip()
        problem = _note_problem(note)
        if "apply" in request.POST and not problem:
            lifted = sum(gate.lift(shut, by=who(request), note=note) for shut in open_shuts)
            state = gate.current()
            self.message_user(
                request,
                f"Lifted {lifted} gate shut(s); {state.summary()}",
                messages.WARNING if state.shut else messages.SUCCESS,
            )
            return None
        if "apply" in request.POST and problem:
            self.message_user(request, problem, messages.ERROR)
        if not open_shuts.exists():
            self.message_user(request, "None of the selected shuts is still open.", messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Lift the deploy gate",
            "shuts": open_shuts,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/slo/lift_gate.html", context)


@admin.register(RecoveryRequest)
class RecoveryRequestAdmin(ReadOnlyAdmin):
    list_display = ["at", "slo", "reason", "hook", "outcome"]
    list_filter = ["slo"]
    date_hierarchy = "at"


@admin.register(IngestCursor)
class IngestCursorAdmin(ReadOnlyAdmin):
    list_display = ["path", "offset", "lines", "rejected", "inode", "updated_at"]
    search_fields = ["path"]


@admin.register(ClosedHours)
class ClosedHoursAdmin(ReadOnlyAdmin):
    """How far each service's hour and day rows are built: an hour well behind now means neither its
    batches nor the slo_close_hours job have run."""

    list_display = ["service", "hours_until", "days_until"]
    search_fields = ["service"]
    ordering = ["hours_until"]


def _note_problem(note: str) -> str | None:
    """What is wrong with a lift note, or None: the API's rules (api.LiftBody) for the admin's form."""
    if not note:
        return "A note is required to lift the gate."
    if len(note) > gate.MAX_LIFT_NOTE or "\x00" in note:
        return f"The note must be at most {gate.MAX_LIFT_NOTE:,} characters, with no NUL character."
    return None
