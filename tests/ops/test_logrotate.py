import threading
import time
from datetime import timedelta

import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone

from echopilot.events import append_event
from echopilot.models import JobRun
from incidents import consumer
from incidents.models import Incident
from ops import logrotate

pytestmark = pytest.mark.django_db


def lines_of(path) -> list[dict]:
    data = logrotate.read_rotated(path) if path.name.endswith(".gz") else path.read_bytes()
    return [orjson.loads(line) for line in data.splitlines()]


def every_line(log_dir, stem: str) -> list[dict]:
    rotated = sorted(log_dir.glob(f"{stem}-*.ndjson.gz"))
    current = [log_dir / f"{stem}.ndjson"] if (log_dir / f"{stem}.ndjson").exists() else []
    return [line for path in [*rotated, *current] for line in lines_of(path)]


def test_a_file_with_lines_from_yesterday_becomes_a_dated_gzip(log_dir):
    append_event("worker", "tick", n=1)
    tomorrow = timezone.now() + timedelta(days=1)

    logrotate.rotate_logs(now=tomorrow)

    day = timezone.now().date().isoformat()
    rotated = log_dir / f"worker-{day}.ndjson.gz"
    assert [line["n"] for line in lines_of(rotated)] == [1]
    assert not (log_dir / "worker.ndjson").exists()
    append_event("worker", "tick", n=2)
    assert [line["n"] for line in lines_of(log_dir / "worker.ndjson")] == [2]


def test_todays_files_are_left_alone(log_dir):
    append_event("worker", "tick", n=1)
    result = logrotate.rotate_logs()
    assert result["rotated"] == [] and (log_dir / "worker.ndjson").exists()


def test_rotated_files_older_than_keep_days_are_deleted(log_dir, settings):
    settings.LOG_KEEP_DAYS = 90
    today = timezone.now().date()
    old = log_dir / f"worker-{today - timedelta(days=91):%Y-%m-%d}.ndjson.gz"
    kept = log_dir / f"worker-{today - timedelta(days=89):%Y-%m-%d}.ndjson.gz"
    log_dir.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"")
    kept.write_bytes(b"")

    call_command("rotate_logs")

    assert not old.exists() and kept.exists()
    assert JobRun.objects.get(name="log_rotation").result["deleted"] == [old.name]


@pytest.mark.django_db(transaction=True)
def test_rotation_while_a_writer_appends_loses_and_repeats_nothing_and_the_pager_pages_each_line_once(log_dir):
    """A writer appends 4,000 lines (every 40th CRITICAL) while the pager reads and the file is
    rotated over and over; afterwards every line is in exactly one file, once, and each CRITICAL
    line opened exactly one incident with a count of 1 (a replayed line would count 2)."""
    total, every = 4000, 40
    done = threading.Event()

    def write():
        for n in range(total):
            fields = {"sev": "CRITICAL", "fingerprint": f"line-{n}", "msg": f"line {n}"} if n % every == 0 else {}
            append_event("worker", "tick", n=n, **fields)
            time.sleep(0.0005)  # a steady writer, so that rotations land all through its run
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    tomorrow = timezone.now() + timedelta(days=1)
    rotations = 0
    try:
        while not done.is_set() or rotations < 3:
            consumer.consume_logs()
            # The worker's file only: the pager's own event files are rotated too.
            rotated = logrotate.rotate_logs(now=tomorrow)["rotated"]
            rotations += len([name for name in rotated if name.startswith("worker-")])
            if rotations > 200:
                break
    finally:
        writer.join()
    consumer.consume_logs()

    numbers = [line["n"] for line in every_line(log_dir, "worker")]
    assert sorted(numbers) == list(range(total))  # none lost, none twice
    assert rotations >= 3 and len(list(log_dir.glob("worker-*.ndjson.gz"))) >= 3
    incidents = list(Incident.objects.filter(fingerprint__startswith="line-").values_list("fingerprint", "count"))
    assert sorted(incidents) == sorted((f"line-{n}", 1) for n in range(0, total, every))


def test_a_rotation_interrupted_after_the_rename_is_finished_next_time(log_dir):
    append_event("worker", "tick", n=1, sev="CRITICAL", fingerprint="read-before")
    consumer.consume_logs()
    append_event("worker", "tick", n=2, sev="CRITICAL", fingerprint="appended-after")
    aside = log_dir / "worker.ndjson.1"
    (log_dir / "worker.ndjson").rename(aside)  # the crash: renamed, never compressed

    logrotate.rotate_logs()

    assert not aside.exists()
    assert [line["n"] for line in every_line(log_dir, "worker")] == [1, 2]
    pages = dict(Incident.objects.values_list("fingerprint", "count"))
    assert pages == {"read-before": 1, "appended-after": 1}
