"""The project file's ``sweep`` section: the allocation stage over a grid of ``allocate`` values, on Dask.

.. code-block:: yaml

    sweep:
      grid:
        stock: [200, 400, 800]
        severity: [2.0, 3.0]
      scheduler: tcp://head:8786    # optional: an existing Dask cluster
      workers: 2                    # optional: else a local cluster of this many worker processes

Every combination is the project's allocation stage with those ``allocate`` keys replaced (the same need,
capacity and forecast), solved as one task on the cluster (:mod:`equicare.scale`). The table ``sweep.csv`` has
the grid keys, then ``min_share``, ``covered`` and ``cost`` (units allocated), ``status``, ``seconds`` and
``message``; a point that fails is reported and does not stop the others.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import fields, replace

import pandas as pd

from equicare.project.allocation import allocate_stage
from equicare.project.spec import AllocateSpec, Project, SweepSpec

MAX_PROJECT_SWEEP_POINTS = 10_000
SWEEPABLE = tuple(f.name for f in fields(AllocateSpec) if f.name not in ("resource", "need", "capacity",
                                                                           "occupancy", "as_of"))


def check_grid(spec: SweepSpec) -> list[str]:
    """Problems with a sweep grid (unknown keys, empty lists, too many points), as sentences."""
    out = []
    n = 1
    for k, v in spec.grid.items():
        if k not in SWEEPABLE:
            out.append(f"sweep.grid.{k}: not an allocate key that can be swept ({', '.join(SWEEPABLE)})")
        if not isinstance(v, list) or not v:
            out.append(f"sweep.grid.{k}: give a non-empty list of values")
        else:
            n *= len(v)
    if n > MAX_PROJECT_SWEEP_POINTS:
        out.append(f"sweep.grid: {n:,} points; at most {MAX_PROJECT_SWEEP_POINTS:,}")
    return out


def sweep_point(project: Project, inp, plan, values: dict) -> dict:
    """One point (on a Dask worker): the allocation stage with ``values`` in the allocate section; never raises."""
    from equicare.scale.sweep import surge_point

    def solve() -> dict:
        return allocate_stage(replace(project, allocate=replace(project.allocate, **values)), inp, plan)[1]

    return surge_point(solve)


def sweep_stage(project: Project, inp, plan) -> tuple[pd.DataFrame, dict]:
    """Every grid point on the configured Dask cluster; the ``sweep`` table and a summary."""
    from equicare.scale.cluster import ClusterSpec, dask_client
    from equicare.scale.sweep import gather_points

    spec = project.sweep
    keys = list(spec.grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*spec.grid.values())]
    cluster = ClusterSpec.from_options(spec.scheduler, spec.workers)
    t0 = time.perf_counter()
    with dask_client(cluster) as client:
        shared = client.scatter([project, inp, plan], broadcast=True, hash=False)
        results = gather_points([client.submit(sweep_point, *shared, p, pure=False) for p in points])
    table = pd.DataFrame([{**p, **r} for p, r in zip(points, results)],
                         columns=[*keys, "min_share", "covered", "cost", "status", "seconds", "message"])
    summary = {"sweep_points": len(points), "sweep_failed": int((table["status"] != "optimal").sum()),
               "sweep_cluster": cluster.describe(), "sweep_seconds": round(time.perf_counter() - t0, 2)}
    return table, summary
