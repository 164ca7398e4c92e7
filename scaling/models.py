"""Worker scaling's state: the signals it read, the decisions it took, and what was last applied."""

from django.db import models


class SignalSample(models.Model):
    """One reading of the load: measured from the console's own queue, or pushed by another system."""

    class Source(models.TextChoices):
        MEASURED = "measured", "measured here"
        PUSHED = "pushed", "pushed (POST /api/scale/signals)"

    at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    queue_depth = models.PositiveIntegerField()
    queue_time_s = models.FloatField(null=True, blank=True)
    arrivals_per_min = models.FloatField(null=True, blank=True)
    p95_ms = models.FloatField(null=True, blank=True)
    error_rate = models.FloatField(null=True, blank=True)
    workers_actual = models.PositiveIntegerField(null=True, blank=True)
    jobs_per_worker_min = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} depth {self.queue_depth}"

    def to_dict(self) -> dict:
        return {
            "at": self.at.isoformat(),
            "source": self.source,
            "queue_depth": self.queue_depth,
            "queue_time_s": self.queue_time_s,
            "arrivals_per_min": self.arrivals_per_min,
            "p95_ms": self.p95_ms,
            "error_rate": self.error_rate,
            "workers_actual": self.workers_actual,
            "jobs_per_worker_min": self.jobs_per_worker_min,
        }


class Decision(models.Model):
    """One decision: what the policy wanted, what it did, why, and every input it read."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "applied"
        HELD = "held", "held"
        DRY = "dry", "dry run"
        FAILED = "failed", "actuator failed"

    at = models.DateTimeField(db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, db_index=True)
    desired = models.PositiveIntegerField()
    actual = models.PositiveIntegerField(help_text="workers running when the decision was taken")
    recommended = models.PositiveIntegerField(help_text="what the formula asked for, within bounds")
    raw = models.FloatField(help_text="the formula's value before rounding and clamps")
    reason = models.TextField()
    constraints = models.JSONField(default=list, help_text="the constraints that held this decision back")
    inputs = models.JSONField(default=dict)
    actuator = models.CharField(max_length=16)
    error = models.TextField(blank=True)
    by = models.CharField(max_length=100, blank=True, help_text="who asked: the schedule, a command or a key")

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.outcome} {self.actual}->{self.desired}"

    def to_dict(self) -> dict:
        return {
            "id": self.pk,
            "at": self.at.isoformat(),
            "outcome": self.outcome,
            "desired": self.desired,
            "actual": self.actual,
            "recommended": self.recommended,
            "raw": self.raw,
            "reason": self.reason,
            "constraints": self.constraints,
            "actuator": self.actuator,
            "error": self.error,
        }


class ScaleState(models.Model):
    """The one row every decision locks: what was last applied, when, and the actuator's failures in a row."""

    ROW = 1

    applied_workers = models.PositiveIntegerField(null=True, blank=True)
    last_change_at = models.DateTimeField(null=True, blank=True)
    failures_in_row = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Set by ops recovery (scaling.pool.restart); a qcluster pool that sees it change restarts its clusters.
    pool_restart_requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"applied {self.applied_workers}"
