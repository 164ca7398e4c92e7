"""The ops jobs' common edge: each run recorded by the kernel's `run_job`, and a failure paged as a
CRITICAL incident (one per job while it keeps failing: the fingerprint is the job's name)."""

from echopilot import audit, keys
from echopilot.jobs import run_job
from echopilot.models import JobRun
from incidents.services import raise_incident


def page_failure(run: JobRun) -> None:
    """Raise a CRITICAL incident for a failed job run."""
    raise_incident(
        "CRITICAL",
        f"{run.name} failed: {run.summary}"[:1000],
        "ops",
        {"job": run.name, "run_id": run.pk},
        fingerprint=f"ops-job:{run.name}",
    )


def run(name: str, func, *, feature: str | None = None) -> JobRun:
    """Run one ops job: recorded, logged to LOG_DIR/<feature>.ndjson, paged when it fails."""
    return run_job(name, func, feature=feature or name, on_failure=page_failure)


def check_audit_chain() -> dict:
    """The audit_verify job: the kernel's chain walk, as a job result. The writes still owed an
    entry (the costs ledger's, chained in bulk every minute) are chained first, so the walk covers
    every write made before it."""
    sealed = audit.seal_pending()
    result = {**audit.verify_chain(), "sealed": sealed}
    if result["ok"]:
        return {**result, "summary": f"{result['checked']:,} audit entries, the chain holds"}
    return {**result, "summary": result["break"]["message"]}


def check_dash_keys(now=None) -> dict:
    """The daily key check: an incident (WARNING) for each key older than DASH_KEY_MAX_AGE_DAYS or
    expiring within DASH_KEY_EXPIRY_WARN_DAYS. The job itself fails only if it cannot look."""
    findings = keys.keys_needing_rotation(now)
    for finding in findings:
        raise_incident(
            "WARNING",
            f"dash key '{finding.key.name}' ({finding.key.prefix}…) {finding.reason}: "
            f"run `manage.py dashkey rotate {finding.key.name}`",
            "ops",
            {"key": finding.key.name, "prefix": finding.key.prefix, "reason": finding.reason},
            fingerprint=finding.fingerprint,
            now=now,
        )
    listed = [f"{f.key.name} ({f.key.prefix}…) {f.reason}" for f in findings]
    summary = f"{len(findings)} key(s) to rotate: " + "; ".join(listed) if findings else "no key needs rotating"
    return {"ok": True, "summary": summary, "keys": listed}
