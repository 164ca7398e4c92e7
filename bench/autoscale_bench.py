#!/usr/bin/env python3
"""The autoscaler's bar: the backtest of the four shipped traces, and of traces the policy has not seen.

    .venv/bin/python bench/autoscale_bench.py              # the four traces in bench/traces, PASS/FAIL
    .venv/bin/python bench/autoscale_bench.py --unseen 6   # also 6 seeds x 4 load levels of each shape

The bar: on the daily cycle and the ramp, at most half the violation-minutes of the better
baseline (the one with fewer) at no more than 1.1x its worker-minutes; on the spike, no more
violation-minutes than either baseline; on flat noise, at most 2 scale actions an hour. The unseen
traces are the same shapes drawn with other seeds, at other loads and job lengths.
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echopilot.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from bench import autoscale_traces  # noqa: E402
from scaling.backtest import Minute, backtest, read_trace  # noqa: E402
from scaling.services import limits  # noqa: E402

NAMES = ("daily_cycle", "ramp", "spike", "flat_noise")
LEVELS = ((1.0, 3.0), (0.6, 3.0), (1.0, 5.0), (0.5, 1.2))  # (load, mean job seconds)


def verdict(name: str, policies: dict) -> tuple[bool, str]:
    ours, hpa, step = policies["predictive"], policies["hpa"], policies["step"]
    if name in ("daily_cycle", "ramp"):
        best = min((hpa, step), key=lambda p: (p["violation_minutes"], p["worker_minutes"]))
        ratio = ours["worker_minutes"] / best["worker_minutes"]
        ok = ours["violation_minutes"] <= best["violation_minutes"] / 2 and ratio <= 1.1
        return ok, f"violations {ours['violation_minutes']} vs {best['violation_minutes']}, workers x{ratio:.3f}"
    if name == "spike":
        worst = min(hpa["violation_minutes"], step["violation_minutes"])
        return ours["violation_minutes"] <= worst, f"violations {ours['violation_minutes']} vs {worst}"
    return ours["actions_per_hour"] <= 2, f"{ours['actions_per_hour']} actions/hour"


def table(name: str, result: dict) -> str:
    cols = ("violation_minutes", "backlog_minutes", "max_wait_s", "worker_minutes", "actions_per_hour")
    lines = [f"| {name} | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]
    for policy, metrics in result["policies"].items():
        lines.append(f"| {policy} | " + " | ".join(str(metrics[c]) for c in cols) + " |")
    return "\n".join(lines)


def unseen(seeds: int) -> tuple[int, int, list[str]]:
    passed, total, failures = 0, 0, []
    for seed in range(1, seeds + 1):
        for load, job_s in LEVELS:
            rng = np.random.default_rng(seed * 1000 + int(load * 10) * 10 + int(job_s * 10))
            for name in NAMES:
                rates = [r * load * autoscale_traces.JOB_S / job_s for r in autoscale_traces.SHAPES[name]()]
                trace = [
                    Minute(m, float(rng.poisson(r)), job_s * float(rng.uniform(0.9, 1.1))) for m, r in enumerate(rates)
                ]
                ok, said = verdict(name, backtest(trace, limits())["policies"])
                total += 1
                passed += ok
                if not ok:
                    failures.append(f"seed {seed}, load x{load}, {job_s:g}s jobs, {name}: {said}")
    return passed, total, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=ROOT / "bench" / "traces")
    parser.add_argument("--unseen", type=int, default=0, help="seeds of unseen traces to replay as well")
    args = parser.parse_args()
    all_ok = True
    for name in NAMES:
        result = backtest(read_trace(args.traces / f"{name}.csv"), limits())
        ok, said = verdict(name, result["policies"])
        all_ok &= ok
        print(table(name, result))
        print(f"\n{'PASS' if ok else 'FAIL'} {name}: {said}\n")
    if args.unseen:
        passed, total, failures = unseen(args.unseen)
        print(f"unseen traces: {passed} of {total} meet the bar")
        for failure in failures:
            print(f"  FAIL {failure}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
