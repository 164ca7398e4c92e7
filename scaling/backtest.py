"""Replay a recorded (or synthetic) trace through a queue simulator under three scaling policies.

A trace is a CSV with a header and one row a minute: `minute,arrivals,mean_job_s`. The simulator is a
FIFO fluid queue stepped every `STEP_S` seconds: a minute's arrivals come evenly spread over it, each
ready worker finishes `STEP_S / mean_job_s` jobs a step, a worker asked for at minute m takes jobs from
m + start-up, and a removed worker stops at once (the newest first, so a starting one goes before a
ready one). Every policy decides every `tick_min` minutes from what an operator's console could see at
that moment: the queue depth, the oldest job's wait, the arrivals of the minutes gone by, and the jobs a
worker finishes a minute (from the finished jobs of the last minute).

Policies:
- predictive: the console's own `scaling.policy.decide` (forecast, backlog drain, tolerance,
  stabilisation, latency rule, cooldown), with a Holt(-Winters) model refitted every hour and updated
  every bucket in between;
- hpa: the Kubernetes HPA formula on the oldest job's wait: ceil(current x wait / target), 10%
  tolerance, down only to the highest recommendation of the last 5 minutes;
- step: +1 when the oldest job waits past the target, at most every 3 minutes; -1 after 10 idle minutes.
"""

import csv
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from . import forecast as fc
from .policy import Context, Limits, Signals, decide, read_forecast

STEP_S = 5
# Jobs a worker finishes a minute are measured over the finished jobs of this many minutes.
JOB_S_WINDOW_MIN = 10
REFIT_EVERY_MIN = 60
HPA_TOLERANCE = 0.10
HPA_DOWN_WINDOW_MIN = 5
STEP_UP_EVERY_MIN = 3
STEP_IDLE_MIN = 10
POLICIES = ("predictive", "hpa", "step")


class TraceError(ValueError):
    """A trace that cannot be replayed; the message names the line and the column."""


@dataclass(frozen=True)
class Minute:
    minute: int
    arrivals: float
    mean_job_s: float


