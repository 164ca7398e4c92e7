"""The kernel's admin screens: dash keys, and the read-only base every app's history screens use."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property

from . import keys
from .auth import forget_resolved_keys
from .models import AuditEntry, DashKey, HostClock, JobRun

API_ADMIN_PERMISSION = "echopilot.api_admin"


class ReadOnlyAdmin(admin.ModelAdmin):
    """History screens: nothing typed in, nothing deleted by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class CappedCountPaginator(Paginator):
    """Counts no further than CAP rows: an exact count of a big table reads every row on every page
    view. Rows past the first CAP are reached through the filters (a day, a model)."""

    CAP = 10_000

    @cached_property
    def counted(self) -> int:
        return self.object_list[: self.CAP + 1].count()  # type: ignore[attr-defined]  # a QuerySet here

    @cached_property
    def count(self) -> int:
        return min(self.counted, self.CAP)

    @property
    def capped(self) -> bool:
        """More rows match than the count says (templates/admin/pagination.html tells)."""
        return self.counted > self.CAP


class BigHistoryAdmin(ReadOnlyAdmin):
    """History lists that grow by the year: a count that stops at CappedCountPaginator.CAP, and no
    date hierarchy (its year and month links are a DISTINCT over the whole table; use a date
    filter). Filters on free-text columns use `recent_values_filter`."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100


def recent_values_filter(field: str, title: str = "", recent: int = 1_000) -> type[admin.SimpleListFilter]:
    """A list filter offering the values of `field` among the newest `recent` rows: the table's
    distinct values would mean reading the whole table on every page view. Any value can still be
    filtered on through the URL (?field=value)."""

    class RecentValues(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin) -> list:
            newest = model_admin.get_queryset(request).order_by("-pk").values_list(field, flat=True)[:recent]
            return [(str(value), str(value)) for value in sorted(set(newest), key=str)]

        def queryset(self, request, queryset) -> QuerySet[Any]:
            return queryset if self.value() is None else queryset.filter(**{field: self.value()})

    RecentValues.title = title or field.replace("_", " ")
    RecentValues.__name__ = f"Recent{field.title().replace('_', '')}Filter"
    return RecentValues


@admin.register(DashKey)
class DashKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "prefix", "created", "last_used", "expires", "revoked", "replaced_by")
    list_filter = ("role", ("revoked", admin.EmptyFieldListFilter), ("expires", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created", "last_used", "replaced_by")
    fields = ("name", "role", "prefix", "created", "last_used", "expires", "revoked", "replaced_by")
    actions = ["revoke", "rotate"]

    def get_fields(self, request, obj=None) -> tuple[str, ...]:
        # A new key is issued active: revoking is a later change (or the action), never a typo here.
        return ("name", "role") if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None) -> tuple[str, ...]:
        # Revocation is final: a revoked key is history, nothing on it can be edited back to life.
        if obj is not None and obj.revoked:
            return self.fields
        # The role is what the key may do in the API: only someone who may do it all can hand it out.
        if not request.user.has_perm(API_ADMIN_PERMISSION):
            return (*self.readonly_fields, "role")
        return self.readonly_fields

    # Django logs a plain-text message as readily as its structured list; the stubs allow only the list.
    def construct_change_message(  # type: ignore[override]
        self, request, form, formsets, add=False
    ) -> list[dict[str, dict[str, list[str]]]] | str:
        """What changed on a key, with the role's old and new value, for the admin's history."""
        if add or not form.changed_data:
            return super().construct_change_message(request, form, formsets, add)
        said = []
        if "role" in form.changed_data:
            said.append(f"Changed role from {form.initial.get('role')} to {form.cleaned_data['role']}.")
        if "revoked" in form.changed_data and form.cleaned_data.get("revoked"):
            said.append("Revoked.")
        if "name" in form.changed_data:
            said.append(f"Renamed from {form.initial.get('name')!r} to {form.cleaned_data['name']!r}.")
        return " ".join(said)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            self._keep_revocation_and_role(request, obj)
        if not change:
            # The raw key exists only in this message: it is stored hashed and cannot be shown again.
            issued, raw = DashKey.issue(obj.name, obj.role)
            obj.pk, obj.prefix, obj.key_hash, obj.created = issued.pk, issued.prefix, issued.key_hash, issued.created
            obj._state.adding = False
            messages.warning(request, f"New key for {obj.name} (copy it now, it is shown only once): {raw}")
            return
        super().save_model(request, obj, form, change)

    def _keep_revocation_and_role(self, request, obj) -> None:
        """Whatever the form posted, a stored revocation stays, and so does the role unless this user
        holds the API admin permission (the read-only fields already hide both; this is the rule)."""
        stored = DashKey.objects.get(pk=obj.pk)
        if stored.revoked:
            obj.revoked = stored.revoked
            obj.name, obj.role = stored.name, stored.role
        if obj.role != stored.role and not request.user.has_perm(API_ADMIN_PERMISSION):
            raise PermissionDenied("changing a key's role needs the API admin permission")

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        now = timezone.now()
        keys = list(queryset.filter(revoked__isnull=True))
        count = DashKey.objects.filter(pk__in=[k.pk for k in keys], revoked__isnull=True).update(revoked=now)
        for key in keys:
            self.log_change(request, key, "Revoked.")
        forget_resolved_keys()
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)

    @admin.action(description="Rotate the selected keys (the old ones work 7 more days)", permissions=["change"])
    def rotate(self, request, queryset) -> None:
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
    def duration(self, run) -> str:
        return f"{run.duration_s:.1f}"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit chain: every write through the admin or the API. `manage.py audit_verify` checks it."""

    list_display = ("seq", "at", "actor", "address", "action", "app_label", "model", "object_id", "fields")
    list_filter = ("action", "app_label", "model")
    search_fields = ("actor", "object_id", "address", "model")
    date_hierarchy = "at"


@admin.register(HostClock)
class HostClockAdmin(ReadOnlyAdmin):
    """Each host's clock against the database's, as its web workers and task runners last noted it
    (about once a minute): the ops check's host_clocks reads the same rows."""

    list_display = ("host", "role", "offset", "measured_at", "pid")
    list_filter = ("role",)
    search_fields = ("host",)
    ordering = ("-measured_at",)

    @admin.display(description="offset (s, + ahead)", ordering="offset_s")
    def offset(self, row) -> str:
        return f"{row.offset_s:+.3f}"
