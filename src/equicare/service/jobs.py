"""The service's worker pool: heavy work (forecasts, solves, what-ifs, pooling) runs in worker processes.

The web process never fits a model or solves an optimisation itself. It hands each job to a bounded
:class:`concurrent.futures.ProcessPoolExecutor` (``spawn`` start method by default: a fresh interpreter,
no inherited threads or locks) and awaits the answer, so a job that crashes -- a segmentation fault in a
native library, say -- takes down one worker, never the web process; the pool is rebuilt and the job in
flight is reported as failed.

Admission is bounded: at most ``workers`` jobs run and ``queue`` more wait; beyond that a new job is
refused with :class:`Busy` (HTTP 503 with ``Retry-After``). One account may have at most ``per_user``
jobs in the pool at once (HTTP 429 with ``Retry-After``). Each worker is single-threaded for native
thread pools (BLAS/OpenMP through :mod:`threadpoolctl`; LightGBM models are built with ``num_threads=1``),
so ``workers`` is also the number of CPU cores the jobs use. Workers exit when the web process dies.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

__all__ = ["Busy", "JobPool", "PoolSettings", "WorkerCrashed", "failure_message"]


@dataclass(frozen=True)
class PoolSettings:
    """Size and limits of the worker pool.

    workers : worker processes (jobs running at once; each uses one core).
    queue : jobs that may wait for a worker beyond those running.
    per_user : jobs one account may have running or waiting at once.
    start_method : ``spawn`` or ``forkserver`` (never ``fork``: the web process has threads).
    retry_after : seconds suggested to a client refused as busy.
    warm : load the bundled data in each worker when it starts (the first job then does not pay for it).
    prestart : start the workers when the service starts rather than at the first job.
    nice : niceness added to the workers (0-19): the web process keeps the CPU it needs to answer
        while the workers are busy.
    """

    workers: int = 2
    queue: int = 64
    per_user: int = 16
    start_method: str = "spawn"
    retry_after: int = 5
    warm: bool = True
    prestart: bool = False
    nice: int = 10

    def __post_init__(self) -> None:
        if self.workers < 1 or self.queue < 0 or self.per_user < 1:
            raise ValueError("workers and per_user must be >= 1 and queue >= 0")
        if not 0 <= self.nice <= 19:
            raise ValueError(f"nice must be between 0 and 19, got {self.nice}")
        if self.start_method not in ("spawn", "forkserver"):
            raise ValueError(f"start_method must be spawn or forkserver, got {self.start_method!r}")


class Busy(Exception):
    """A job was refused because the pool (503) or the account's share of it (429) is full."""

    def __init__(self, message: str, status: int, retry_after: int) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    def to_dict(self) -> dict:
        return {"error": "Busy", "message": str(self), "retry_after": self.retry_after}


class WorkerCrashed(Exception):
    """The worker process running a job died (the job left no result)."""


def failure_message(exc: BaseException) -> str:
    """What a failed job's run records: a user error's own message, a crash said as such, else type and text."""
    from equicare.errors import EquicareError

    if isinstance(exc, EquicareError):
        return str(exc)
    if isinstance(exc, BrokenProcessPool):
        return "the worker process running this job stopped unexpectedly; no results were kept"
    return f"{type(exc).__name__}: {exc}"


def _init_worker(parent_pid: int, warm: bool, nice: int = 0) -> None:
    """Worker start-up: lower priority, one native thread, exit with the parent, optionally preload the data."""
    if nice:
        try:
            os.nice(nice)
        except OSError:  # not permitted here: run at normal priority
            pass
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # noqa: BLE001 - threadpoolctl is optional; the env variables still apply
        pass
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="equicare-parent-watch").start()
    if warm:
        try:
            from equicare.service.scenarios import warm_up

            warm_up()
        except Exception:  # noqa: BLE001 - a job will report the same failure with context
            pass


def _noop() -> None:
    return None


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)


