#!/usr/bin/env python3
"""Write the four synthetic traces the autoscaler's backtest is judged on (bench/traces/*.csv).

Each is one row a minute, `minute,arrivals,mean_job_s`: Poisson arrivals around a shape, job times
with a little noise. Seeded, so the files are the same on every run. `--seed` and `--out` make
others of the same shapes (traces the policy has not seen).

    .venv/bin/python bench/autoscale_traces.py [--seed 1] [--out bench/traces]
"""

import argparse
import csv
import math
from pathlib import Path

import numpy as np

JOB_S = 3.0  # one worker finishes 20 jobs a minute


def daily_cycle(minutes: int = 3 * 1440) -> list[float]:
    """Night trough of 10/min, an afternoon peak near 100/min, and a smaller morning bump."""
    rates = []
    for m in range(minutes):
        day = (m % 1440) / 1440
        main = (1 - math.cos(2 * math.pi * (day - 0.125))) / 2  # lowest at 03:00, highest at 15:00
        bump = math.exp(-(((day - 0.4) / 0.04) ** 2))
        rates.append(10 + 80 * main**1.5 + 12 * bump)
    return rates


def ramp(minutes: int = 6 * 60) -> list[float]:
    """An hour at 15/min, three hours climbing to 105/min, then two hours there."""
    return [15 + 90 * min(1.0, max(0.0, (m - 60) / 180)) for m in range(minutes)]


def spike(minutes: int = 6 * 60) -> list[float]:
    """30/min, with a sudden 25-minute burst to 100/min at 03:00."""
    return [100.0 if 180 <= m < 205 else 30.0 for m in range(minutes)]


def flat_noise(minutes: int = 6 * 60) -> list[float]:
    """50/min, with slow wandering of +-10% on top of the Poisson noise."""
    return [50 * (1 + 0.1 * math.sin(m / 17.0) * math.sin(m / 53.0)) for m in range(minutes)]


SHAPES = {"daily_cycle": daily_cycle, "ramp": ramp, "spike": spike, "flat_noise": flat_noise}


def write(path: Path, rates: list[float], rng: np.random.Generator) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["minute", "arrivals", "mean_job_s"])
        for minute, rate in enumerate(rates):
            job_s = JOB_S * float(rng.uniform(0.9, 1.1))
            out.writerow([minute, int(rng.poisson(rate)), f"{job_s:.3f}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=80)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "traces")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for offset, (name, shape) in enumerate(SHAPES.items()):
        write(args.out / f"{name}.csv", shape(), np.random.default_rng(args.seed + offset))
        print(args.out / f"{name}.csv")


if __name__ == "__main__":
    main()
