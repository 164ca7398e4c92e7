"""System checks for the scaling settings (`manage.py check`; registered in ScalingConfig.ready): an
actuator that cannot reach its platform is found at deploy, not at the first scale-up at 3 a.m."""

import os
import shlex
import shutil
from pathlib import Path

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning


def actuator_check(app_configs=None, **kwargs) -> list:
    """The kubernetes actuator's kubeconfig exists (or it runs in a pod); the command actuator's
    programs are on PATH."""
    if settings.SCALE_ACTUATOR == "kubernetes":
        return _kubernetes()
    if settings.SCALE_ACTUATOR == "command":
        return _commands()
    return []


def _kubernetes() -> list:
    path = settings.SCALE_K8S_KUBECONFIG
    if path and not Path(path).expanduser().is_file():
        return [
            Error(
                f"SCALE_K8S_KUBECONFIG={path!r} is not a file",
                id="scaling.E001",
                hint="point it at a kubeconfig, or leave it empty inside the cluster",
            )
        ]
    if not path and not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return [
            Warning(
                "SCALE_ACTUATOR=kubernetes without SCALE_K8S_KUBECONFIG, and this is not a pod: "
                "every scale will fail until one is set",
                id="scaling.W001",
            )
        ]
    return []


def _commands() -> list:
    problems: list[CheckMessage] = []
    for name in ("SCALE_COMMAND", "SCALE_ACTUAL_COMMAND"):
        command = getattr(settings, name)
        try:
            program = shlex.split(command)[0] if command else ""
        except ValueError:
            problems.append(Error(f"{name} is not valid shell syntax (unbalanced quotes)", id="scaling.E002"))
            continue
        if program and not shutil.which(program):
            problems.append(Warning(f"{name}: {program!r} is not on PATH for this user", id="scaling.W002"))
    return problems
