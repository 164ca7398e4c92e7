"""The inbox screen: review, acknowledge, resolve, page again, silence; every delivery attempt inline."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from echopilot.admin import CappedCountPaginator, recent_values_filter

from . import pager, services
from .channels import HOW_TO_TURN_ON, channel_for, configured_channels
from .models import ChannelState, Delivery, DeliveryAttempt, FileOffset, Incident, Route, Silence

STATUS_COLORS = {Delivery.SENT: "#1a7f37", Delivery.FAILED: "#cf222e", Delivery.CAPPED: "#9a6700"}


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
    def colored_status(self, obj):
        return colored(obj.status)

    def has_add_permission(self, request, obj=None):
        return False


def colored(status, text=None):
    """`text` (the status itself by default) in the status's colour."""
    text = status if text is None else text
    color = STATUS_COLORS.get(status)
    return format_html('<strong style="color:{}">{}</strong>', color, text) if color else text


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "severity",
        "status",
        "source",
        "short_message",
        "count",
        "first_seen",
        "last_seen",
        "page_state",
    ]
    list_filter = ["status", "severity", recent_values_filter("source"), "last_seen"]
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
        "meta",
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
    fields = readonly_fields + ["resolve_note", "attempts"]  # type: ignore[assignment]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + ["attempts"]

    @admin.display(description="delivery attempts")
    def attempts(self, obj):
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

    def has_add_permission(self, request):
        return False

    @admin.display(description="message")
    def short_message(self, obj):
        return obj.message[:100]

    @admin.display(description="pages")
    def page_state(self, obj):
        states = [d.status for d in obj.deliveries.all()]
        if not states:
            return "silenced" if obj.silenced_by_id else "-"
        return format_html(", ".join("{}" for _ in states), *[colored(s) for s in states])

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")

    @admin.action(description="Acknowledge selected incidents", permissions=["change"])
    def acknowledge(self, request, queryset):
        done = services.acknowledge(queryset, by=who(request))
        self.message_user(request, f"Acknowledged {done} incident(s).", messages.SUCCESS)

    @admin.action(description="Resolve selected incidents", permissions=["change"])
    def resolve(self, request, queryset):
        done = services.resolve(queryset, by=who(request))
        self.message_user(request, f"Resolved {done} incident(s).", messages.SUCCESS)

    @admin.action(description="Page again on every configured channel", permissions=["change"])
    def page_again(self, request, queryset):
        if not configured_channels():
            self.message_user(
                request, f"No pager channel is configured, so nobody was paged: {HOW_TO_TURN_ON}.", messages.ERROR
            )
            return
        recorded = pager.page_again(queryset)
        self.message_user(request, f"Recorded {recorded} page(s); they are sent by the task queue.", messages.SUCCESS)

    @admin.action(description="Silence these fingerprints for 1 hour", permissions=["silence"])
    def silence_1h(self, request, queryset):
        self._silence(request, queryset, 1)

    @admin.action(description="Silence these fingerprints for 24 hours", permissions=["silence"])
    def silence_24h(self, request, queryset):
        self._silence(request, queryset, 24)

    def has_silence_permission(self, request):
        # Silencing writes Silence rows, not incidents: it takes the right to add those.
        return request.user.has_perm("incidents.add_silence")

    def _silence(self, request, queryset, hours):
        made = services.silence_incidents(queryset, hours=hours, by=who(request))
        self.message_user(
            request, f"Silenced {made} fingerprint(s) for {hours} h; incidents are still recorded.", messages.SUCCESS
        )


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "at", "ok", "status", "error"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs type the two differently

    def has_add_permission(self, request, obj=None):
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
    def colored_status(self, obj):
        return colored(obj.status)

    def has_add_permission(self, request):
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
    def active(self, obj):
        return obj.is_active()

    def save_model(self, request, obj, form, change):
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
    def configured(self, obj):
        return channel_for(obj.name).is_configured()

    @admin.display(description="last attempt")
    def last_attempt(self, obj):
        text = Truncator(obj.last_attempt()).chars(160)
        return colored(Delivery.FAILED, text) if obj.last_attempt_failed() else text

    def has_add_permission(self, request):
        return False

    @admin.action(description="Mark repaired (settings fixed): send to this channel again", permissions=["change"])
    def repair(self, request, queryset):
        fixed = sum(pager.repair_channel(state.name) for state in queryset)
        self.message_user(request, f"Marked {fixed} channel(s) repaired.", messages.SUCCESS)


@admin.register(FileOffset)
class FileOffsetAdmin(admin.ModelAdmin):
    list_display = ["path", "host", "offset", "inode", "updated_at"]
    list_filter = ["host"]
    readonly_fields = ["host", "path", "offset", "inode", "head", "updated_at"]

    def has_add_permission(self, request):
        return False
