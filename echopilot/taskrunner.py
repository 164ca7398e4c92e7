"""The single-process task runner: the embedded default's way of running the task queue.

django-q2's cluster keeps six processes per qcluster (its guard, sentinel, monitor, pusher and the
workers), ~70 MB each even idle. The runner is one long-lived process that does their jobs with
django-q2's own functions: every `schedule_every_s` its `scheduler()` queues the due Schedules;
the ORM broker's `dequeue()` hands it a task (its conditional update keeps another runner or cluster
from taking the same one); a child forked for that task runs it through django-q2's `worker()` and
saves the Success or Failure through its `monitor()`, which acknowledges the broker. So the admin's
task lists, the heartbeat of the ops check and schedules' last tasks read the same rows as with a
cluster.

Up to `workers` (Q_WORKERS) children run at once. A child gets the task's timeout as SIGALRM inside
`worker()`, as a cluster's worker does; one that outlives it by `kill_grace_s` (a task that swallowed
the alarm, or stuck in C code) is killed and a Failure saying so is saved, as the cluster's guard
kills a worker past its timeout. Idle, the runner holds no task module and no child.
"""

import logging
import os
import queue
import signal
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing import Value
from typing import Any

from django.db import close_old_connections, connections
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.monitor import monitor, save_task
from django_q.scheduler import scheduler
from django_q.signing import BadSignature, SignedPackage
from django_q.status import Stat
from django_q.worker import worker

log = logging.getLogger(__name__)

SCHEDULE_EVERY_S = 30.0  # as often as a cluster's guard calls the scheduler
KILL_GRACE_S = 10.0  # after its timeout, time for a child to save the Failure its alarm caused
BUSY_NAP_S = 0.1


class NoQueue:
    """Stands in for a cluster's queues in its Stat: the runner queues nothing between processes."""

    def qsize(self) -> int:
        """Nothing waits in it."""
        return 0


@dataclass
class Child:
    """A forked child running one task."""

    pid: int
    task: dict[str, Any]
    timeout_s: float | None
    started: float = field(default_factory=time.monotonic)

    def overdue(self, grace_s: float, now: float) -> bool:
        """True once the child has outlived the task's timeout by `grace_s`."""
        return self.timeout_s is not None and now - self.started > self.timeout_s + grace_s


