"""The issue's acceptance runs on a fresh console (its own SQLite file, processes of its own): the ops
check passes with a qcluster and fails within 10 s naming the broker when the broker does not answer;
a recover requeues a real failed task, which then succeeds."""

import pytest

from .console import Console, RedisServer, SilentServer, free_port, wait_for

DEADLINE_S = 10


def by_name(report: dict) -> dict:
    return {c["name"]: c for c in report["checks"]}


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def console_on_redis(tmp_path, redis):
    console = Console(tmp_path, redis_url=redis.url)
    # A pager channel configured (and not yet used), so that a healthy console has nothing to warn about.
    console.env["PAGER_WEBHOOK_URL"] = "http://127.0.0.1:18699/pager"
    assert console.manage("migrate", "-v0").returncode == 0
    assert console.manage("setup_schedules").returncode == 0
    yield console
    console.stop_cluster()


@pytest.fixture
def console_on_orm(tmp_path):
    console = Console(tmp_path)
    assert console.manage("migrate", "-v0").returncode == 0
    assert console.manage("setup_schedules").returncode == 0
    yield console
    console.stop_cluster()


def test_ops_check_passes_with_a_qcluster_and_fails_within_10_s_naming_redis_once_it_stops(console_on_redis, redis):
    console_on_redis.start_cluster()
    assert wait_for(lambda: by_name(console_on_redis.ops_check()[1])["qcluster"]["status"] == "ok", 60)

    code, report, _ = console_on_redis.ops_check()
    checks = by_name(report)
    assert (report["status"], code) == ("ok", 0), report
    assert checks["broker"]["status"] == checks["qcluster"]["status"] == checks["database"]["status"] == "ok"
    assert "Redis broker" in checks["broker"]["detail"]

    redis.stop()
    code, report, wall_s = console_on_redis.ops_check()
    checks = by_name(report)
    assert code == 2 and report["status"] == "fail"
    assert checks["broker"]["status"] == "fail" and "Redis broker" in checks["broker"]["detail"]
    assert checks["qcluster"]["status"] == "fail"
    assert report["duration_ms"] < DEADLINE_S * 1000
    print(f"ops check with Redis stopped: answered in {report['duration_ms']} ms ({wall_s:.1f} s with startup)")


def test_ops_check_answers_within_10_s_when_the_broker_hangs(tmp_path):
    silent = SilentServer()
    try:
        console = Console(tmp_path, redis_url=f"redis://127.0.0.1:{silent.port}/0")
        assert console.manage("migrate", "-v0").returncode == 0
        code, report, wall_s = console.ops_check()
    finally:
        silent.close()
    checks = by_name(report)
    assert code == 2
    assert checks["broker"]["status"] == "fail" and "Redis broker did not answer" in checks["broker"]["detail"]
    assert checks["qcluster"]["status"] == "fail"
    assert checks["database"]["status"] == "ok"  # the others still answered
    assert report["duration_ms"] < DEADLINE_S * 1000
    print(f"ops check with a hanging broker: answered in {report['duration_ms']} ms ({wall_s:.1f} s with startup)")


def test_ops_check_still_answers_when_the_database_is_down(tmp_path):
    console = Console(tmp_path)
    console.env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{free_port()}/gone"  # nothing listens there
    code, report, _ = console.ops_check()
    checks = by_name(report)
    assert code == 2
    assert checks["database"]["status"] == "fail" and "OperationalError" in checks["database"]["detail"]
    assert checks["log_dir"]["status"] == "ok"
    assert report["duration_ms"] < DEADLINE_S * 1000


def test_ops_check_answers_within_10_s_when_the_database_hangs(tmp_path):
    silent = SilentServer()  # accepts the connection, never answers: the ORM broker's database hanging
    try:
        console = Console(tmp_path)
        console.env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{silent.port}/hangs"
        code, report, wall_s = console.ops_check()
    finally:
        silent.close()
    checks = by_name(report)
    assert code == 2
    assert checks["database"]["status"] == "fail" and "no answer within" in checks["database"]["detail"]
    assert checks["log_dir"]["status"] == "ok"
    assert report["duration_ms"] < DEADLINE_S * 1000 and wall_s < DEADLINE_S + 5  # + Django's start-up
    print(f"ops check with a hanging database: answered in {report['duration_ms']} ms ({wall_s:.1f} s in all)")


def test_ops_check_fails_naming_the_orm_broker_when_its_qcluster_is_gone(console_on_orm):
    code, report, _ = console_on_orm.ops_check()
    checks = by_name(report)
    assert code == 2
    assert checks["qcluster"]["status"] == "fail" and "ORM broker" in checks["qcluster"]["detail"]
    assert report["duration_ms"] < DEADLINE_S * 1000
    # One incident for the failed check, however often it is run.
    console_on_orm.ops_check()
    incidents = console_on_orm.query(
        "SELECT count, severity FROM incidents_incident WHERE fingerprint = 'ops:check:fail'"
    )
    assert incidents == [(2, "ERROR")]


def test_recover_requeues_a_real_failed_task_which_then_succeeds_and_a_dry_run_changes_nothing(
    console_on_orm, tmp_path
):
    console = console_on_orm
    marker = tmp_path / "ran-once"
    queued = console.manage(
        "shell",
        "-c",
        f"from django_q.tasks import async_task; async_task('tests.ops.flaky.fails_the_first_time', {str(marker)!r})",
    )
    assert queued.returncode == 0, queued.stderr
    console.start_cluster()
    assert wait_for(lambda: console.query("SELECT count(*) FROM django_q_task WHERE success = 0")[0][0] == 1, 60)

    dry = console.manage("ops_recover", "--dry-run")
    assert "would be queued again" in dry.stdout
    assert console.query("SELECT count(*) FROM ops_requeuedtask") == [(0,)]
    assert console.query("SELECT count(*) FROM django_q_task WHERE success = 1 AND func LIKE 'tests.ops.flaky%'") == [
        (0,)
    ]

    done = console.manage("ops_recover")
    assert "queued again as" in done.stdout, done.stdout + done.stderr
    assert wait_for(
        lambda: (
            console.query("SELECT count(*) FROM django_q_task WHERE success = 1 AND func LIKE 'tests.ops.flaky%'")[0][0]
            == 1
        ),
        60,
    )
    again = console.manage("ops_recover")
    assert "already requeued once" in again.stdout
    assert console.query("SELECT count(*) FROM ops_requeuedtask") == [(1,)]
    lines = (tmp_path / "logs" / "ops.ndjson").read_text().splitlines()
    assert sum('"event":"recovery"' in line for line in lines) == 3