def read_trace(path) -> list[Minute]:
    """The rows of a trace file, checked: a header with minute, arrivals, mean_job_s; numbers >= 0
    (mean_job_s > 0); minutes counting up by one."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"minute", "arrivals", "mean_job_s"} - set(reader.fieldnames or ())
        if missing:
            raise TraceError(f"{path}: the header lacks {', '.join(sorted(missing))}")
        rows = [_row(record, line) for line, record in enumerate(reader, start=2)]
    if not rows:
        raise TraceError(f"{path}: no rows after the header")
    for line, (before, after) in enumerate(zip(rows, rows[1:], strict=False), start=3):
        if after.minute != before.minute + 1:
            raise TraceError(f"line {line}: minute {after.minute} does not follow {before.minute}")
    return rows


def _row(record: dict, line: int) -> Minute:
    values = {}
    for name in ("minute", "arrivals", "mean_job_s"):
        try:
            values[name] = float(record[name])
        except (TypeError, ValueError):
            raise TraceError(f"line {line}: {name} is not a number") from None
        if not math.isfinite(values[name]) or values[name] < 0:
            raise TraceError(f"line {line}: {name} must be a finite number >= 0")
    if values["mean_job_s"] <= 0:
        raise TraceError(f"line {line}: mean_job_s must be above 0")
    return Minute(int(values["minute"]), values["arrivals"], values["mean_job_s"])


# --- the queue ------------------------------------------------------------------------------------------


class FluidQueue:
    """Waiting jobs as cohorts (arrival time, how many), oldest first."""

    def __init__(self) -> None:
        self.cohorts: deque = deque()
        self.depth = 0.0

    def arrive(self, at_s: float, count: float) -> None:
        if count > 0:
            self.cohorts.append([at_s, count])
            self.depth += count

    def serve(self, capacity: float, now_s: float) -> float:
        """Serve up to `capacity` jobs oldest first; the longest wait among them (s)."""
        longest = 0.0
        while capacity > 1e-12 and self.cohorts:
            cohort = self.cohorts[0]
            taken = min(capacity, cohort[1])
            longest = max(longest, now_s - cohort[0])
            cohort[1] -= taken
            capacity -= taken
            self.depth -= taken
            if cohort[1] <= 1e-9:
                self.cohorts.popleft()
        if not self.cohorts:
            self.depth = 0.0
        return longest

    def oldest_wait(self, now_s: float) -> float:
        return now_s - self.cohorts[0][0] if self.cohorts and self.depth >= 0.5 else 0.0


class Pool:
    """Workers by the time each can take jobs; scale-in removes the newest first."""

    def __init__(self, size: int) -> None:
        self.ready_at: list[float] = [0.0] * size

    @property
    def size(self) -> int:
        return len(self.ready_at)

    def resize(self, target: int, now_s: float, startup_s: float) -> None:
        while self.size < target:
            self.ready_at.append(now_s + startup_s)
        self.ready_at.sort()
        del self.ready_at[target:]

    def ready(self, now_s: float) -> int:
        return sum(1 for at in self.ready_at if at <= now_s)


@dataclass
class Observation:
    minute: int
    workers: int
    queue_depth: float
    oldest_wait_s: float
    arrivals: Sequence[float]  # per minute, every minute gone by
    jobs_per_worker_min: float
    idle_min: float


# --- the policies ----------------------------------------------------------------------------------------


class Predictive:
    """The console's decision, with the forecast kept up to date incrementally."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.model: fc.HoltWinters | None = None
        self.buckets_seen = 0
        self.fitted_at = -REFIT_EVERY_MIN
        self.recommendations: deque = deque()
        self.last_change: int | None = None

    def _update_model(self, obs: Observation) -> None:
        buckets = fc.bucket_means(obs.arrivals)
        if obs.minute - self.fitted_at >= REFIT_EVERY_MIN or self.model is None:
            self.model = fc.fit(buckets)
            self.fitted_at = obs.minute
        elif self.model is not None:
            for value in buckets[self.buckets_seen :]:
                self.model.update(value)
        self.buckets_seen = len(buckets)

    def __call__(self, obs: Observation) -> int:
        self._update_model(obs)
        recent = obs.arrivals[-fc.BUCKET_MIN :]
        signals = Signals(
            queue_depth=round(obs.queue_depth),
            queue_time_s=obs.oldest_wait_s,
            arrivals_per_min=sum(recent) / len(recent) if recent else None,
            jobs_per_worker_min=obs.jobs_per_worker_min,
            idle_min=obs.idle_min,
            age_min=0.0,
        )
        while self.recommendations and self.recommendations[0][0] < obs.minute - self.limits.down_window_min:
            self.recommendations.popleft()
        context = Context(
            actual=obs.workers,
            minutes_since_change=None if self.last_change is None else obs.minute - self.last_change,
            recent_recommendations=[r for _, r in self.recommendations],
        )
        verdict = decide(signals, context, self.limits, forecast=read_forecast(self.model, self.limits))
        self.recommendations.append((obs.minute, verdict.recommended))
        if verdict.change:
            self.last_change = obs.minute
            return verdict.desired
        return obs.workers


class Hpa:
    """The HPA formula on the oldest job's wait."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.recommendations: deque = deque()

    def __call__(self, obs: Observation) -> int:
        ratio = obs.oldest_wait_s / self.limits.queue_time_target_s
        if abs(ratio - 1) <= HPA_TOLERANCE:
            wanted = obs.workers
        else:
            wanted = math.ceil(obs.workers * ratio)
        wanted = min(self.limits.maximum, max(self.limits.minimum, wanted))
        self.recommendations.append((obs.minute, wanted))
        while self.recommendations[0][0] <= obs.minute - HPA_DOWN_WINDOW_MIN:
            self.recommendations.popleft()
        if wanted < obs.workers:
            wanted = min(obs.workers, max(r for _, r in self.recommendations))
        return wanted


class Step:
    """+1 past the target at most every 3 minutes; -1 after 10 idle minutes."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.last_up: int | None = None
        self.last_down: int | None = None

    def __call__(self, obs: Observation) -> int:
        waiting_too_long = obs.oldest_wait_s > self.limits.queue_time_target_s
        if waiting_too_long and (self.last_up is None or obs.minute - self.last_up >= STEP_UP_EVERY_MIN):
            if obs.workers < self.limits.maximum:
                self.last_up = obs.minute
                return obs.workers + 1
        idle_since_down = obs.idle_min if self.last_down is None else min(obs.idle_min, obs.minute - self.last_down)
        if idle_since_down >= STEP_IDLE_MIN and obs.workers > self.limits.minimum:
            self.last_down = obs.minute
            return obs.workers - 1
        return obs.workers


