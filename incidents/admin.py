"""The inbox screen: review, acknowledge, resolve, page again, silence; every delivery attempt inline.

An incident is handled from its own page (buttons for each step) or in bulk from the list (actions).
"""

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from echopilot.admin import CappedCountPaginator, recent_values_filter

from . import pager, services
from .channels import HOW_TO_TURN_ON, channel_for, configured_channels
from .models import SEVERITIES, ChannelState, Delivery, DeliveryAttempt, FileOffset, Incident, Route, Silence

if TYPE_CHECKING:  # a stub-only type: what SimpleListFilter.choices yields
    from django.contrib.admin.filters import _ListFilterChoices

STATUS_COLORS = {Delivery.SENT: "#1a7f37", Delivery.FAILED: "#cf222e", Delivery.CAPPED: "#9a6700"}
SEVERITY_COLORS = {"CRITICAL": "#cf222e", "ERROR": "#bc4c00", "WARNING": "#9a6700", "INFO": "#57606a"}


def who(request) -> str:
    return request.user.get_username() if request.user.is_authenticated else "admin"


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["created_at", "channel", "kind", "colored_status", "attempts", "last_status", "last_error", "sent_at"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs type the two differently

    @admin.display(description="status")
    def colored_status(self, obj) -> str:
        return colored(obj.status)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def colored(status, text=None) -> str:
    """`text` (the status itself by default) in the status's colour."""
    text = status if text is None else text
    color = STATUS_COLORS.get(status)
    return format_html('<strong style="color:{}">{}</strong>', color, text) if color else text


def link_or_text(key: str, value) -> str:
    """A meta value as HTML: an http(s) URL is a link ("Runbook" for `runbook_url`), anything else text."""
    if isinstance(value, str) and value.startswith(("https://", "http://")):
        label = "Runbook" if key == "runbook_url" else value
        return format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', value, label)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return format_html("{}", text)


def meta_table(meta) -> str:
    """`meta` as a two-column table, URLs clickable."""
    if not meta:
        return "-"
    rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((k, link_or_text(k, v)) for k, v in meta.items()))
    return format_html('<table class="incident-meta">{}</table>', rows)