class Runner:
    """One process running the queue's schedules and tasks; `tick()` is one turn of its loop."""

    def __init__(
        self,
        broker: Broker | None = None,
        workers: int | None = None,
        schedule_every_s: float = SCHEDULE_EVERY_S,
        kill_grace_s: float = KILL_GRACE_S,
    ) -> None:
        self.broker = broker or get_broker()
        self.workers = workers or Conf.WORKERS
        self.schedule_every_s = schedule_every_s
        self.kill_grace_s = kill_grace_s
        self.children: dict[int, Child] = {}
        self.next_schedule = time.monotonic()  # at start: what fell due while nothing ran
        self.stopping = False
        # What django-q2's Stat reads from a cluster's sentinel, so the queue status lists the runner.
        self.pid = os.getpid()
        self.parent_pid = None
        self.cluster_id = uuid.uuid4()
        self.tob = timezone.now()
        self.reincarnations = 0
        self.monitor = self.pusher = None
        self.task_queue = self.result_queue = NoQueue()

    @property
    def pool(self) -> list[Child]:
        """The children running now (the `workers` of the runner's Stat)."""
        return list(self.children.values())

    def status(self) -> str:
        """The runner's state in django-q2's words (its Stat shows it)."""
        if self.stopping:
            return str(Conf.STOPPING if self.children else Conf.STOPPED)
        return str(Conf.WORKING if self.children else Conf.IDLE)

    def tick(self) -> None:
        """One turn: reap and time out children, queue due schedules, start a task if a slot is free."""
        close_old_connections()  # a long-lived loop: drop a connection the database has closed
        self.reap()
        self.kill_overdue()
        if not self.stopping and time.monotonic() >= self.next_schedule:
            self.next_schedule = time.monotonic() + self.schedule_every_s
            scheduler(broker=self.broker)
        if self.stopping or len(self.children) >= self.workers:
            time.sleep(BUSY_NAP_S)
        else:
            self.take()
        Stat(self).save()  # lives 3 s in the cache: a tick must come round within that

    def take(self) -> None:
        """Start a child for each task the broker hands over (the ORM broker naps POLL s when empty)."""
        try:
            task_set = self.broker.dequeue() or []
        except Exception:  # the broker's own errors: try again after a pause, as django-q2's pusher does
            log.exception("task runner: could not take a task from the broker")
            time.sleep(Conf.POLL or 1)
            return
        for ack_id, payload in task_set:
            try:
                task = SignedPackage.loads(payload)
            except (TypeError, BadSignature):
                log.exception("task runner: dropping a task whose package does not unpack")
                self.broker.fail(ack_id)
                continue
            task["cluster"] = Conf.CLUSTER_NAME
            task["ack_id"] = ack_id
            self.start(task)

    def start(self, task: dict[str, Any]) -> None:
        """Fork a child that runs `task` and saves its result."""
        timeout = task.get("timeout", Conf.TIMEOUT)
        # A forked child must not share the parent's database socket: it opens its own.
        connections.close_all()
        pid = os.fork()
        if pid == 0:
            run_in_child(task, self.broker)
        self.children[pid] = Child(pid, task, None if timeout in (None, -1) else float(timeout))
        log.info("task runner: %s '%s' running in child %s", task["name"], task["func"], pid)

    def reap(self) -> None:
        """Forget the children that ended; a child that died unsaved leaves its task to the broker's retry."""
        for pid in list(self.children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
            child = self.children.pop(pid)
            if status:
                log.error("task runner: child %s running %s ended with status %s", pid, child.task["name"], status)

    def kill_overdue(self) -> None:
        """Kill each child past its task's timeout and grace, and save a Failure for its task."""
        now = time.monotonic()
        for child in [c for c in self.children.values() if c.overdue(self.kill_grace_s, now)]:
            self.kill(child)
            task = child.task
            ran_s = now - child.started
            task["result"] = f"killed by the task runner after {ran_s:.0f} s (timeout {child.timeout_s:g} s)"
            task["success"] = False
            task["stopped"] = timezone.now()
            save_task(task, self.broker)  # acknowledges it once its attempts are used up, as django-q2 does
            log.error("task runner: killed child %s, %s outlived its timeout", child.pid, task["name"])

    def kill(self, child: Child) -> None:
        """End `child` now."""
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
        del self.children[child.pid]

    def drain(self, wait_s: float) -> None:
        """Take no more tasks; wait up to `wait_s` for the running ones, then kill what still runs
        (their tasks stay in the broker, which hands them out again after Q_CLUSTER's retry)."""
        self.stopping = True
        deadline = time.monotonic() + wait_s
        while self.children and time.monotonic() < deadline:
            self.reap()
            time.sleep(BUSY_NAP_S)
        for child in self.pool:
            log.error("task runner: stopping, so killing child %s running %s", child.pid, child.task["name"])
            self.kill(child)
        Stat(self).save()


def run_in_child(task: dict[str, Any], broker: Broker) -> None:
    """In a forked child: run `task` as a cluster's worker would and save it as its monitor would;
    never returns."""
    code = 1
    try:
        # The parent decides when a task ends (Ctrl-C of dev.py reaches the whole process group).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        results: queue.SimpleQueue[Any] = queue.SimpleQueue()
        tasks.put(task)
        tasks.put("STOP")
        worker(tasks, results, Value("f", -1))  # a queue.SimpleQueue will do: it only calls get and put
        results.put("STOP")
        monitor(results, broker)
        code = 0
    except BaseException:
        log.exception("task runner: child for %s failed outside the task", task.get("name"))
    finally:
        os._exit(code)  # skip the parent's atexit handlers and buffers, which are not this child's
