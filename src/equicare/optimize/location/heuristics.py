"""Local search and reduced-cost tests shared by the median and covering models.

All work on a demand-by-site cost matrix ``A`` (demand-weighted costs; the MCLP uses ``-w_i`` for a
covered pair and 0 otherwise, which makes it a p-median):

- greedy adding (Kuehn and Hamburger 1963);
- vertex substitution (Teitz and Bart 1968), best improvement, vectorised over all swaps;
- reduced-cost fixing of sites from a Lagrangian bound (Beasley 1993; Galvao and ReVelle 1996).

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


def evaluate(A: np.ndarray, open_idx: np.ndarray) -> float:
    return float(A[:, open_idx].min(axis=1).sum())

def greedy(A: np.ndarray, p: int, forced: np.ndarray) -> np.ndarray:
    """Greedy adding (Kuehn and Hamburger 1963): the forced sites, then one at a time the site that lowers
    ``sum_i min_{j open} A_ij`` the most (before the first site, every demand counts its largest cost)."""
    S = list(np.flatnonzero(forced))
    d = A[:, S].min(axis=1) if S else np.full(A.shape[0], float(np.max(A, initial=0.0)))
    free = ~forced.copy()
    while len(S) < p:
        tot = np.minimum(A, d[:, None]).sum(axis=0)
        tot[~free] = np.inf
        j = int(np.argmin(tot))
        S.append(j)
        free[j] = False
        d = np.minimum(d, A[:, j])
    return np.array(sorted(S), dtype=int)

def swap_search(A: np.ndarray, S: np.ndarray, forced: np.ndarray, max_pass: int = 50) -> np.ndarray:
    """Best-improvement vertex substitution (Teitz and Bart 1968), vectorised over all swaps."""
    n, m = A.shape
    S = np.array(sorted(S))
    for _ in range(max_pass):
        sub = A[:, S]
        o = np.argsort(sub, axis=1)[:, :2] if len(S) > 1 else np.zeros((n, 1), int)
        d1 = sub[np.arange(n), o[:, 0]]
        d2 = sub[np.arange(n), o[:, 1]] if len(S) > 1 else np.full(n, np.inf)
        a = S[o[:, 0]]
        cur = d1.sum()
        add = np.minimum(A, d1[:, None])  # n x m: cost if k is added (nobody removed)
        base = add.sum(axis=0)
        best_gain, best = 1e-9 * max(cur, 1.0), None
        for j in S:
            if forced[j]:
                continue
            rows = a == j
            if not rows.any():
                delta = np.zeros(m)
            else:
                delta = (np.minimum(A[rows], d2[rows, None]) - add[rows]).sum(axis=0)
            newc = base + delta
            newc[S] = np.inf
            k = int(np.argmin(newc))
            gain = cur - newc[k]
            if gain > best_gain:
                best_gain, best = gain, (j, k)
        if best is None:
            break
        j, k = best
        S = np.array(sorted(set(S.tolist()) - {j} | {k}))
    return S

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