# --- the replay ------------------------------------------------------------------------------------------


@dataclass
class Result:
    violation_minutes: int = 0
    backlog_minutes: int = 0
    max_wait_s: float = 0.0
    worker_minutes: int = 0
    actions: int = 0
    minutes: int = 0
    workers: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        hours = self.minutes / 60 if self.minutes else 1
        return {
            "violation_minutes": self.violation_minutes,
            "backlog_minutes": self.backlog_minutes,
            "max_wait_s": round(self.max_wait_s, 1),
            "worker_minutes": self.worker_minutes,
            "actions_per_hour": round(self.actions / hours, 2),
        }


def simulate(
    trace: Sequence[Minute],
    policy: Callable[[Observation], int],
    limits: Limits,
    *,
    tick_min: int = 1,
    startup_min: float = 2,
) -> Result:
    """Replay `trace` under `policy`; the pool starts at SCALE_MIN."""
    queue, pool, result = FluidQueue(), Pool(limits.minimum), Result(minutes=len(trace))
    arrivals: list[float] = []
    idle_min, job_times = 0.0, deque([trace[0].mean_job_s], maxlen=JOB_S_WINDOW_MIN)
    for row in trace:
        t0 = row.minute * 60.0
        if row.minute % tick_min == 0:
            obs = Observation(
                row.minute,
                pool.size,
                queue.depth,
                queue.oldest_wait(t0),
                arrivals,
                60.0 * len(job_times) / sum(job_times),
                idle_min,
            )
            target = min(limits.maximum, max(limits.minimum, policy(obs)))
            if target != pool.size:
                result.actions += 1
                pool.resize(target, t0, startup_min * 60)
        longest = _run_minute(queue, pool, row, t0)
        end = t0 + 60
        oldest = queue.oldest_wait(end)
        result.max_wait_s = max(result.max_wait_s, longest, oldest)
        result.violation_minutes += max(longest, oldest) > limits.queue_time_target_s
        result.backlog_minutes += queue.depth >= 1
        result.worker_minutes += pool.size
        result.workers.append(pool.size)
        idle_min = idle_min + 1 if queue.depth < 0.5 else 0.0
        arrivals.append(row.arrivals)
        job_times.append(row.mean_job_s)
    return result


def _run_minute(queue: FluidQueue, pool: Pool, row: Minute, t0: float) -> float:
    steps = 60 // STEP_S
    per_step = row.arrivals / steps
    longest = 0.0
    for k in range(steps):
        now = t0 + k * STEP_S
        queue.arrive(now + STEP_S / 2, per_step)
        capacity = pool.ready(now) * STEP_S / row.mean_job_s
        longest = max(longest, queue.serve(capacity, now + STEP_S))
    return longest


def backtest(trace: Sequence[Minute], limits: Limits, *, tick_min: int = 1, startup_min: float = 2) -> dict:
    """The three policies side by side on `trace`: {"policies": {name: metrics}} plus the settings used."""
    ours = replace(limits, tick_min=tick_min, startup_min=startup_min)
    makers: dict[str, Callable[[Limits], Callable[[Observation], int]]] = {
        "predictive": Predictive,
        "hpa": Hpa,
        "step": Step,
    }
    results = {
        name: simulate(trace, makers[name](ours), ours, tick_min=tick_min, startup_min=startup_min) for name in POLICIES
    }
    return {
        "policies": {name: result.to_dict() for name, result in results.items()},
        "minutes": len(trace),
        "tick_min": tick_min,
        "startup_min": startup_min,
        "bounds": [limits.minimum, limits.maximum],
        "queue_time_target_s": limits.queue_time_target_s,
    }
