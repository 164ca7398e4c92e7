from django.contrib import admin  # noqa: F401

# --- Backups and DR drills (issue 25) ---------------------------------------------------------------
from echopilot.admin import ReadOnlyAdmin  # noqa: E402

from .models import Backup, DrillReport  # noqa: E402


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
