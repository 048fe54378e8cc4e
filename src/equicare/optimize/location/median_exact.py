"""The exact p-median solver for large instances: heuristic, Lagrangian bound with fixing, then a MIP or a
Lagrangian branch and bound on what is left.

Pipeline (each phase stops at the shared deadline; the answer is always the best solution so far)
---------------------------------------------------------------------------------------------------
1. Incumbent: greedy adding (Kuehn and Hamburger 1963), then best-improvement vertex substitution (Teitz
   and Bart 1968; fast interchange, numba).
2. Lower bound: the Lagrangian relaxation of the assignment rows, raised by subgradient steps, with
   reduced-cost fixing of sites and pairs repeated as the bound rises (:mod:`.median_bound`); the
   Lagrangian site sets restart the local search.
3. On the pairs left, for the time left, either
   a. the strong MIP (:mod:`.median_mip`), started from the incumbent, when at most ``TREE_ABOVE_PAIRS``
      pairs are left: HiGHS then proves the optimum at or near the root; or
   b. branch and bound on the sites with a Lagrangian bound at every node (:mod:`.median_tree`) when more
      are left: HiGHS's root LP (strong or radius formulation alike) grows with the square of the pairs,
      while a node costs a few hundred passes over them.
   The proven bound is ``max(LB, min(UB, bound of 3))``: every solution cheaper than ``UB`` lies in that
   model, so its bound holds for them, and ``UB`` for the rest.

Measured on Chicago (Euclidean metres, demand = population), time to the proven optimum including every
phase, on the shared 2-core machine (load about 2):

================================  ====  ===========  ======================  =====================
instance                          p     kept pairs   MIP (3a)                tree (3b)
================================  ====  ===========  ======================  =====================
1,930 x 1,930 (3.7 M pairs)       10    7,500        8.0 s                   9.2 s
1,930 x 1,930                     20    15,000       14.4 s                  9.1 s
1,930 x 1,930                     50    15,000       8.9 s                   30.9 s
1,930 x 193 (every tenth site)    10    85,000       gap 0.17 % after 60 s   5.8 s (22 nodes)
1,930 x 193                       20    46,000       gap 0.048 % after 60 s  8.1 s (46 nodes)
================================  ====  ===========  ======================  =====================

The 1,930 x 193 instance has an LP gap of 0.17 % at p = 10 (the Lagrangian bound reaches the LP bound);
HiGHS needs 25-50 s for the root LP of that model alone (85,000 pairs, strong or radius formulation).

The references of each phase are in :mod:`.heuristics`, :mod:`.median_bound`, :mod:`.median_mip` and
:mod:`.median_tree`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from equicare.errors import EquicareError
from equicare.optimize.location import kernels as kn
from equicare.optimize.location.heuristics import local_search
from equicare.optimize.location.median_bound import lagrangian_bound
from equicare.optimize.location.median_mip import MAX_MIP_PAIRS, strong_mip
from equicare.optimize.location.median_tree import lagrangian_tree
from equicare.optimize.location.progress import Deadline, Progress, relative_gap
from equicare.optimize.location.radius import radius_mip
from equicare.optimize.location.rows import SortedRows

LAGRANGIAN_SHARE = 0.5
"""Share of the time left that the Lagrangian bound may use before the MIP (it stops earlier when the
bound stops rising)."""

METHODS = ("auto", "tree", "mip")
"""How the model left after the fixing is solved (``method`` of :func:`solve_p_median`)."""

TREE_ABOVE_PAIRS = 20_000
"""Kept pairs above which ``method="auto"`` searches the Lagrangian tree instead of solving the MIP (the
MIP's root takes about ``MIP_SECONDS_PER_PAIR2 * pairs**2``: 5 s at 20,000 pairs, 25 s at 46,000; the
tree is slower than the MIP on the all-candidates instance at p = 50 with 15,000 pairs, see the module
doc)."""


@dataclass
class MedianSolution:
    """Best open set found, its objective, the proven lower bound and figures of each phase."""

    is_open: np.ndarray
    objective: float
    bound: float
    details: dict[str, Any] = field(default_factory=dict)


def solve_p_median(rows: SortedRows, w: np.ndarray, p: int, forced: np.ndarray, deadline: Deadline,
                   gap: float = 1e-6, progress: Progress | None = None,
                   max_model_pairs: int = MAX_MIP_PAIRS, reduce: bool = True,
                   method: str = "auto") -> MedianSolution:
    """Solve the p-median on sorted rows to proven optimality or until ``deadline`` (see module doc).

    Parameters
    ----------
    rows : SortedRows
        Allowed pairs; every demand point must be reachable by some choice of *p* sites (checked before).
    w : ndarray, shape (n,)
        Demand weights.
    p : int
    forced : ndarray of bool, shape (m,)
    deadline : Deadline
    gap : float
        Relative gap at which to stop.
    max_model_pairs : int
        Kept pairs above which the MIP is not built.
    reduce : bool
        Lagrangian bound and variable fixing before the MIP (off: the radius MIP on every pair).
    method : str
        After the fixing: ``"tree"`` the Lagrangian branch and bound (:mod:`.median_tree`), ``"mip"`` the
        strong MIP on the kept pairs (:mod:`.median_mip`), ``"auto"`` the tree when more than
        ``TREE_ABOVE_PAIRS`` pairs are kept (or more than ``max_model_pairs``), else the MIP.
    """
    if method not in METHODS:
        raise EquicareError(f"method must be one of {', '.join(METHODS)}, got {method}")
    progress = progress or Progress(False, deadline)
    m = rows.n_site
    ptr, site = rows.ptr, rows.site
    a = w[rows.demand] * rows.d
    big = float(np.maximum.reduceat(a, ptr[:-1]).sum() if rows.nnz else 0.0) + 1.0 if rows.nnz else 1.0
    nf = int(forced.sum())
    # every point pays at least its cheapest pair: a bound that always holds
    lb0 = float(a[ptr[:-1][np.diff(ptr) > 0]].sum())
    details: dict[str, Any] = {"trivial_bound": lb0}
    if p >= m or p == nf:
        is_open = forced.copy() if p == nf else np.ones(m, bool)
        obj = kn.evaluate_open(ptr, site, a, is_open, big)
        return MedianSolution(is_open, obj, obj, {"proof": "only one choice of sites"})

    # 1. incumbent
    is_open = kn.greedy_add(ptr, site, a, forced.copy(), p, big)
    ub = kn.evaluate_open(ptr, site, a, is_open, big)
    details["greedy_objective"] = ub
    is_open, ub, swaps = local_search(rows, a, is_open, forced, big, deadline)
    details.update({"heuristic_objective": ub, "swaps": swaps})
    progress.report("heuristic", ub, -np.inf)
    if deadline.expired():
        return MedianSolution(is_open, ub, lb0, {**details, "stopped": "time limit in the heuristic"})

    if not reduce:
        keep = np.ones(rows.nnz, bool)
        res = radius_mip(rows, a, w, keep, p, forced, np.zeros(m, bool), is_open, deadline, gap, progress, ub,
                         -np.inf)
        if res["is_open"] is not None and kn.evaluate_open(ptr, site, a, res["is_open"], big) < ub:
            is_open = res["is_open"]
            ub = kn.evaluate_open(ptr, site, a, is_open, big)
        return MedianSolution(is_open, ub, max(lb0, min(res["bound"], ub)), {**details, **res["details"]})

    # 2. Lagrangian bound, fixing and the kept model (pairs a point with no weight and every site needs
    # nothing: it is served whatever opens)
    need = ~((w == 0) & (np.diff(ptr) == m))
    lag = lagrangian_bound(rows, a, p, forced, is_open, ub, big, deadline.share(LAGRANGIAN_SHARE), gap, progress,
                           need=need, max_pairs_for_mip=max_model_pairs)
    is_open, ub = lag.is_open, lag.incumbent
    lb = max(lag.bound, lb0)
    details.update({"lagrangian_bound": lag.bound, "lagrangian_iterations": lag.iterations,
                    "restrictions": lag.restrictions, "heuristic_objective": ub,
                    "sites_fixed_closed": int(lag.closed.sum()), "sites_fixed_open": int(lag.fixed_open.sum()),
                    "pairs_kept": int(lag.kept.nnz), "pairs": int(rows.nnz)})
    if lag.proof or relative_gap(ub, lb) <= gap:
        progress.report("done", ub, min(lb, ub), force=True)
        return MedianSolution(is_open, ub, min(lb, ub), {**details, "proof": lag.proof or "lagrangian bound"})
    if deadline.expired():
        return MedianSolution(is_open, ub, min(lb, ub), {**details, "stopped": "time limit"})
    many = lag.kept.nnz > (TREE_ABOVE_PAIRS if method == "auto" else max_model_pairs)
    if method == "tree" or many:
        # 3a. branch and bound on the sites with Lagrangian bounds: HiGHS's root LP on this many pairs would
        # take longer than the whole search
        ka = w[lag.kept.demand] * lag.kept.d
        tree = lagrangian_tree(lag.kept, ka, rows, a, p, lag.fixed_open, lag.closed, lag.lam, is_open, ub, big,
                               need, deadline, gap, progress)
        is_open, ub = tree.is_open, tree.objective
        bound = max(lb, min(tree.bound, ub))
        details.update({"method": "lagrangian tree", "tree_nodes": tree.nodes, "tree_iterations": tree.iterations})
        if tree.stopped:
            details["stopped"] = tree.stopped
        elif relative_gap(ub, bound) <= gap:
            details["proof"] = "lagrangian tree"
        progress.report("done", ub, bound, force=True)
        return MedianSolution(is_open, ub, min(bound, ub), details)

    # 3. the strong MIP on the kept pairs
    res = strong_mip(lag.kept, w, p, lag.fixed_open, lag.closed, is_open, need, deadline, gap, progress, ub, lb)
    details.update({"method": "MIP", **res.details})
    if res.is_open is not None:
        cand = kn.evaluate_open(ptr, site, a, res.is_open, big)
        if cand < ub:
            is_open, ub = res.is_open, cand
    bound = max(lb, min(res.bound, ub))
    if relative_gap(ub, bound) <= gap:
        details["proof"] = "MIP on the kept pairs"
    progress.report("done", ub, bound, force=True)
    return MedianSolution(is_open, ub, min(bound, ub), details)
