"""manage.py slo_ingest: NDJSON access logs, each line counted once across reruns, rotation and truncation."""

import io
import os
from datetime import timedelta

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from slo import logfile
from slo.models import IngestCursor, Rollup

from .conftest import fold_all


def _lines(n, start=0, status=200, service="web"):
    base = timezone.now() - timedelta(minutes=30)
    return b"".join(
        orjson.dumps(
            {
                "ts": (base + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                "latency_ms": 10 + i % 50,
                "status": status,
                "route": "/x",
                "service": service,
            }
        )
        + b"\n"
        for i in range(start, start + n)
    )


def _stored(service="web"):
    # The minute rows: they take every sample once their minutes are folded (hour and day rows wait for
    # their hour to close).
    fold_all()
    return sum(Rollup.objects.filter(service=service, route="*", resolution="m").values_list("count", flat=True))


@pytest.fixture
def access_log(tmp_path):
    return tmp_path / "access.ndjson"


def test_a_rerun_never_counts_a_line_twice(db, access_log):
    access_log.write_bytes(_lines(100))
    call_command("slo_ingest", str(access_log), stdout=io.StringIO(), stderr=io.StringIO())
    call_command("slo_ingest", str(access_log), stdout=io.StringIO(), stderr=io.StringIO())
    assert _stored() == 100
    with access_log.open("ab") as handle:
        handle.write(_lines(20, start=100))
    call_command("slo_ingest", str(access_log), stdout=io.StringIO(), stderr=io.StringIO())
    assert _stored() == 120
    assert IngestCursor.objects.get().offset == access_log.stat().st_size


def test_an_unfinished_last_line_waits_for_its_newline(db, access_log):
    whole = _lines(3)
    access_log.write_bytes(whole[:-15])
    run = logfile.ingest_file(access_log)
    assert (run.lines, _stored()) == (2, 2)
    access_log.write_bytes(whole)
    logfile.ingest_file(access_log)
    assert _stored() == 3


def test_truncated_file_is_read_again_from_the_start(db, access_log):
    access_log.write_bytes(_lines(50))
    logfile.ingest_file(access_log)
    access_log.write_bytes(_lines(10, start=500))  # copytruncate, then new lines
    run = logfile.ingest_file(access_log)
    assert run.restarted == "truncated"
    assert _stored() == 60


def test_replaced_file_of_the_same_length_is_noticed_by_its_first_line(db, access_log):
    access_log.write_bytes(_lines(10))
    logfile.ingest_file(access_log)
    with access_log.open("r+b") as handle:  # rewritten in place, same inode, grown past the offset
        handle.write(_lines(12, start=900))
    assert logfile.ingest_file(access_log).restarted == "replaced (first line changed)"
    assert _stored() == 22


def test_rotated_file_is_followed_to_its_end_then_the_new_file_is_read(db, access_log):
    access_log.write_bytes(_lines(10))
    steps = iter(
        [
            lambda: access_log.open("ab").write(_lines(5, start=10)),
            lambda: (
                access_log.open("ab").write(_lines(3, start=15)),
                os.rename(access_log, str(access_log) + ".1"),
                access_log.write_bytes(_lines(7, start=100)),
            ),
            lambda: None,
        ]
    )

    def stop():
        step = next(steps, None)
        if step is None:
            return True
        step()
        return False

    logfile.follow(access_log, interval=0, stop=stop)
    assert _stored() == 10 + 5 + 3 + 7


def test_bad_lines_are_skipped_and_reported_with_their_number(db, access_log):
    access_log.write_bytes(
        _lines(3) + b"garbage\n" + b'{"ts": 1, "latency_ms": 1, "status": 200}\n' + _lines(2, start=3)
    )
    out, err = io.StringIO(), io.StringIO()
    call_command("slo_ingest", str(access_log), "--service", "web", stdout=out, stderr=err)
    assert _stored() == 5
    assert "line 4: not valid JSON" in out.getvalue()
    assert "line 5: ts is before 2000" in out.getvalue()
    assert "100.0%" in err.getvalue()  # progress
    assert IngestCursor.objects.get().rejected == 2


def test_rejected_lines_are_listed_in_file_order(db, access_log):
    access_log.write_bytes(
        b'{"ts": 1, "latency_ms": 1, "status": 200}\n' + b"garbage\n" + _lines(1) + b'{"latency_ms": -1}\n' + b"{\n"
    )
    out = io.StringIO()
    call_command("slo_ingest", str(access_log), "--service", "web", stdout=out, stderr=io.StringIO())
    listed = [line.split(":")[0].strip() for line in out.getvalue().splitlines() if line.startswith("  line ")]
    assert listed == ["line 1", "line 2", "line 4", "line 5"]


def test_from_start_reads_a_file_already_read_again(db, access_log):
    access_log.write_bytes(_lines(50))
    call_command("slo_ingest", str(access_log), stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("slo_ingest", str(access_log), "--from-start", stdout=out, stderr=io.StringIO())
    assert "reading from the start again; its 50 lines count again" in out.getvalue()
    assert "50 lines, 50 samples stored" in out.getvalue()
    assert _stored() == 100
    assert IngestCursor.objects.get().lines == 50


def test_lines_without_a_service_take_the_command_option(db, access_log):
    access_log.write_bytes(
        b"".join(
            orjson.dumps({k: v for k, v in orjson.loads(line).items() if k != "service"}) + b"\n"
            for line in _lines(4).splitlines()
        )
    )
    call_command("slo_ingest", str(access_log), "--service", "batch", stdout=io.StringIO(), stderr=io.StringIO())
    assert _stored("batch") == 4


def test_a_line_longer_than_a_chunk_is_skipped(db, access_log, monkeypatch):
    monkeypatch.setattr(logfile, "CHUNK_BYTES", 160)  # a log line is ~110 bytes, the junk 214
    access_log.write_bytes(b'{"junk": "' + b"x" * 200 + b'"}\n' + _lines(2))
    run = logfile.ingest_file(access_log)
    assert (run.rejected, _stored()) == (1, 2)


def test_a_directory_is_a_one_line_error(db, tmp_path):
    with pytest.raises(CommandError, match="Is a directory"):
        call_command("slo_ingest", str(tmp_path), stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.parametrize("interval", ["-1", "nan", "inf", "1e308"])
def test_follow_interval_out_of_range_is_refused(db, access_log, interval):
    with pytest.raises(CommandError, match="seconds from 0.01 to 3600"):
        call_command(
            "slo_ingest",
            str(access_log),
            "--follow",
            "--interval",
            interval,
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )


def test_follow_interval_of_zero_is_refused_rather_than_spinning():
    import argparse

    from slo.management.commands.slo_ingest import _interval

    with pytest.raises(argparse.ArgumentTypeError):
        _interval("0")  # through the command, a regression here would spin instead of failing
    assert _interval("0.5") == 0.5


def test_ctrl_c_is_a_one_line_exit_saying_what_is_stored_and_a_rerun_resumes(db, access_log, monkeypatch):
    monkeypatch.setattr(logfile, "CHUNK_BYTES", 1024)  # ~9 lines a chunk
    access_log.write_bytes(_lines(100))
    store, calls = logfile.ingest.store, []

    def ctrl_c_on_the_third_chunk(deltas, now=None):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return store(deltas, now)

    monkeypatch.setattr(logfile.ingest, "store", ctrl_c_on_the_third_chunk)
    with pytest.raises(CommandError, match=r"interrupted; its first \d+ lines are stored") as caught:
        try:
            call_command("slo_ingest", str(access_log), stdout=io.StringIO(), stderr=io.StringIO())
        except KeyboardInterrupt:  # let through, it would stop the whole test run instead of failing this test
            pytest.fail("Ctrl-C escaped the command as a KeyboardInterrupt traceback")
    cursor = IngestCursor.objects.get()
    assert caught.value.returncode == 130 and f"first {cursor.lines} lines" in str(caught.value)
    assert 0 < cursor.lines == _stored() < 100
    monkeypatch.setattr(logfile.ingest, "store", store)
    call_command("slo_ingest", str(access_log), stdout=io.StringIO(), stderr=io.StringIO())
    assert _stored() == 100


@pytest.mark.parametrize("content", [bytes(range(256)) * 40, _lines(5).replace(b',"service":"web"', b"")])
def test_a_file_of_which_no_line_is_accepted_is_a_one_line_failure(db, access_log, content):
    access_log.write_bytes(content)  # a binary file, or samples naming no service and no --service
    with pytest.raises(CommandError, match=r"nothing stored: none of the [\d,]+ lines read was accepted"):
        call_command("slo_ingest", str(access_log), stdout=io.StringIO(), stderr=io.StringIO())
    assert _stored() == 0


def test_a_rerun_with_nothing_new_to_read_succeeds(db, access_log):
    access_log.write_bytes(_lines(3))
    call_command("slo_ingest", str(access_log), stdout=io.StringIO(), stderr=io.StringIO())
    call_command("slo_ingest", str(access_log), stdout=io.StringIO(), stderr=io.StringIO())
    assert _stored() == 3


def test_follow_on_a_missing_file_says_once_that_it_waits_for_it(db, access_log, monkeypatch):
    looks = []

    def two_looks_then_ctrl_c(*args, **kwargs):
        looks.append(1)
        if len(looks) > 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(logfile.time, "sleep", two_looks_then_ctrl_c)
    err = io.StringIO()
    call_command("slo_ingest", str(access_log), "--follow", "--interval", "0.01", stdout=io.StringIO(), stderr=err)
    assert err.getvalue().count("waiting for it to appear") == 1 and str(access_log) in err.getvalue()


def test_interval_without_follow_is_refused(db, access_log):
    access_log.write_bytes(_lines(3))
    with pytest.raises(CommandError, match="--interval only applies with --follow"):
        call_command("slo_ingest", str(access_log), "--interval", "5", stdout=io.StringIO(), stderr=io.StringIO())
    assert _stored() == 0
