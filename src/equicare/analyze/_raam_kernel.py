"""The RAAM iteration as one compiled (numba) kernel on the sparse pairs of a CSR cost matrix.

Imported lazily by :func:`equicare.analyze.access.raam`, so that the other access measures do not
pay numba's import. The kernel repeats ``access.raam.iterate_raam`` (PySAL ``access``) cycle for
cycle with the same floating-point operations (only sums over origins or destinations may run in
another order, which is exact for whole-number demand), on the pairs in reach only:

1. every origin starts with all its demand at its nearest destination;
2. each cycle computes the demand at every destination, ``congestion = demand / supply``, and for
   each origin the total cost ``congestion + travel`` of every destination in reach; then, for
   every origin at once (with the congestion of the start of the cycle), finds the cheapest
   destination (``argmin``) and the costliest destination it uses (``argmax`` over destinations
   with a non-zero assignment), and moves ``delta`` people between the two, where ``delta`` is
   the shift that would equalise their total costs, capped by the demand at the costliest and by
   ``step * demand`` (the step halves every ``half_life`` cycles down to ``min_step``), truncated
   to an integer; during the first ``limit_initial`` cycles the moves into a destination are
   scaled down when together they exceed its supply (rounded half to even, as ``numpy.round``).

Its speed comes from working on the pairs in reach only (``access`` runs every cycle on the
dense origin x destination matrix) with compiled loops, and from keeping, per origin, a list of the
destinations it uses, updated as assignments become non-zero or zero, so that the costliest used
destination and the demand at each destination are found without touching the unused pairs.
Ties between exactly equal total costs go to the lowest column in both searches, as ``argmin``
and ``argmax`` over the columns do in ``access``.
"""

from __future__ import annotations

import numba
import numpy as np


def _iterate(indptr, cols, travel, demand, supply, steps, limit_initial):  # pragma: no cover - jitted
    """Run ``len(steps)`` cycles; return the final assignment per pair and the last cycle's congestion.

    ``indptr``, ``cols``, ``travel``: the CSR structure (columns increasing within each row) and
    travel costs (``cost / tau``) of the pairs; ``supply``: ``rho * S_j`` (``inf`` where a
    column holds no pair); ``steps[i]``: the step fraction of cycle ``i``.
    """
    n = indptr.size - 1
    m = supply.size
    nnz = cols.size
    assign = np.zeros(nnz)
    act = np.empty(nnz, np.int64)  # row r's assigned entries: act[indptr[r] : indptr[r] + nact[r]]
    slot = np.full(nnz, -1, np.int64)  # position of an entry in act, -1 if unassigned
    nact = np.zeros(n, np.int64)
    for r in range(n):  # all demand at the nearest destination (first in column order on ties)
        near = indptr[r]
        for e in range(indptr[r] + 1, indptr[r + 1]):
            if travel[e] < travel[near]:
                near = e
        assign[near] = demand[r]
        act[indptr[r]] = near
        slot[near] = indptr[r]
        nact[r] = 1
    das = np.zeros(m)
    congestion = np.zeros(m)
    min_e = np.empty(n, np.int64)
    max_e = np.empty(n, np.int64)
    delta = np.zeros(n, np.int64)
    naive = np.zeros(m)
    for i in range(steps.size):
        das[:] = 0.0
        for r in range(n):
            for a in range(indptr[r], indptr[r] + nact[r]):
                das[cols[act[a]]] += assign[act[a]]
        for j in range(m):
            congestion[j] = das[j] / supply[j]
        for r in range(n):
            # cheapest destination (the first in column order on ties)
            best, lo = np.inf, -1
            for e in range(indptr[r], indptr[r + 1]):
                t = congestion[cols[e]] + travel[e]
                if t < best:
                    best, lo = t, e
            # costliest assigned destination
            worst, hi, wcol = -np.inf, -1, m
            for a in range(indptr[r], indptr[r] + nact[r]):
                e = act[a]
                t = congestion[cols[e]] + travel[e]
                if t > worst or (t == worst and cols[e] < wcol):
                    worst, hi, wcol = t, e, cols[e]
            min_e[r], max_e[r] = lo, hi
            if lo == hi:
                delta[r] = 0
                continue
            slmin, slmax = supply[cols[lo]], supply[cols[hi]]
            drlmin, drlmax = assign[lo], assign[hi]
            drotherlmin = das[cols[lo]] - drlmin
            drotherlmax = das[cols[hi]] - drlmax
            drlmin_new = ((slmin * slmax) / (slmin + slmax)) * (
                (travel[hi] - travel[lo]) + (drlmin + drlmax + drotherlmax) / slmax - drotherlmin / slmin)
            d = min(drlmin_new - drlmin, drlmax)
            delta[r] = int(min(d, steps[i] * demand[r]))  # truncation towards zero, as astype(int)
        if i < limit_initial:  # do not let attractive destinations get mobbed
            naive[:] = 0.0
            for r in range(n):
                naive[cols[min_e[r]]] += delta[r]
            for r in range(n):
                j = cols[min_e[r]]
                scale = max(naive[j] / supply[j], 1.0)
                delta[r] = int(np.rint(delta[r] / scale))
        for r in range(n):
            if delta[r] == 0:
                continue
            lo, hi = min_e[r], max_e[r]
            assign[lo] += delta[r]
            assign[hi] -= delta[r]
            for e in (lo, hi):  # keep the list of assigned entries in step
                if assign[e] != 0.0 and slot[e] < 0:
                    a = indptr[r] + nact[r]
                    act[a], slot[e] = e, a
                    nact[r] += 1
                elif assign[e] == 0.0 and slot[e] >= 0:
                    last = indptr[r] + nact[r] - 1
                    moved = act[last]
                    act[slot[e]], slot[moved] = moved, slot[e]
                    slot[e] = -1
                    nact[r] -= 1
    return assign, congestion


try:  # compiled once per machine when a cache directory is writable, else once per process
    iterate = numba.njit(cache=True)(_iterate)
except RuntimeError:  # no writable cache location
    iterate = numba.njit(_iterate)


def run(c, demand: np.ndarray, supply: np.ndarray, tau: float, max_cycles: int, initial_step: float,
        min_step: float, half_life: float, limit_initial: int) -> np.ndarray:
    """RAAM cost of every row of the CSR matrix ``c`` (every row holds at least one pair)."""
    indptr = c.indptr.astype(np.int64)
    cols = c.indices.astype(np.int64)
    travel = c.data / tau
    supply = np.where(supply > 0, supply, np.inf)
    cycles = np.arange(max(int(max_cycles), 0))
    steps = np.maximum(initial_step * 0.5 ** (cycles / half_life), min_step)
    assign, congestion = iterate(indptr, cols, travel, np.asarray(demand, float), supply, steps,
                                 int(limit_initial))
    # access reports the total cost at the last cycle's prices with the final assignment
    total = travel + (congestion[cols] if max_cycles > 0 else 0.0)
    starts = indptr[:-1]
    return np.add.reduceat(total * assign, starts) / np.add.reduceat(assign, starts)