class StateFilter(admin.SimpleListFilter):
    """Open or acknowledged by default: the list opens on what still needs someone."""

    title = "state"
    parameter_name = "state"
    DEFAULT = "unresolved"

    def lookups(self, request, model_admin) -> list:
        return [
            ("unresolved", "unresolved (open or acknowledged)"),
            (Incident.OPEN, "open"),
            (Incident.ACKNOWLEDGED, "acknowledged"),
            (Incident.RESOLVED, "resolved"),
            ("all", "all"),
        ]

    def choices(self, changelist) -> Iterator["_ListFilterChoices"]:
        current = self.value() or self.DEFAULT
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset) -> QuerySet[Incident]:
        value = self.value() or self.DEFAULT
        if value == "unresolved":
            return queryset.exclude(status=Incident.RESOLVED)
        if value == "all":
            return queryset
        return queryset.filter(status=value)


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "colored_severity",
        "status",
        "source",
        "short_message",
        "count",
        "first_seen",
        "last_seen",
        "page_state",
        "runbook",
    ]
    list_filter = [StateFilter, "severity", recent_values_filter("source"), "last_seen"]
    search_fields = ["message", "source", "fingerprint"]
    # A year of incidents: a count that stops short, and no date hierarchy (a DISTINCT over the table).
    paginator = CappedCountPaginator
    show_full_result_count = False
    inlines = [DeliveryInline]
    actions = ["acknowledge", "resolve", "page_again", "silence_1h", "silence_24h"]
    # The lifecycle changes through the actions, which record who and when; only the note is typed.
    readonly_fields = [
        "fingerprint",
        "severity",
        "source",
        "message",
        "meta_table",
        "status",
        "count",
        "first_seen",
        "last_seen",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
        "silenced_by",
    ]
    fields = readonly_fields + ["attempts", "resolve_note"]  # type: ignore[assignment]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return self.readonly_fields + ["attempts"]

    @admin.display(description="delivery attempts")
    def attempts(self, obj) -> str:
        rows = DeliveryAttempt.objects.filter(delivery__incident=obj).select_related("delivery").order_by("at", "pk")
        if not rows:
            return "none"
        return format_html_join(
            "",
            "<div>{} · {} #{} · {} {} {}</div>",
            (
                (
                    a.at.strftime("%Y-%m-%d %H:%M:%S"),
                    a.delivery.channel,
                    a.number,
                    colored("sent" if a.ok else "failed"),
                    a.status,
                    a.error[:120],
                )
                for a in rows
            ),
        )

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="message")
    def short_message(self, obj) -> str:
        return obj.message[:100]

    @admin.display(description="severity", ordering="severity_rank")
    def colored_severity(self, obj) -> str:
        return format_html('<strong style="color:{}">{}</strong>', SEVERITY_COLORS[obj.severity], obj.severity)

    @admin.display(description="meta")
    def meta_table(self, obj) -> str:
        return meta_table(obj.meta)

    @admin.display(description="runbook")
    def runbook(self, obj) -> str:
        return link_or_text("runbook_url", obj.runbook_url) if obj.runbook_url else ""

    def get_ordering(self, request) -> list:
        # Worst first, newest first within a severity: what needs someone at 3 a.m. is on top.
        return ["-severity_rank", "-last_seen"]

    # --- handling one incident from its page -----------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        page_again = self.admin_site.admin_view(self.page_again_view)
        return [
            path("<int:pk>/page-again/", page_again, name="incidents_incident_page_again"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None) -> HttpResponse:
        incident = self.get_object(request, object_id)
        extra = {}
        if incident is not None:
            extra = {
                "can_silence": self.has_silence_permission(request),
                "silence_url": silence_like_this_url(incident),
                "page_again_url": reverse("admin:incidents_incident_page_again", args=[incident.pk]),
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def save_model(self, request, obj, form, change) -> None:
        """The page's buttons: Acknowledge, or Resolve with the note typed there."""
        one = Incident.objects.filter(pk=obj.pk)
        note = form.cleaned_data.get("resolve_note", "")
        was_resolved = one.filter(status=Incident.RESOLVED).exists()
        if "_acknowledge" in request.POST:
            request._incident_done = (services.acknowledge(one, by=who(request)), "Acknowledged")
        elif not was_resolved and ("_resolve" in request.POST or note.strip()):
            # A note typed on an open incident is a resolve note: saving it resolves (it used to stay open).
            request._incident_done = (services.resolve(one, by=who(request), note=note), "Resolved")
        elif was_resolved:
            one.update(resolve_note=note)
            request._incident_done = (1, "Saved the note of")

    def response_change(self, request, obj) -> HttpResponseRedirect:
        done, verb = getattr(request, "_incident_done", (0, ""))
        if done:
            self.message_user(request, f"{verb} incident #{obj.pk}.", messages.SUCCESS)
        else:
            obj.refresh_from_db()
            self.message_user(request, f"Nothing changed: incident #{obj.pk} is {obj.status}.", messages.WARNING)
        return HttpResponseRedirect(request.path)

    def page_again_view(self, request, pk) -> HttpResponseRedirect | TemplateResponse:
        """GET: who would be paged, and a button to confirm; POST: page again."""
        incident = get_object_or_404(Incident, pk=pk)
        if not self.has_change_permission(request, incident):
            raise PermissionDenied
        change_url = reverse("admin:incidents_incident_change", args=[pk])
        channels = pager.channel_status()
        on = [c for c in channels if c["configured"]]
        if request.method == "POST":
            if not on:
                self.message_user(request, f"No pager channel is configured: {HOW_TO_TURN_ON}.", messages.ERROR)
            else:
                recorded = pager.page_again([incident])
                self.message_user(request, f"Paged again: {recorded} page(s) recorded.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": incident,
            "title": f"Page again for incident #{incident.pk}?",
            "channels": on,
            "how_to_turn_on": HOW_TO_TURN_ON,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/incidents/incident/page_again.html", context)

    @admin.display(description="pages")
    def page_state(self, obj) -> str:
        states = [d.status for d in obj.deliveries.all()]
        if not states:
            return "silenced" if obj.silenced_by_id else "-"
        return format_html(", ".join("{}" for _ in states), *[colored(s) for s in states])

    def get_queryset(self, request) -> QuerySet[Incident]:
        rank = Case(*(When(severity=s, then=Value(i)) for i, s in enumerate(SEVERITIES)), output_field=IntegerField())
        # Annotated before ordering, since the ordering uses the rank (the base method orders first).
        incidents = self.model._default_manager.annotate(severity_rank=rank).prefetch_related("deliveries")
        return incidents.order_by(*self.get_ordering(request))

    @admin.action(description="Acknowledge selected incidents", permissions=["change"])
    def acknowledge(self, request, queryset) -> None:
        done = services.acknowledge(queryset, by=who(request))
        self.message_user(request, f"Acknowledged {done} incident(s).", messages.SUCCESS)

    @admin.action(description="Resolve selected incidents", permissions=["change"])
    def resolve(self, request, queryset) -> None:
        done = services.resolve(queryset, by=who(request))
        self.message_user(request, f"Resolved {done} incident(s).", messages.SUCCESS)

    @admin.action(description="Page again on every configured channel", permissions=["change"])
    def page_again(self, request, queryset) -> None:
        if not configured_channels():
            self.message_user(
                request, f"No pager channel is configured, so nobody was paged: {HOW_TO_TURN_ON}.", messages.ERROR
            )
            return
        recorded = pager.page_again(queryset)
        self.message_user(request, f"Recorded {recorded} page(s); they are sent by the task queue.", messages.SUCCESS)

    @admin.action(description="Silence these fingerprints for 1 hour", permissions=["silence"])
    def silence_1h(self, request, queryset) -> None:
        self._silence(request, queryset, 1)

    @admin.action(description="Silence these fingerprints for 24 hours", permissions=["silence"])
    def silence_24h(self, request, queryset) -> None:
        self._silence(request, queryset, 24)

    def has_silence_permission(self, request) -> bool:
        # Silencing writes Silence rows, not incidents: it takes the right to add those.
        return request.user.has_perm("incidents.add_silence")

    def _silence(self, request, queryset, hours) -> None:
        made = services.silence_incidents(queryset, hours=hours, by=who(request))
        self.message_user(
            request, f"Silenced {made} fingerprint(s) for {hours} h; incidents are still recorded.", messages.SUCCESS
        )


def silence_like_this_url(incident: Incident) -> str:
    """The new-silence form filled in for this incident's fingerprint (the form is the confirmation)."""
    fields = {"fingerprint": incident.fingerprint, "source": incident.source, "reason": f"like incident #{incident.pk}"}
    return f"{reverse('admin:incidents_silence_add')}?{urlencode(fields)}"


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "at", "ok", "status", "error"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs type the two differently

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "channel",
        "kind",
        "severity",
        "colored_status",
        "attempts",
        "last_status",
        "subject",
    ]
    list_filter = ["status", "channel", "kind", "severity"]
    search_fields = ["subject", "last_error"]
    inlines = [AttemptInline]
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = [f.name for f in Delivery._meta.fields]

    @admin.display(description="status", ordering="status")
    def colored_status(self, obj) -> str:
        return colored(obj.status)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "source",
        "severity",
        "fingerprint",
        "reason",
        "created_by",
        "created_at",
        "expires_at",
        "active",
    ]
    list_filter = ["severity", "source"]
    search_fields = ["source", "fingerprint", "reason"]
    readonly_fields = ["created_by", "created_at"]

    @admin.display(boolean=True)
    def active(self, obj) -> bool:
        return obj.is_active()

    def get_changeform_initial_data(self, request) -> dict[str, Any]:
        # "Silence like this" fills the matchers in; an hour is the quiet an operator most often wants.
        initial: dict = dict(super().get_changeform_initial_data(request))
        initial.setdefault("expires_at", timezone.now() + timedelta(hours=1))
        return initial

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = who(request)
        super().save_model(request, obj, form, change)


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ["severity", "page_now", "channels", "in_digest"]
    list_editable = ["page_now", "channels", "in_digest"]


@admin.register(ChannelState)
class ChannelStateAdmin(admin.ModelAdmin):
    list_display = ["name", "configured", "last_attempt", "broken_at", "broken_reason", "last_ok_at"]
    readonly_fields = [
        "name",
        "last_attempt",
        "broken_at",
        "broken_reason",
        "last_ok_at",
        "last_failed_at",
        "last_failure",
    ]
    actions = ["repair"]

    @admin.display(boolean=True)
    def configured(self, obj) -> bool:
        return channel_for(obj.name).is_configured()

    @admin.display(description="last attempt")
    def last_attempt(self, obj) -> str:
        text = Truncator(obj.last_attempt()).chars(160)
        return colored(Delivery.FAILED, text) if obj.last_attempt_failed() else text

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Mark repaired (settings fixed): send to this channel again", permissions=["change"])
    def repair(self, request, queryset) -> None:
        fixed = sum(pager.repair_channel(state.name) for state in queryset)
        self.message_user(request, f"Marked {fixed} channel(s) repaired.", messages.SUCCESS)


@admin.register(FileOffset)
class FileOffsetAdmin(admin.ModelAdmin):
    list_display = ["path", "host", "offset", "inode", "updated_at"]
    list_filter = ["host"]
    readonly_fields = ["host", "path", "offset", "inode", "head", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False
