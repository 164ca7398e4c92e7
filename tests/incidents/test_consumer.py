"""The pager reads logs/*.ndjson: CRITICAL lines become incidents, each line once, across rotation."""

import os

import orjson
import pytest

from incidents import consumer
from incidents.consumer import consume_logs
from incidents.models import FileOffset, Incident

pytestmark = pytest.mark.django_db


def write(path, *records, partial=b""):
    with open(path, "ab") as handle:
        for record in records:
            handle.write(orjson.dumps(record) + b"\n")
        handle.write(partial)


def line(n, sev="CRITICAL", key="sev"):
    return {
        "ts": "2026-11-22T10:00:00Z",
        "event": "probe",
        key: sev,
        "msg": f"probe {n} failed",
        "fingerprint": f"fp-{n}",
        "source": "uptime",
    }


@pytest.fixture
def logs(log_dir):
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir


def counts():
    return dict(Incident.objects.values_list("fingerprint", "count"))


def test_critical_lines_become_incidents_and_others_do_not(logs):
    write(
        logs / "uptime.ndjson",
        line(1),
        line(2, "warning"),
        line(3, "critical", "severity"),
        line(4, "CRITICAL", "level"),
        line(5, "info", "level"),
    )
    assert consume_logs() == {"uptime.ndjson": 3}
    assert counts() == {"fp-1": 1, "fp-3": 1, "fp-4": 1}
    incident = Incident.objects.get(fingerprint="fp-1")
    assert (incident.severity, incident.source, incident.message) == ("CRITICAL", "uptime", "probe 1 failed")


def test_nothing_is_read_twice(logs):
    write(logs / "uptime.ndjson", line(1))
    consume_logs()
    consume_logs()
    write(logs / "uptime.ndjson", line(2))
    assert consume_logs() == {"uptime.ndjson": 1}
    assert counts() == {"fp-1": 1, "fp-2": 1}
    assert FileOffset.objects.get().offset == os.path.getsize(logs / "uptime.ndjson")


def test_a_half_written_line_waits_for_the_next_run(logs):
    path = logs / "uptime.ndjson"
    write(path, line(1), partial=b'{"sev":"CRITICAL","msg":"half')
    assert consume_logs() == {"uptime.ndjson": 1}
    with open(path, "ab") as handle:
        handle.write(b' done","fingerprint":"fp-h"}\n')
    assert consume_logs() == {"uptime.ndjson": 1}
    assert counts() == {"fp-1": 1, "fp-h": 1}


def test_a_rotated_file_is_read_once(logs):
    path = logs / "uptime.ndjson"
    write(path, line(1), line(2))
    consume_logs()
    write(path, line(3))  # written after our run, just before the rotation
    os.rename(path, logs / "uptime.ndjson.1")
    write(path, line(4))
    assert consume_logs() == {"uptime.ndjson": 2}
    assert consume_logs() == {"uptime.ndjson": 0}
    assert counts() == {"fp-1": 1, "fp-2": 1, "fp-3": 1, "fp-4": 1}


def test_a_truncated_file_is_read_from_its_start(logs):
    path = logs / "uptime.ndjson"
    write(path, line(1), line(2), line(3))
    consume_logs()
    with open(path, "wb"):
        pass  # copytruncate
    write(path, line(7))
    assert consume_logs() == {"uptime.ndjson": 1}
    assert counts() == {"fp-1": 1, "fp-2": 1, "fp-3": 1, "fp-7": 1}


def test_a_replaced_file_longer_than_the_offset_is_still_read_from_its_start(logs):
    path = logs / "uptime.ndjson"
    write(path, line(1))
    consume_logs()
    os.unlink(path)
    write(path, line(8), line(9))
    consume_logs()
    assert counts() == {"fp-1": 1, "fp-8": 1, "fp-9": 1}


def test_our_own_page_log_and_garbage_lines_are_ignored(logs):
    write(logs / "incidents.ndjson", {"event": "page", "sev": "CRITICAL", "channel": "telegram", "id": "1"})
    with open(logs / "other.ndjson", "wb") as handle:
        handle.write(b"not json\n[1,2]\n")
    assert consume_logs() == {"other.ndjson": 0}
    assert not Incident.objects.exists()


def test_a_critical_line_too_deep_to_store_still_pages_and_does_not_stop_the_pager(logs):
    # Written by hand: orjson itself will not write nesting this deep, though it reads it.
    deep = orjson.dumps(line(1))[:-1] + b', "detail": ' + b"[" * 300 + b"1" + b"]" * 300 + b"}\n"
    write(logs / "uptime.ndjson", partial=deep)
    write(logs / "uptime.ndjson", line(2))
    assert consume_logs() == {"uptime.ndjson": 2}
    assert counts() == {"fp-1": 1, "fp-2": 1}
    assert Incident.objects.get(fingerprint="fp-1").meta["line"].startswith('{"ts":')
    assert consume_logs() == {"uptime.ndjson": 0}  # the offset moved past it


