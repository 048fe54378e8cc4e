"""Time limits that bound a whole command, and progress lines on the console while a model solves."""

from __future__ import annotations

import math
import time

from equicare.command_clock import command_started
from equicare.errors import EquicareError

DEFAULT_GAP = 1e-6
"""Relative gap at which a solve stops when none is asked for (``--gap``)."""


class Deadline:
    """A wall-clock budget started once (when the command starts) and shared by every phase.

    Parameters
    ----------
    seconds : float or None
        The budget; None = no limit.
    start : float, optional
        When the budget started (a ``time.perf_counter()`` value; default now).
    """

    def __init__(self, seconds: float | None = None, start: float | None = None):
        if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
            raise EquicareError(f"a time limit must be a positive number of seconds, got {seconds}")
        self.seconds = seconds
        self.start = time.perf_counter() if start is None else start  # time.perf_counter() units

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self) -> float | None:
        """Seconds left (never below 0), or None without a limit."""
        return None if self.seconds is None else max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        return self.seconds is not None and self.elapsed() >= self.seconds

    def share(self, fraction: float, cap: float | None = None) -> Deadline:
        """A deadline for one phase: ``fraction`` of what is left (at most ``cap`` seconds)."""
        r = self.remaining()
        s = None if r is None else max(fraction * r, 1e-3)
        if cap is not None:
            s = cap if s is None else min(s, cap)
        return Deadline(s)


WRITE_MARGIN = 0.03
"""Share of a command's time limit (at most 1 s) kept for writing the answer after the solver stops."""


def command_deadline(seconds: float | None) -> Deadline:
    """The deadline of a whole command, less a margin to write the answer, counted from the command's start
    (:func:`equicare.command_clock.command_started`: the process start when the process runs this one
    command)."""
    if seconds is None:
        return Deadline(None)
    return Deadline(max(seconds - min(1.0, WRITE_MARGIN * seconds), 0.5 * seconds), start=command_started())


def relative_gap(objective: float, bound: float) -> float:
    """``|objective - bound| / |objective|`` (0 when both are 0; the MIP convention of HiGHS)."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.inf
    diff = abs(objective - bound)
    if diff <= 1e-12 * max(abs(objective), abs(bound), 1.0):
        return 0.0
    return diff / max(abs(objective), 1e-300)


class Progress:
    """Progress lines (phase, incumbent, bound, gap, elapsed) on stderr through rich, for solves that run
    longer than ``after`` seconds; at most one line every ``every`` seconds.  Disabled: does nothing."""

    def __init__(self, enabled: bool = False, deadline: Deadline | None = None, after: float = 2.0,
                 every: float = 1.0, label: str = ""):
        self.enabled = enabled
        self.deadline = deadline or Deadline()
        self.after = after
        self.every = every
        self.label = label
        self._last = -math.inf
        self._console = None

    def report(self, phase: str, incumbent: float, bound: float, force: bool = False) -> None:
        if not self.enabled:
            return
        t = self.deadline.elapsed()
        if not force and (t < self.after or t - self._last < self.every):
            return
        self._last = t
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, width=160)
        gap = relative_gap(incumbent, bound)
        inc = f"{incumbent:,.6g}" if math.isfinite(incumbent) else "none yet"
        bnd = f"{bound:,.6g}" if math.isfinite(bound) else "none yet"
        g = f"{100 * gap:.4f}%" if math.isfinite(gap) else "n/a"
        limit = f" of {self.deadline.seconds:g}" if self.deadline.seconds is not None else ""
        self._console.print(f"[bold]{self.label}[/bold] {phase:<12} elapsed {t:7.1f}{limit} s  "
                            f"incumbent {inc}  bound {bnd}  gap {g}")


def watch_highs(h, progress: Progress, deadline: Deadline, maximize: bool, incumbent: float,
                bound: float, phase: str = "branching", scale: float = 1.0) -> None:
    """While HiGHS (``h``, a ``highspy.Highs``) works on a MIP: report its incumbent and bound through
    ``progress`` (never worse than the ``incumbent`` and ``bound`` already known outside it, in the
    model's sense), and interrupt it at the ``deadline`` (its own time limit is not checked inside every
    phase).  ``scale``: the model's objective is the problem's divided by it."""
    import highspy

    kinds = highspy.cb.HighsCallbackType
    better = max if maximize else min
    worse = min if maximize else max

    def cb(kind, _msg, data_out, data_in, _user):
        if kind == kinds.kCallbackMipInterrupt:
            inc = better(incumbent, scale * float(data_out.mip_primal_bound))
            bnd = worse(bound, better(inc, scale * float(data_out.mip_dual_bound)))
            progress.report(phase, inc, bnd)
        if deadline.expired():
            data_in.user_interrupt = True

    h.setCallback(cb, None)
    for k in (kinds.kCallbackMipInterrupt, kinds.kCallbackSimplexInterrupt, kinds.kCallbackIpmInterrupt):
        h.startCallback(k)
