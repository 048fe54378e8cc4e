"""A Dask cluster to run equicare's heavy work on: a local one by default, or an existing one.

equicare uses Dask's own distributed scheduler (``dask.distributed``), not a home-made pool:

- no address: a :class:`distributed.LocalCluster` of ``workers`` processes (one thread each, because
  the LightGBM and HiGHS calls inside a task are not meant to share a process between threads), started
  for the command and closed when it ends;
- ``scheduler="tcp://host:8786"``: a cluster the planner already runs (``dask scheduler`` and
  ``dask worker`` on several machines, Dask Kubernetes, dask-jobqueue on a batch system, ...).  Its
  workers need equicare installed at the same version; they read the input files only through what the
  client sends them, so they need no shared file system.

The address can also come from the environment variable ``EQUICARE_DASK_SCHEDULER``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from equicare.errors import EquicareError

SCHEDULER_ENV = "EQUICARE_DASK_SCHEDULER"
MAX_LOCAL_WORKERS = 256


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run: ``scheduler`` address, or ``workers`` local processes (default: the machine's cores)."""

    scheduler: str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.scheduler is not None and self.workers is not None:
            raise EquicareError("give either --scheduler (an existing cluster) or --workers (a local one), not both")
        if self.workers is not None and not 1 <= int(self.workers) <= MAX_LOCAL_WORKERS:
            raise EquicareError(f"--workers must be between 1 and {MAX_LOCAL_WORKERS} (got {self.workers})")
        if self.scheduler is not None and "://" not in self.scheduler and ":" not in self.scheduler:
            raise EquicareError(f"--scheduler must be an address such as tcp://host:8786 (got {self.scheduler!r})")

    @classmethod
    def from_options(cls, scheduler: str | None = None, workers: int | None = None) -> "ClusterSpec":
        """The spec from command-line options, falling back on ``EQUICARE_DASK_SCHEDULER``."""
        if scheduler is None and workers is None:
            scheduler = os.environ.get(SCHEDULER_ENV) or None
        return cls(scheduler=scheduler, workers=workers)

    def describe(self) -> str:
        if self.scheduler:
            return f"Dask cluster at {self.scheduler}"
        return f"local Dask cluster of {self.local_workers()} worker process(es)"

    def local_workers(self) -> int:
        return int(self.workers) if self.workers is not None else max(1, os.cpu_count() or 1)


@contextmanager
def dask_client(spec: ClusterSpec) -> Iterator["distributed.Client"]:  # noqa: F821
    """Open a :class:`distributed.Client` on the spec's cluster; a local cluster is closed afterwards.

    Raises
    ------
    EquicareError
        The scheduler cannot be reached (within 20 s).
    """
    from distributed import Client, LocalCluster

    if spec.scheduler:
        try:
            client = Client(spec.scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise EquicareError(f"cannot reach the Dask scheduler at {spec.scheduler} ({exc})") from exc
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=spec.local_workers(), threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
