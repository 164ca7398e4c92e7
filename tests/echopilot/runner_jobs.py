"""Tasks the task runner's tests queue by dotted path (forked children and other processes import them)."""

import os
import signal
import time


def add(a, b):
    return a + b


def note(path, label):
    """Appends `label` and the pid of the runner or cluster that ran it (the parent) to `path`, in one
    write to a file opened for append, so runs never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{label} {os.getppid()}\n".encode())
    finally:
        os.close(fd)
    return label


def fail(message):
    raise RuntimeError(message)


def sleep(seconds):
    time.sleep(seconds)
    return "woke"


def hang_through_the_alarm(seconds):
    """A task that swallows the timeout's alarm (as a stuck C call would): only a kill ends it."""
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    time.sleep(seconds)
    return "outlived its timeout"
