"""/metrics under the README's server recipe (`gunicorn echopilot.wsgi --workers 4`, no
PROMETHEUS_MULTIPROC_DIR): every scrape sums all workers, so counters never go backwards; and the
exposition passes `promtool check metrics` (Debian's prometheus package) when it is installed, and a
real Prometheus 2.42 scraping it every second sees no counter reset."""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from echopilot import multiproc
from tests.loopback import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
HEALTH_COUNTER = re.compile(r'^echopilot_http_requests_total\{[^}]*route="/health"[^}]*\} ([0-9.e+]+)$', re.M)


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        # A new connection each time: sync workers close it anyway, and the kernel spreads them.
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _health_count(text: str) -> float:
    return sum(float(value) for value in HEALTH_COUNTER.findall(text))


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (multiproc.ENV, "DATABASE_URL")}
    env.update(SQLITE_PATH=str(tmp_path / "db.sqlite3"), LOG_DIR=str(tmp_path / "logs"))
    env.update(DJANGO_SETTINGS_MODULE="echopilot.settings", TMPDIR=str(tmp_path))
    return env


def _start(env: dict, port: int, extra: list[str]) -> subprocess.Popen:
    """The README's recipe, from the project directory; returned once /health answers."""
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "echopilot.wsgi", "--workers", "4"]
        + ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", *extra],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if _get(port, "/health")[0] == 200:
                return process
        except OSError:
            time.sleep(0.3)
    _stop(process)
    raise AssertionError(f"gunicorn did not answer /health (exit code {process.returncode})")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.fixture
def migrated(tmp_path):
    env = _env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    return env


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    [
        pytest.param([], id="gunicorn.conf.py of the project directory"),
        pytest.param(["--config", "/dev/null"], id="another config: the WSGI entry sets it up"),
    ],
)
def test_the_readme_recipe_scrapes_monotonic_counters_across_four_workers(migrated, tmp_path, config):
    port = free_port()
    server = _start(migrated, port, config)
    try:
        sent, seen = 1, []  # _start's own /health answered once
        for _ in range(12):
            for _ in range(5):
                assert _get(port, "/health")[0] == 200
                sent += 1
            seen.append(_health_count(_get(port, "/metrics")[1]))
        assert seen == sorted(seen), f"counters went backwards: {seen}"
        assert seen[-1] == sent  # every worker's requests, not one worker's share
        if shutil.which("promtool"):  # the summed exposition is as clean as one process's
            _assert_promtool_clean(_get(port, "/metrics")[1].encode())

        # A worker that dies takes nothing with it: its counts stay in the sum.
        os.kill(_worker_pids(server.pid)[0], signal.SIGKILL)
        time.sleep(1.5)
        after = [_health_count(_get(port, "/metrics")[1]) for _ in range(8)]
        assert min(after) >= seen[-1] and after == sorted(after)
        assert list(tmp_path.glob("echopilot-prometheus-*")), "the workers shared no directory"
    finally:
        _stop(server)
    if not config:  # the master made its directory, and removed it on the way out
        assert not list(tmp_path.glob("echopilot-prometheus-*"))


def test_the_multiproc_module_leaves_prometheus_client_unimported():
    # gunicorn.conf.py imports it before the directory is set; prometheus_client imported then
    # picks single-process counters for good, and each scrape sees one worker's share.
    probe = "import sys, echopilot.multiproc; print('prometheus_client' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_dead_workers_live_files_are_cleaned_and_its_counters_kept(tmp_path):
    directory = tmp_path / "prom"
    directory.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid, live_pid = int(dead.stdout), os.getpid()
    for name in (f"gauge_livesum_{dead_pid}.db", f"counter_{dead_pid}.db", f"gauge_livesum_{live_pid}.db"):
        (directory / name).write_bytes(b"")
    assert multiproc.clean_dead(str(directory)) == [dead_pid]
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"counter_{dead_pid}.db", f"gauge_livesum_{live_pid}.db"]
    )


def test_metric_names_follow_the_conventions(client, db):
    text = client.get("/metrics").content.decode()
    names = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    assert names, text
    assert not [n for n in names if n.endswith("_pct")], names
    assert not [n for n in names if re.search(r"_(24h|last_hour|today|\d+[mhd])$", n)], names
    assert not re.search(r'="",|=""\}', text), "an empty label value"


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian package prometheus) is not installed")
def test_promtool_check_metrics_is_clean(client, db):
    from incidents import raise_incident

    raise_incident("CRITICAL", "disk full", "db-1")
    client.get("/health")
    exposition = client.get("/metrics").content
    assert b'echopilot_incidents_open{severity="CRITICAL"} 1.0' in exposition
    _assert_promtool_clean(exposition)


def _assert_promtool_clean(exposition: bytes) -> None:
    result = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout.decode() + result.stderr.decode()
    )


PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: console
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def _promql(base: str, query: str) -> list:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("prometheus"), reason="Prometheus (Debian package prometheus) is not installed")
def test_prometheus_scraping_the_readme_recipe_sees_no_counter_reset(migrated, tmp_path):
    port, prometheus_port = free_port(), free_port()
    (tmp_path / "prometheus.yml").write_text(PROMETHEUS_CONFIG.format(port=port))
    server = _start(migrated, port, [])
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"]
        + [f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{prometheus_port}"
    try:
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:  # traffic while Prometheus scrapes every second
            for _ in range(5):
                _get(port, "/health")
            time.sleep(0.2)
        series = 'echopilot_http_requests_total{route="/health",status="200"}'
        samples = _promql(base, f"count_over_time({series}[1m])")
        assert samples and float(samples[0]["value"][1]) >= 10, samples  # it did scrape, many times
        assert float(_promql(base, f"resets({series}[1m])")[0]["value"][1]) == 0
        assert float(_promql(base, f"increase({series}[1m])")[0]["value"][1]) > 0
    finally:
        prometheus.terminate()
        prometheus.wait(10)
        _stop(server)
