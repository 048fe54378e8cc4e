"""Spatial access by chunks of origins on a Dask cluster, with the same numbers as one process.

The origins (rows of the cost matrix) are split into chunks; each chunk's sparse cost matrix is built on a
worker (from the rows of a given matrix, or from coordinates with a great-circle cut-off, so the national
matrix never exists in one place) and stays there for the two steps:

- measures local to an origin (``gravity``, Gaussian ``gravity``, ``nearest``): each chunk is computed
  with :func:`equicare.analyze.access.compute_access` on its rows alone;
- the two-step family (``2sfca``, ``e2sfca``): step 1's catchment demand
  :math:`D_j = \\sum_i P_i f(c_{ij})` is a sum over origins, so each chunk returns its part
  (:func:`~equicare.analyze.access.weighted_catchment` on the transposed chunk), the client adds them, and
  step 2 is :math:`A_i = \\sum_j f(c_{ij})\\, S_j / D_j` on each chunk
  (:func:`~equicare.analyze.access.weighted_catchment` with supply :math:`S/D`).  This is Luo & Wang's
  (2003) 2SFCA exactly as :func:`~equicare.analyze.access.two_step_fca` computes it; only the order of
  the floating-point additions in :math:`D` differs (relative differences of order 1e-15).

``fca``, ``3sfca`` and ``raam`` need more than one pass over all origins per step (RAAM iterates) and are
refused with a message: run them in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from equicare.analyze.access import (
    check_access_parameters,
    compute_access,
    normalize_access,
    step_weights,
    weighted_catchment,
)
from equicare.analyze.costs import great_circle_costs
from equicare.errors import EquicareError
from equicare.scale.cluster import ClusterSpec, dask_client

CHUNKED_METHODS = ("2sfca", "e2sfca", "gravity", "nearest")
DEFAULT_CHUNK_ROWS = 5_000


@dataclass(frozen=True)
class CoordinateCosts:
    """Great-circle km from origin to destination points, kept only within ``max_km`` (built per chunk)."""

    orig_lat: np.ndarray
    orig_lon: np.ndarray
    dest_lat: np.ndarray
    dest_lon: np.ndarray
    max_km: float

    @property
    def n_origins(self) -> int:
        return int(np.asarray(self.orig_lat).size)

    def rows(self, lo: int, hi: int) -> sp.csr_matrix:
        return great_circle_costs(self.orig_lat[lo:hi], self.orig_lon[lo:hi], self.dest_lat, self.dest_lon,
                                  self.max_km)


@dataclass(frozen=True)
class MatrixCosts:
    """A cost matrix already in memory (e.g. read from a long table), split by rows."""

    matrix: sp.csr_matrix

    @property
    def n_origins(self) -> int:
        return int(self.matrix.shape[0])

    def rows(self, lo: int, hi: int) -> sp.csr_matrix:
        return sp.csr_matrix(self.matrix[lo:hi])


def _weight(method: str, weights: Mapping[float, float] | None) -> Callable | None:
    return None if weights is None else step_weights(weights)


def _chunk_demand(cost: sp.csr_matrix, demand: np.ndarray, method: str, weights, max_cost) -> np.ndarray:
    """Step 1 on one chunk: each destination's weighted demand from this chunk's origins."""
    return weighted_catchment(sp.csr_matrix(cost.T), demand, _weight(method, weights), max_cost)


def _chunk_step2(cost: sp.csr_matrix, ratio: np.ndarray, method: str, weights, max_cost) -> np.ndarray:
    return weighted_catchment(cost, ratio, _weight(method, weights), max_cost)


def _chunk_local(cost: sp.csr_matrix, demand: np.ndarray, supply: np.ndarray, method: str, params: dict) -> np.ndarray:
    return compute_access(method, cost, demand, supply, **params)


def _check(method: str) -> str:
    m = method.lower()
    if m not in CHUNKED_METHODS:
        raise EquicareError(f"method {method!r} cannot be split by origins (it needs every origin at each step); "
                            f"with --workers/--scheduler use one of {', '.join(CHUNKED_METHODS)}, or run it "
                            "in one process")
    return m


def chunked_access(method: str, costs: CoordinateCosts | MatrixCosts, demand: np.ndarray, supply: np.ndarray, *,
                   client=None, cluster: ClusterSpec | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                   max_cost: float | None = None, weights: Mapping[float, float] | None = None,
                   normalize: bool = False, progress: Callable[[int, int], None] | None = None,
                   **params) -> np.ndarray:
    """Access by chunks of origins on a Dask cluster; the same values as :func:`compute_access` in one process.

    Parameters
    ----------
    method : one of :data:`CHUNKED_METHODS`.
    costs : where each chunk's costs come from (coordinates with a cut-off, or a matrix to split).
    demand : ``(n_origins,)``; supply : ``(n_destinations,)`` or ``(n_destinations, k)``.
    client : an open ``distributed.Client``; else one is opened on ``cluster`` (default: local, one worker per core).
    chunk_rows : origins per task.
    max_cost, weights, normalize, params : as for :func:`compute_access` (``scale``, ``alpha``, ``min_dist``, ``sigma``).

    Returns
    -------
    numpy.ndarray ``(n_origins,)`` or ``(n_origins, k)``.
    """
    m = _check(method)
    check_access_parameters(m, max_cost=max_cost, weights=weights, **params)
    if not int(chunk_rows) >= 1:
        raise EquicareError(f"chunk_rows must be at least 1 (got {chunk_rows})")
    d = np.asarray(demand, float)
    s = np.asarray(supply, float)
    n = costs.n_origins
    if d.shape != (n,):
        raise EquicareError(f"demand has shape {d.shape}; expected ({n},), one value per origin")
    if client is None:
        with dask_client(cluster or ClusterSpec()) as c:
            return chunked_access(m, costs, d, s, client=c, chunk_rows=chunk_rows, max_cost=max_cost,
                                  weights=weights, normalize=normalize, progress=progress, **params)
    bounds = [(lo, min(lo + int(chunk_rows), n)) for lo in range(0, n, int(chunk_rows))]
    total = len(bounds) * (2 if m in ("2sfca", "e2sfca") else 1)
    done = 0
    costs_f = client.scatter(costs, broadcast=True, hash=False)
    chunks = [client.submit(lambda c, lo, hi: c.rows(lo, hi), costs_f, lo, hi, pure=False) for lo, hi in bounds]
    if m in ("2sfca", "e2sfca"):
        parts = [client.submit(_chunk_demand, cf, d[lo:hi], m, weights, max_cost, pure=False)
                 for cf, (lo, hi) in zip(chunks, bounds)]
        dem = None
        for f in parts:
            part = f.result()
            dem = part if dem is None else dem + part
            done += 1
            if progress:
                progress(done, total)
        den = dem.reshape(dem.shape + (1,) * (s.ndim - dem.ndim))
        ratio = np.zeros(np.broadcast_shapes(s.shape, den.shape))
        np.divide(s, den, out=ratio, where=np.broadcast_to(den != 0, ratio.shape))
        ratio_f = client.scatter(ratio, broadcast=True, hash=False)
        outs = [client.submit(_chunk_step2, cf, ratio_f, m, weights, max_cost, pure=False) for cf in chunks]
    else:
        local = dict(params, max_cost=max_cost)
        s_f = client.scatter(s, broadcast=True, hash=False)
        outs = [client.submit(_chunk_local, cf, d[lo:hi], s_f, m, local, pure=False)
                for cf, (lo, hi) in zip(chunks, bounds)]
    pieces = []
    for f in outs:
        pieces.append(f.result())
        done += 1
        if progress:
            progress(done, total)
    out = np.concatenate(pieces, axis=0) if pieces else np.zeros((0,) + s.shape[1:])
    return normalize_access(out, d) if normalize else out


def access_engine(cluster: ClusterSpec, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                  progress: Callable[[int, int], None] | None = None) -> Callable[..., np.ndarray]:
    """A drop-in for :func:`compute_access` (same signature) that splits the cost matrix's rows on ``cluster``."""

    def engine(method: str, cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray, *,
               demand_cost: sp.spmatrix | None = None, **params) -> np.ndarray:
        if demand_cost is not None:
            _check("fca")
        return chunked_access(method, MatrixCosts(sp.csr_matrix(cost)), demand, supply, cluster=cluster,
                              chunk_rows=chunk_rows, progress=progress, **params)

    return engine


__all__ = ["access_engine", "CHUNKED_METHODS", "CoordinateCosts", "MatrixCosts", "chunked_access"]
