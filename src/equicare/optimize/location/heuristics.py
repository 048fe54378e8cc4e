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
    fixed_closed = ~inS & (lb + rho - worst_in > ub + tol)
    fixed_open = free_in & (lb - rho + best_out > ub + tol)
    return fixed_closed, fixed_open
