"""The kernel's admin screens: dash keys, and the read-only base every app's history screens use."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone

from . import keys
from .auth import forget_resolved_keys
from .models import AuditEntry, DashKey, JobRun


class ReadOnlyAdmin(admin.ModelAdmin):
    """History screens: nothing typed in, nothing deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DashKey)
class DashKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "prefix", "created", "last_used", "expires", "revoked", "replaced_by")
    list_filter = ("role", ("revoked", admin.EmptyFieldListFilter), ("expires", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created", "last_used", "replaced_by")
    fields = ("name", "role", "prefix", "created", "last_used", "expires", "revoked", "replaced_by")
    actions = ["revoke", "rotate"]

    def get_fields(self, request, obj=None):
        # A new key is issued active: revoking is a later change (or the action), never a typo here.
        return ("name", "role") if obj is None else self.fields

    def save_model(self, request, obj, form, change):
        if not change:
            # The raw key exists only in this message: it is stored hashed and cannot be shown again.
            issued, raw = DashKey.issue(obj.name, obj.role)
            obj.pk, obj.prefix, obj.key_hash, obj.created = issued.pk, issued.prefix, issued.key_hash, issued.created
            obj._state.adding = False
            messages.warning(request, f"New key for {obj.name} (copy it now, it is shown only once): {raw}")
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        count = queryset.filter(revoked__isnull=True).update(revoked=timezone.now())
        forget_resolved_keys()
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)

    @admin.action(description="Rotate the selected keys (the old ones work 7 more days)", permissions=["change"])
    def rotate(self, request, queryset):
        for name in sorted(set(queryset.values_list("name", flat=True))):
            try:
                successor, raw = keys.rotate(name, overlap_days=7)
            except ValidationError as exc:
                self.message_user(request, f"{name}: {'; '.join(exc.messages)}", messages.ERROR)
                continue
            # As when a key is added: the raw key exists only in this message.
            messages.warning(request, f"New key for {name} (copy it now, it is shown only once): {raw}")


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    """Each periodic job's runs: the last result of a backup, a drill, a rotation..."""

    list_display = ("name", "started", "outcome", "duration", "summary")
    list_filter = ("outcome", "name")
    search_fields = ("name", "summary")
    date_hierarchy = "started"

    @admin.display(description="seconds")
    def duration(self, run):
        return f"{run.duration_s:.1f}"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit chain: every write through the admin or the API. `manage.py audit_verify` checks it."""

    list_display = ("seq", "at", "actor", "address", "action", "app_label", "model", "object_id", "fields")
    list_filter = ("action", "app_label", "model")
    search_fields = ("actor", "object_id", "address", "model")
    date_hierarchy = "at"
