"""Scaling settings that cannot work stop the console at startup, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path, **variables):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("SCALE_")}
    env.update({"SQLITE_PATH": str(tmp_path / "db.sqlite3"), "LOG_DIR": str(tmp_path / "logs"), **variables})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SCALE_ACTUATOR": "docker"}, "SCALE_ACTUATOR must be one of record, qcluster, command, kubernetes"),
        ({"SCALE_ACTUATOR": "command"}, "SCALE_COMMAND must be set and contain {desired}"),
        ({"SCALE_ACTUATOR": "command", "SCALE_COMMAND": "scale-workers 3"}, "contain {desired}"),
        ({"SCALE_ACTUATOR": "kubernetes"}, "SCALE_K8S_DEPLOYMENT must name the Deployment"),
        ({"SCALE_TOLERANCE": "1.5"}, "SCALE_TOLERANCE='1.5' in the environment: must be a number from 0 to 1"),
        ({"SCALE_MIN": "7", "SCALE_MAX": "6"}, "SCALE_MAX must be at least SCALE_MIN"),
    ],
)
def test_an_unworkable_scaling_setting_stops_manage_py_naming_it(tmp_path, variables, message):
    done = check(tmp_path, **variables)
    assert done.returncode != 0
    assert message in done.stderr.strip().splitlines()[-1]


def test_a_command_actuator_with_its_template_starts(tmp_path):
    done = check(tmp_path, SCALE_ACTUATOR="command", SCALE_COMMAND="docker compose up -d --scale worker={desired}")
    assert done.returncode == 0, done.stderr


def test_manage_py_check_finds_a_missing_kubeconfig(tmp_path):
    done = check(
        tmp_path,
        SCALE_ACTUATOR="kubernetes",
        SCALE_K8S_DEPLOYMENT="worker",
        SCALE_K8S_KUBECONFIG=str(tmp_path / "nope"),
    )
    assert done.returncode != 0
    assert "scaling.E001" in done.stderr and "is not a file" in done.stderr


def test_manage_py_check_warns_of_a_scale_command_that_is_not_installed(tmp_path):
    done = check(tmp_path, SCALE_ACTUATOR="command", SCALE_COMMAND="no-such-scaler --to {desired}")
    assert "scaling.W002" in done.stderr and "'no-such-scaler' is not on PATH" in done.stderr