def test_a_critical_line_with_a_nul_still_pages_with_the_nul_replaced_and_the_pager_goes_on(logs):
    write(
        logs / "uptime.ndjson",
        partial=b'{"sev":"CRITICAL","msg":"x\\u0000y","extra":"a\\u0000b","fingerprint":"fp-nul"}\n',
    )
    write(logs / "uptime.ndjson", line(2))
    assert consume_logs() == {"uptime.ndjson": 2}
    incident = Incident.objects.get(fingerprint="fp-nul")
    assert (incident.message, incident.meta["extra"]) == ("x\ufffdy", "a\ufffdb")
    write(logs / "uptime.ndjson", line(3))
    assert consume_logs() == {"uptime.ndjson": 1}
    assert counts() == {"fp-nul": 1, "fp-2": 1, "fp-3": 1}


def test_a_line_longer_than_a_run_reads_is_skipped_and_the_lines_after_it_page(logs):
    from incidents.consumer import MAX_BYTES_PER_RUN

    path = logs / "uptime.ndjson"
    huge = orjson.dumps({**line(1), "pad": "x" * MAX_BYTES_PER_RUN}) + b"\n"
    write(path, partial=huge[:-1])
    assert consume_logs() == {"uptime.ndjson": 0}  # not ended yet: it waits
    write(path, partial=b"\n")
    write(path, line(2))
    assert consume_logs() == {"uptime.ndjson": 1}
    assert counts() == {"fp-2": 1}
    assert FileOffset.objects.get().offset == os.path.getsize(path)


@pytest.mark.parametrize(
    "name", ["costs.ndjson", "slo_budget.ndjson", "portal_access.ndjson", "autoscale.ndjson", "incidents.ndjson"]
)
def test_the_consoles_own_event_files_are_not_read_back(logs, name):
    write(logs / name, {"ts": "2026-11-22T10:00:00Z", "event": "cap_reached", "sev": "CRITICAL", "scope": "daily"})
    write(logs / "uptime.ndjson", line(1))
    assert consume_logs() == {"uptime.ndjson": 1}
    assert counts() == {"fp-1": 1}


def test_hosts_with_their_own_log_dir_at_one_path_never_reread_each_others_files(logs, tmp_path, settings):
    # Two hosts, each with its own LOG_DIR at the same path: here the two files take turns at that
    # path (a rename keeps each file's inode), as each host sees its own.
    path, parked = logs / "uptime.ndjson", {"a": tmp_path / "a.ndjson", "b": tmp_path / "b.ndjson"}
    write(parked["a"], line(1), line(2))
    write(parked["b"], line(3))

    def run_on(host):
        settings.LOG_READER_HOST = host
        os.rename(parked[host], path)
        try:
            return consume_logs()
        finally:
            os.rename(path, parked[host])

    assert run_on("a") == {"uptime.ndjson": 2}
    assert run_on("b") == {"uptime.ndjson": 1}
    write(parked["a"], line(4))
    assert run_on("a") == {"uptime.ndjson": 1}, "host a reads on from where it stopped"
    assert run_on("b") == {"uptime.ndjson": 0}
    assert counts() == {"fp-1": 1, "fp-2": 1, "fp-3": 1, "fp-4": 1}
    assert sorted(FileOffset.objects.values_list("host", flat=True)) == ["a", "b"]


def test_an_offset_kept_before_hosts_were_told_apart_is_taken_over_not_reread(logs, settings):
    path = logs / "uptime.ndjson"
    write(path, line(1))
    consume_logs()
    FileOffset.objects.update(host="")  # as the upgrade leaves the rows it had
    settings.LOG_READER_HOST = "web-1"
    write(path, line(2))
    assert consume_logs() == {"uptime.ndjson": 1}
    assert counts() == {"fp-1": 1, "fp-2": 1}
    assert list(FileOffset.objects.values_list("host", flat=True)) == ["web-1"]


def test_a_first_line_that_completes_while_the_pager_reads_is_not_read_twice(logs, monkeypatch):
    """The file's first line was half written when the pager took its head, and whole when it read:
    the stored head must be the whole line's, or the next run takes the file for a new one."""
    path = logs / "uptime.ndjson"
    write(path, partial=orjson.dumps(line(1))[:20])  # the writer is mid-line as the run starts
    read_lines = consumer._read_lines

    def finished_meanwhile(target, offset):
        path.write_bytes(orjson.dumps(line(1)) + b"\n")  # the same line, now whole
        return read_lines(target, offset)

    monkeypatch.setattr(consumer, "_read_lines", finished_meanwhile)
    consume_logs()
    monkeypatch.setattr(consumer, "_read_lines", read_lines)
    consume_logs()
    assert counts() == {"fp-1": 1}
