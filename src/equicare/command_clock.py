"""When the command this process runs started, so that a command's ``--time-limit`` also covers the
interpreter's start-up and the imports before the command's own code runs.

Kept free of heavy imports: the console entry point imports it before anything else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

FRESH_PROCESS_SECONDS = 20.0
"""A process this young when the console entry point runs was started for this one command."""

_STARTED: list[float] = []


def process_started() -> float:
    """The ``time.perf_counter()`` value when this process started (Linux: from ``/proc``); elsewhere, now."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of proc(5): start time in ticks
        return time.perf_counter() - max(age, 0.0)
    except (OSError, ValueError, IndexError):
        return time.perf_counter()


@contextmanager
def command_process() -> Iterator[None]:
    """Around the console entry point: while it runs, :func:`command_started` is the process start when the
    process was started for this command (younger than :data:`FRESH_PROCESS_SECONDS`), else the call (a
    test runner calling the entry point in its own long-lived process)."""
    started = process_started()
    now = time.perf_counter()
    _STARTED.append(started if now - started < FRESH_PROCESS_SECONDS else now)
    try:
        yield
    finally:
        _STARTED.pop()


def command_started() -> float:
    """When the running command started (see :func:`command_process`); outside one, now."""
    return _STARTED[-1] if _STARTED else time.perf_counter()
