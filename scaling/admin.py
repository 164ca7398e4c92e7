"""The operator's screens for worker scaling: every decision with its reason and inputs (filterable by
applied / held / dry run / failed), the signals read, and what was last applied."""

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.text import Truncator

from echopilot.admin import ReadOnlyAdmin

from .models import Decision, ScaleState, SignalSample


def _pretty(value) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, default=str))


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("at", "outcome", "change", "short_reason", "held_by", "actuator", "by")
    list_filter = ("outcome", "actuator")
    search_fields = ("reason", "error", "by")
    date_hierarchy = "at"
    fields = (
        "at",
        "outcome",
        "actual",
        "desired",
        "recommended",
        "raw",
        "reason",
        "held_by",
        "actuator",
        "error",
        "by",
        "pretty_inputs",
    )
    readonly_fields = fields

    @admin.display(description="workers", ordering="desired")
    def change(self, obj) -> str:
        return f"{obj.actual} → {obj.desired}" if obj.desired != obj.actual else str(obj.actual)

    @admin.display(description="reason")
    def short_reason(self, obj) -> str:
        return Truncator(obj.reason).chars(140)

    @admin.display(description="constraints")
    def held_by(self, obj) -> str:
        return ", ".join(obj.constraints) or "-"

    @admin.display(description="inputs (signals, context, limits, formula, forecast)")
    def pretty_inputs(self, obj) -> str:
        return _pretty(obj.inputs)


@admin.register(SignalSample)
class SignalSampleAdmin(ReadOnlyAdmin):
    list_display = (
        "at",
        "source",
        "queue_depth",
        "queue_time_s",
        "arrivals_per_min",
        "p95_ms",
        "error_rate",
        "workers_actual",
        "jobs_per_worker_min",
    )
    list_filter = ("source",)
    date_hierarchy = "at"


@admin.register(ScaleState)
class ScaleStateAdmin(ReadOnlyAdmin):
    list_display = ("applied_workers", "last_change_at", "failures_in_row", "last_error")