class JobPool:
    """A bounded pool of worker processes with per-account limits (module docstring)."""

    def __init__(self, settings: PoolSettings | None = None) -> None:
        self.settings = settings or PoolSettings()
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._active = 0
        self._by_user: Counter[str] = Counter()
        self.crashes = 0
        self._closed = False

    # -- admission ------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return self.settings.workers + self.settings.queue

    def stats(self) -> dict:
        """Jobs in the pool now, and its limits."""
        with self._lock:
            return {"active": self._active, "workers": self.settings.workers, "queue": self.settings.queue,
                    "per_user": self.settings.per_user, "crashes": self.crashes}

    def submit(self, who: str, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)`` (a module-level function; arguments and result are pickled) for ``who``.

        Raises
        ------
        Busy
            The account already has ``per_user`` jobs (status 429) or the pool is full (status 503).
        """
        s = self.settings
        with self._lock:
            if self._closed:
                raise Busy("the service is shutting down; try again shortly", 503, s.retry_after)
            if self._by_user[who] >= s.per_user:
                raise Busy(f"you already have {s.per_user} jobs running or waiting; try again when one has "
                           "finished", 429, s.retry_after)
            if self._active >= self.capacity:
                raise Busy(f"the service is busy ({self._active} jobs running or waiting); try again in a few "
                           "seconds", 503, s.retry_after)
            self._active += 1
            self._by_user[who] += 1
            try:
                fut = self._submit_locked(fn, args)
            except BaseException:
                self._active -= 1
                self._by_user[who] -= 1
                raise
        fut.add_done_callback(lambda f: self._release(who, f))
        return fut

    def _executor_locked(self) -> ProcessPoolExecutor:
        if self._executor is None:
            s = self.settings
            self._executor = ProcessPoolExecutor(max_workers=s.workers, mp_context=mp.get_context(s.start_method),
                                                 initializer=_init_worker, initargs=(os.getpid(), s.warm, s.nice))
        return self._executor

    def _submit_locked(self, fn: Callable[..., Any], args: tuple) -> Future:
        for _ in range(2):
            ex = self._executor_locked()
            try:
                return ex.submit(fn, *args)
            except (BrokenProcessPool, RuntimeError):  # a worker died earlier: rebuild the pool once
                self._drop_executor_locked(ex)
        raise Busy("the worker pool could not be started; try again shortly", 503, self.settings.retry_after)

    def _drop_executor_locked(self, ex: ProcessPoolExecutor) -> None:
        if self._executor is ex:
            self._executor = None
            threading.Thread(target=ex.shutdown, kwargs={"wait": True, "cancel_futures": True},
                             daemon=True).start()

    def _release(self, who: str, fut: Future) -> None:
        broken = not fut.cancelled() and isinstance(fut.exception(), BrokenProcessPool)
        with self._lock:
            self._active -= 1
            self._by_user[who] -= 1
            if self._by_user[who] <= 0:
                del self._by_user[who]
            if broken:
                self.crashes += 1
                ex = self._executor
                if ex is not None and getattr(ex, "_broken", False):
                    self._drop_executor_locked(ex)

    def prestart(self) -> None:
        """Start every worker now (each loads the bundled data) so that the first jobs do not wait for it."""
        with self._lock:
            ex = self._executor_locked()
            for _ in range(self.settings.workers):
                ex.submit(_noop)

    # -- running --------------------------------------------------------------------------------
    async def run(self, who: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Submit and await the result (raises :class:`Busy`, :class:`WorkerCrashed` or the job's own error)."""
        fut = self.submit(who, fn, *args)
        try:
            return await asyncio.wrap_future(fut)
        except BrokenProcessPool:
            raise WorkerCrashed("the worker running this request stopped unexpectedly; nothing was kept. "
                                "Try again.") from None

    def shutdown(self) -> None:
        """Stop the workers (jobs still waiting are cancelled)."""
        with self._lock:
            self._closed = True
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)
