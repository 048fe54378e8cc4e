"""Sweeps from the service: the surge allocation over a grid of scenario parameters, on a Dask cluster.

A planner posts a grid of :class:`~equicare.service.scenarios.ScenarioParams` values (``stockpile``,
``severity``, ``scenario_quantile``, ``fairness``, ``fairness_weight``, ``max_gini``) and optional base
values; every combination is one allocation, solved exactly as an ``allocate`` run with those parameters.
The job runs in the service's worker pool (never in the web process). When the service is configured with
a Dask scheduler (``equicare serve --dask-scheduler ADDRESS`` or ``EQUICARE_DASK_SCHEDULER``), the pool
worker hands the points to that cluster as one task each; otherwise it solves them one after another.
The run's result table ``sweep`` has one row per point (the grid keys, then ``min_share``, ``covered``,
``cost`` (beds deployed), ``status``, ``seconds``, ``message``); the dashboard's sweep page draws the
frontier (beds deployed against the minimum share of need met), in a worker process too
(:func:`frontier_page_job`).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from equicare.errors import EquicareError
from equicare.scale.cluster import SCHEDULER_ENV
from equicare.service.scenarios import RunOutput, ScenarioParams, parse_params

SWEEP_KEYS = ("stockpile", "severity", "scenario_quantile", "fairness", "fairness_weight", "max_gini")
MAX_SWEEP_POINTS = 400


@dataclass(frozen=True)
class SweepRequest:
    """A validated sweep: the grid (keys in order, their values) and the base parameters."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    base: dict

    def points(self) -> list[dict]:
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*self.values)]


def parse_sweep(raw: dict | None) -> SweepRequest:
    """Validate ``{"grid": {key: [values]}, "base": {...}}``; every point's parameters are checked up front.

    Raises
    ------
    EquicareError
        An unknown or unsweepable key, an empty list, more than :data:`MAX_SWEEP_POINTS` points, or any
        point whose parameters :func:`~equicare.service.scenarios.parse_params` refuses (named).
    """
    raw = dict(raw or {})
    unknown = sorted(set(raw) - {"grid", "base"})
    if unknown:
        raise EquicareError(f"unknown sweep field(s): {', '.join(unknown)} (known: grid, base)")
    grid, base = raw.get("grid"), raw.get("base") or {}
    if not isinstance(grid, dict) or not grid:
        raise EquicareError("parameter 'grid' must map parameter names to lists of values, e.g. "
                            "{\"stockpile\": [1000, 2500], \"severity\": [2, 3]}")
    if not isinstance(base, dict):
        raise EquicareError("parameter 'base' must map parameter names to values")
    keys, values = [], []
    for k, v in grid.items():
        if k not in SWEEP_KEYS:
            raise EquicareError(f"parameter 'grid': {k!r} cannot be swept (choose from {', '.join(SWEEP_KEYS)})")
        vals = v if isinstance(v, list) else [v]
        if not vals or len(vals) > MAX_SWEEP_POINTS:
            raise EquicareError(f"parameter 'grid.{k}': give 1 to {MAX_SWEEP_POINTS} values")
        keys.append(k)
        values.append(tuple(vals))
    n = 1
    for v in values:
        n *= len(v)
    if n > MAX_SWEEP_POINTS:
        raise EquicareError(f"parameter 'grid': {n:,} points; at most {MAX_SWEEP_POINTS} per sweep (use "
                            "`equicare sweep` on a cluster for more)")
    bad = sorted(set(base) - {f.name for f in fields(ScenarioParams)})
    if bad:
        raise EquicareError(f"parameter 'base': unknown parameter(s) {', '.join(bad)}")
    req = SweepRequest(tuple(keys), tuple(values), dict(base))
    for point in req.points():
        try:
            parse_params({**req.base, **point})
        except EquicareError as exc:
            raise EquicareError(f"grid point {point}: {exc}") from None
    return req


def sweep_point(base: dict, values: dict) -> dict:
    """One point (on a Dask worker or a pool worker): the allocation's summary figures; never raises."""
    from equicare.scale.sweep import surge_point
    from equicare.service.scenarios import allocation_tables

    return surge_point(lambda: allocation_tables(parse_params({**base, **values}))[1])


def sweep_job(req: SweepRequest, scheduler: str | None) -> RunOutput:
    """Solve every point (runs in a pool worker): on the Dask cluster at ``scheduler``, else one by one."""
    points = req.points()
    t0 = time.perf_counter()
    if scheduler:
        from equicare.scale.cluster import ClusterSpec, dask_client
        from equicare.scale.sweep import gather_points

        with dask_client(ClusterSpec(scheduler=scheduler)) as client:
            results = gather_points([client.submit(sweep_point, req.base, p, pure=False) for p in points])
        where = f"Dask cluster at {scheduler}"
    else:
        results = [sweep_point(req.base, p) for p in points]
        where = "the service's worker (no Dask scheduler configured)"
    table = pd.DataFrame([{**p, **r} for p, r in zip(points, results)],
                         columns=[*req.keys, "min_share", "covered", "cost", "status", "seconds", "message"])
    summary = {"points": len(points), "keys": list(req.keys), "base": req.base, "cluster": where,
               "failed": int((table["status"] != "optimal").sum()), "seconds": round(time.perf_counter() - t0, 2)}
    return RunOutput({"sweep": table}, summary, {})


def frontier_page_job(table: pd.DataFrame, keys: list[str]) -> tuple[str, str]:
    """The sweep page's frontier chart (Plotly HTML, without its CSP nonce) and its table of points (escaped HTML),
    drawn in a worker process: Plotly builds and checks every trace, tenths of a second for a few hundred points."""
    from equicare.report.html import table_html
    from equicare.scale.sweep_report import frontier_figure

    if "stockpile" in keys:  # the stockpile varies along each line: it is the x axis (beds deployed)
        keys = ["stockpile"] + [k for k in keys if k != "stockpile"]
    fig = frontier_figure(table, keys).update_layout(xaxis_title="surge ICU beds deployed")
    chart = fig.to_html(full_html=False, include_plotlyjs=False, div_id="sweep-frontier")
    shown = table.copy()
    shown["min_share"] = (100 * shown["min_share"]).round(1)
    rows = table_html(shown.rename(columns={"min_share": "minimum share met (%)", "cost": "beds deployed",
                                            "covered": "need covered (beds)"}), max_rows=MAX_SWEEP_POINTS)
    return chart, rows


def configured_scheduler(explicit: str | None = None) -> str | None:
    """The Dask scheduler the service hands sweeps to: ``explicit`` or ``EQUICARE_DASK_SCHEDULER``, else None."""
    return explicit or os.environ.get(SCHEDULER_ENV) or None


def start_sweep(store, raw: dict | None, *, org: str, user: str, pool, scheduler: str | None) -> str:
    """Validate, record and queue a sweep run (kind ``sweep``) in the worker pool; returns the run id."""
    from equicare.service.scenarios import finish_from_worker

    req = parse_sweep(raw)
    fut = pool.submit(f"{org}/{user}", sweep_job, req, scheduler)
    run_id = store.start_run("sweep", {"grid": {k: list(v) for k, v in zip(req.keys, req.values)},
                                       "base": req.base}, org=org, created_by=user)
    store.set_progress(run_id, 0, 1, f"queued: {len(req.points())} points")
    fut.add_done_callback(lambda f: finish_from_worker(store, run_id, f))
    return run_id


__all__ = ["MAX_SWEEP_POINTS", "SWEEP_KEYS", "SweepRequest", "configured_scheduler", "parse_sweep",
           "start_sweep", "sweep_job", "sweep_point"]
