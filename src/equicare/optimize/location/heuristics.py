"""Reduced-cost tests shared by the median and covering models.

Reduced-cost fixing of sites from a Lagrangian bound (Beasley 1993; Galvao and ReVelle 1996).  Greedy
adding (Kuehn and Hamburger 1963) and vertex substitution (Teitz and Bart 1968) run on the sparse sorted
pairs in :mod:`.kernels` (the MCLP uses ``-w_i`` for a covered pair and 0 otherwise, a p-median).

References
----------
Kuehn, A. A. and Hamburger, M. J. (1963). A heuristic program for locating warehouses. *Management
Science* 9, 643-666.
Teitz, M. B. and Bart, P. (1968). Heuristic methods for estimating the generalized vertex median of a
weighted graph. *Operations Research* 16, 955-961.
Beasley, J. E. (1993). Lagrangean heuristics for location problems. *European Journal of Operational
Research* 65, 383-399.
"""

from __future__ import annotations

import numpy as np

from equicare.optimize.location import kernels as kn


def fixing_tests(lb: float, rho: np.ndarray, S: np.ndarray, forced: np.ndarray, ub: float):
    """Reduced-cost tests of a Lagrangian bound whose site part picks the forced sites and the p - |forced|
    others with the smallest ``rho`` (minimisation): ``lb`` the bound, ``S`` the picked sites, ``ub`` the
    incumbent.  Opening an unpicked site j costs at least ``rho_j - max(rho over free picked)`` on the
    bound, closing a picked one ``min(rho over unpicked) - rho_j``: when the bound then exceeds the
    incumbent, no better solution opens (closes) it.  Returns (fixed_closed, fixed_open) masks."""
    m = len(rho)
    inS = np.zeros(m, bool)
    inS[S] = True
    free_in = inS & ~forced
    worst_in = rho[free_in].max() if free_in.any() else np.inf
    best_out = rho[~inS].min() if (~inS).any() else np.inf
    tol = 1e-9 * max(abs(ub), 1.0)
    with np.errstate(invalid="ignore"):  # inf - inf (no free site picked, or every other closed): no test
        fixed_closed = ~inS & (lb + rho - worst_in > ub + tol)
        fixed_open = free_in & (lb - rho + best_out > ub + tol)
    return fixed_closed, fixed_open


def local_search(rows, a, is_open, forced, big, deadline, max_swaps: int = 10_000):
    """Best-improvement swaps (fast interchange) until none lowers ``sum_i min_{j open} a_ij`` (``big`` for a
    point no open site serves) or the deadline; returns (open set, objective, swaps made)."""
    ptr, site = rows.ptr, rows.site
    swaps = 0
    while swaps < max_swaps and not deadline.expired():
        d1, f1, d2 = kn.nearest_two(ptr, site, a, is_open, big)
        removable = np.flatnonzero(is_open & ~forced)
        if not len(removable):
            break
        pos = np.full(len(is_open), -1, np.int64)
        pos[removable] = np.arange(len(removable))
        # a point whose nearest open site is forced keeps it: its column stays out of the swap table
        f1_pos = f1.copy()
        delta, k, r = kn.best_swap(ptr, site, a, d1, f1_pos, d2, is_open, removable, pos)
        if k < 0 or delta > -1e-12 * max(float(d1.sum()), 1.0):
            break
        is_open[k], is_open[r] = True, False
        swaps += 1
    return is_open, kn.evaluate_open(ptr, site, a, is_open, big), swaps
