from django.db import models  # noqa: F401

# --- Backups and DR drills (issue 25) ---------------------------------------------------------------


class Backup(models.Model):
    """One backup archive under BACKUP_DIR, as taken; the archive and its .sha256 file are the truth,
    this row is what the admin and the card show."""

    name = models.CharField(max_length=200, unique=True)
    created = models.DateTimeField()
    engine = models.CharField(max_length=20)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    tables = models.IntegerField(default=0)
    rows = models.BigIntegerField(default=0)
    uploaded = models.BooleanField(null=True, help_text="empty: no BACKUP_UPLOAD_COMMAND set")
    last_verified = models.DateTimeField(null=True, blank=True)
    verified_ok = models.BooleanField(null=True)
    verify_problem = models.TextField(blank=True)
    deleted = models.DateTimeField(null=True, blank=True, help_text="removed after BACKUP_KEEP_DAYS")

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return self.name


class DrillReport(models.Model):
    """One DR drill: the latest backup restored into a scratch database and compared."""

    class Outcome(models.TextChoices):
        PASSED = "passed", "passed"
        FAILED = "failed", "failed"

    started = models.DateTimeField()
    backup_name = models.CharField(max_length=200, blank=True)
    engine = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    rto_s = models.FloatField(null=True, help_text="seconds to restore, migrate and count")
    rpo_s = models.FloatField(null=True, help_text="backup time minus the newest restored row's time")
    problems = models.JSONField(default=list, blank=True)
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started"]

    def __str__(self):
        return f"drill {self.started:%Y-%m-%d %H:%M} {self.outcome}"


# --- end of backups and DR drills ---------------------------------------------------------------------
