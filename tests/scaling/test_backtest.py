"""The backtest: the bar on the four shipped traces, the command and its JSON, traces refused plainly."""

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from scaling.backtest import TraceError, backtest, read_trace
from scaling.policy import Limits

TRACES = Path(__file__).resolve().parents[2] / "bench" / "traces"
METRICS = {"violation_minutes", "backlog_minutes", "max_wait_s", "worker_minutes", "actions_per_hour"}


def run(name: str) -> dict:
    return backtest(read_trace(TRACES / f"{name}.csv"), Limits(), tick_min=1, startup_min=2)["policies"]


def better_baseline(policies: dict) -> dict:
    return min((policies["hpa"], policies["step"]), key=lambda p: (p["violation_minutes"], p["worker_minutes"]))


@pytest.mark.parametrize("name", ["daily_cycle", "ramp"])
def test_on_the_daily_cycle_and_the_ramp_half_the_violations_at_most_110_percent_of_the_workers(name):
    policies = run(name)
    ours, best = policies["predictive"], better_baseline(policies)
    assert ours["violation_minutes"] <= best["violation_minutes"] / 2
    assert ours["worker_minutes"] <= 1.1 * best["worker_minutes"]


def test_on_the_spike_no_worse_than_either_baseline():
    policies = run("spike")
    for baseline in ("hpa", "step"):
        assert policies["predictive"]["violation_minutes"] <= policies[baseline]["violation_minutes"]
        assert policies["predictive"]["max_wait_s"] <= policies[baseline]["max_wait_s"]


def test_on_flat_noise_at_most_two_actions_an_hour():
    assert run("flat_noise")["predictive"]["actions_per_hour"] <= 2


def test_the_command_prints_the_three_policies_as_json(capsys):
    call_command("autoscale_backtest", str(TRACES / "spike.csv"), "--json", "--tick-min", "2", "--startup-min", "3")
    result = json.loads(capsys.readouterr().out)
    assert set(result["policies"]) == {"predictive", "hpa", "step"}
    for metrics in result["policies"].values():
        assert set(metrics) == METRICS
    assert (result["tick_min"], result["startup_min"]) == (2, 3)


def test_the_command_prints_a_table_by_default(capsys):
    call_command("autoscale_backtest", str(TRACES / "ramp.csv"))
    out = capsys.readouterr().out
    assert "violation_minutes" in out and out.count("\n") >= 4
    assert all(name in out for name in ("predictive", "hpa", "step"))


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("minute,arrivals\n0,3\n", "mean_job_s"),
        ("minute,arrivals,mean_job_s\n0,3,1\n1,-2,1\n", "line 3: arrivals"),
        ("minute,arrivals,mean_job_s\n0,3,0\n", "mean_job_s must be above 0"),
        ("minute,arrivals,mean_job_s\n0,x,1\n", "line 2: arrivals is not a number"),
        ("minute,arrivals,mean_job_s\n0,3,1\n5,3,1\n", "minute 5 does not follow 0"),
        ("minute,arrivals,mean_job_s\n", "no rows"),
    ],
)
def test_a_bad_trace_is_refused_naming_the_line_and_column(tmp_path, text, said):
    path = tmp_path / "trace.csv"
    path.write_text(text)
    with pytest.raises(TraceError, match=said):
        read_trace(path)
    with pytest.raises(CommandError, match=said):
        call_command("autoscale_backtest", str(path))


def test_a_missing_trace_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("autoscale_backtest", str(tmp_path / "nope.csv"))
