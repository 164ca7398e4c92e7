from datetime import timedelta

from django.contrib import admin, messages
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from echopilot.admin import ReadOnlyAdmin
from slo.models import Slo

from . import checks, recovery, uptime
from .models import Backup, DrillReport, OpsCheckRun, RecoveryRun, RequeuedTask, UptimeCheck

# --- The ops check and auto-recovery ---------------------------------------------------------------


class ReadOnlyHistory(admin.ModelAdmin):
    """History rows: shown, searched, never edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OpsCheckRun)
class OpsCheckRunAdmin(ReadOnlyHistory):
    list_display = ("at", "worst", "duration_ms", "failed_checks", "triggered_by")
    list_filter = ("worst",)
    search_fields = ("triggered_by",)
    date_hierarchy = "at"
    readonly_fields = ("at", "worst", "duration_ms", "triggered_by", "check_table")
    exclude = ("checks",)
    actions = ["run_now"]

    @admin.display(description="not ok")
    def failed_checks(self, run) -> str:
        return ", ".join(f"{c['name']} ({c['status']})" for c in run.checks if c["status"] != "ok") or "-"

    @admin.display(description="checks")
    def check_table(self, run) -> str:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
            ((c["name"], c["status"], c["duration_ms"], c["detail"]) for c in run.checks),
        )  # fmt: skip
        return format_html("<table>{}</table>", rows)

    @admin.action(description="Run the ops check now")
    def run_now(self, request, queryset) -> None:
        report = checks.ops_check(by=request.user.get_username())
        level = (
            messages.ERROR
            if report.worst == "fail"
            else messages.WARNING
            if report.worst == "warn"
            else messages.SUCCESS
        )
        self.message_user(request, f"ops check: {report.worst} in {report.duration_ms} ms", level)


class RequeuedInline(admin.TabularInline):
    model = RequeuedTask
    extra = 0
    can_delete = False
    readonly_fields = ("failed_task_id", "new_task_id", "func", "at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RecoveryRun)
class RecoveryRunAdmin(ReadOnlyHistory):
    list_display = ("at", "dry_run", "trigger", "incident", "action_count")
    list_filter = ("dry_run",)
    search_fields = ("trigger", "incident__message")
    date_hierarchy = "at"
    readonly_fields = ("at", "dry_run", "trigger", "incident", "action_list")
    exclude = ("actions",)
    inlines = [RequeuedInline]
    actions = ["dry_run_now"]

    @admin.display(description="actions")
    def action_count(self, run) -> int:
        return len(run.actions)

    @admin.display(description="actions and outcomes")
    def action_list(self, run) -> str:
        items = format_html_join(
            "", "<li>{}: {} — {}</li>", ((a["action"], a["target"], a["outcome"]) for a in run.actions)
        )
        return format_html("<ul>{}</ul>", items)

    @admin.action(description="Dry run a recovery now (changes nothing)")
    def dry_run_now(self, request, queryset) -> None:
        run = recovery.recover(dry_run=True, trigger=f"admin ({request.user.get_username()})")
        self.message_user(request, f"recovery #{run.pk} (dry run): {len(run.actions)} action(s) listed")


# --- Uptime probes ------------------------------------------------------------------------------------


@admin.register(UptimeCheck)
class UptimeCheckAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "shown_target",
        "enabled",
        "state",
        "failures_in_a_row",
        "last_latency",
        "last_checked_at",
        "avail_24h",
    )
    list_filter = ("state", "enabled", "method")
    search_fields = ("name", "target")
    readonly_fields = (
        "state", "failures_in_a_row", "last_checked_at", "last_latency_ms", "last_error", "next_due_at", "slo",
        "recent",
    )  # fmt: skip
    fields = (
        "name", "target", "method", "expected_status", "keyword", "timeout_s", "interval_s", "strikes", "enabled",
        *readonly_fields,
    )  # fmt: skip
    actions = ["probe_now"]

    @admin.display(description="URL or host:port", ordering="target")
    def shown_target(self, check) -> str:
        return uptime.shown(check.target)

    @admin.display(description="last latency")
    def last_latency(self, check) -> str:
        return f"{check.last_latency_ms:.0f} ms" if check.last_latency_ms is not None else "-"

    @admin.display(description="24 h")
    def avail_24h(self, check) -> str:

        pct = uptime.availability(check, timedelta(hours=24))
        return "-" if pct is None else f"{pct}%"

    @admin.display(description="SLO")
    def slo(self, check) -> str:
        if not check.pk:
            return "-"
        slo = Slo.objects.filter(service=check.service).order_by("pk").first()
        if slo is not None:
            return format_html('<a href="{}">{}</a>', reverse("admin:slo_slo_change", args=[slo.pk]), slo.name)
        return format_html('none yet: <a href="{}">create it</a> (default objectives)', uptime.offered_slo_url(check))

    @admin.display(description="last 20 probes")
    def recent(self, check) -> str:
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td><td>{}</td></tr>",
            (
                (f"{r.at:%Y-%m-%d %H:%M:%S}", "up" if r.ok else "down", round(r.latency_ms), r.status_code, r.error)
                for r in check.results.order_by("-at")[:20]
            ),
        )  # fmt: skip
        return format_html("<table>{}</table>", rows) if check.pk else "-"

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        # Every check is offered its SLO: the form comes filled in with the default objectives.
        self.message_user(
            request,
            format_html(
                'Probe results go to the slo app as service {}. <a href="{}">Create its SLO</a> '
                "(default objectives) to get availability, a budget and burn alerts.",
                obj.service,
                uptime.offered_slo_url(obj),
            ),
            messages.INFO,
        )
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Probe the selected checks now")
    def probe_now(self, request, queryset) -> None:
        results = [uptime.record(check, uptime.probe_check(check)) for check in queryset]
        summary = ", ".join(f"{r['check']}: {'up' if r['ok'] else 'down (' + r['error'] + ')'}" for r in results)
        self.message_user(request, summary or "nothing selected")


# --- Backups and DR drills -----------------------------------------------------------------------------


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "created",
        "engine",
        "size_bytes",
        "rows",
        "uploaded",
        "verified_ok",
        "last_verified",
        "deleted",
    )
    list_filter = ("engine", "verified_ok", "uploaded", ("deleted", admin.EmptyFieldListFilter))
    search_fields = ("name", "sha256")
    date_hierarchy = "created"


@admin.register(DrillReport)
class DrillReportAdmin(ReadOnlyAdmin):
    list_display = ("started", "backup_name", "engine", "outcome", "rto_s", "rpo_s")
    list_filter = ("outcome", "engine")
    search_fields = ("backup_name",)
    date_hierarchy = "started"
