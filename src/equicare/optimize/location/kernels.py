"""Compiled (numba) kernels of the large p-median solver, over cost rows sorted per demand point.

The rows are a CSR layout (:class:`~equicare.optimize.location.rows.SortedRows`): demand point *i* owns
entries ``ptr[i]:ptr[i+1]`` of ``site`` and ``a`` (demand-weighted cost ``w_i d_ij``), sorted by cost; a
pair missing from the cost table has no entry.  Each kernel reads a prefix of every row (the entries
cheaper than a threshold), so its cost follows the pairs that matter, not demand x sites.

References
----------
Whitaker, R. (1983). A fast algorithm for the greedy interchange for large-scale clustering and median
location problems. *INFOR* 21, 95-108.
Resende, M. G. C. and Werneck, R. F. (2007). A fast swap-based local search procedure for location
problems. *Annals of Operations Research* 150, 205-230.
Beasley, J. E. (1993). Lagrangean heuristics for location problems. *European Journal of Operational
Research* 65, 383-399.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def nearest_two(ptr, site, a, is_open, big):
    """Per demand point: cost and site of the nearest open site and cost of the second nearest
    (``big`` and -1 when there is none)."""
    n = len(ptr) - 1
    d1 = np.full(n, big)
    d2 = np.full(n, big)
    f1 = np.full(n, -1, np.int64)
    for i in range(n):
        found = 0
        for k in range(ptr[i], ptr[i + 1]):
            if is_open[site[k]]:
                if found == 0:
                    d1[i] = a[k]
                    f1[i] = site[k]
                    found = 1
                else:
                    d2[i] = a[k]
                    break
    return d1, f1, d2


@njit(cache=True)
def greedy_add(ptr, site, a, is_open, p, big):
    """Greedy adding (Kuehn and Hamburger 1963) from the open sites until *p* are open: each step opens
    the site that lowers ``sum_i min_{j open} a_ij`` the most (``big`` for a point no open site reaches)."""
    n = len(ptr) - 1
    m = len(is_open)
    d1 = np.full(n, big)
    for i in range(n):
        for k in range(ptr[i], ptr[i + 1]):
            if is_open[site[k]]:
                d1[i] = a[k]
                break
    n_open = 0
    for j in range(m):
        if is_open[j]:
            n_open += 1
    gain = np.zeros(m)
    while n_open < p:
        gain[:] = 0.0
        for i in range(n):
            for k in range(ptr[i], ptr[i + 1]):
                if a[k] >= d1[i]:
                    break
                gain[site[k]] += d1[i] - a[k]
        best, bj = -1.0, -1
        for j in range(m):
            if not is_open[j] and gain[j] > best:
                best, bj = gain[j], j
        is_open[bj] = True
        n_open += 1
        for i in range(n):
            for k in range(ptr[i], ptr[i + 1]):
                if a[k] >= d1[i]:
                    break
                if site[k] == bj:
                    d1[i] = a[k]
                    break
    return is_open


@njit(cache=True)
def best_swap(ptr, site, a, d1, f1, d2, is_open, removable, pos):
    """Best single swap (fast interchange after Whitaker 1983 / Resende and Werneck 2007, every pair
    evaluated exactly): open the closed site ``k`` and close the open site ``r`` (``removable``: the open
    sites that are not forced; ``pos[r]`` its column in the swap table).  Reads only the entries cheaper
    than each point's second nearest open site.  Returns (delta, k, r) with the smallest change of the
    objective (``k = -1``: no swap lowers it)."""
    n = len(ptr) - 1
    m = len(is_open)
    P = len(removable)
    base = np.zeros(m)  # closing r alone: its points move to their second nearest open site
    for i in range(n):
        if f1[i] >= 0:
            base[f1[i]] += d2[i] - d1[i]
    gain = np.zeros(m)
    extra = np.zeros((m, P))
    for i in range(n):
        r = f1[i]
        q = pos[r] if r >= 0 else -1
        for e in range(ptr[i], ptr[i + 1]):
            c = a[e]
            if c >= d2[i]:
                break
            k = site[e]
            if is_open[k]:
                continue
            if c < d1[i]:
                gain[k] += d1[i] - c
                if q >= 0:
                    extra[k, q] -= d2[i] - d1[i]  # k takes i over: closing r costs nothing for i
            elif q >= 0:
                extra[k, q] -= d2[i] - c  # closing r sends i to k, not to its second nearest
    best_delta, best_k, best_r = 0.0, -1, -1
    for k in range(m):
        if is_open[k]:
            continue
        for t in range(P):
            r = removable[t]
            v = base[r] + extra[k, t] - gain[k]
            if v < best_delta:
                best_delta, best_k, best_r = v, k, r
    return best_delta, best_k, best_r


@njit(cache=True)
def evaluate_open(ptr, site, a, is_open, big):
    """Objective of an open set: each demand point at its nearest open site (``big`` when none reaches it)."""
    n = len(ptr) - 1
    tot = 0.0
    for i in range(n):
        v = big
        for k in range(ptr[i], ptr[i + 1]):
            if is_open[site[k]]:
                v = a[k]
                break
        tot += v
    return tot


@njit(cache=True)
def lagrangian_step(ptr, site, a, lam, m):
    """``rho_j = sum_i min(0, a_ij - lam_i)``: the site part of the Lagrangian of the assignment rows
    (Cornuejols, Fisher and Nemhauser 1977)."""
    rho = np.zeros(m)
    n = len(ptr) - 1
    for i in range(n):
        li = lam[i]
        for k in range(ptr[i], ptr[i + 1]):
            if a[k] >= li:
                break
            rho[site[k]] += a[k] - li
    return rho


@njit(cache=True)
def subgradient(ptr, site, a, lam, is_open):
    """``g_i = 1 - #{j open: a_ij < lam_i}``: violation of the assignment rows at the Lagrangian solution."""
    n = len(ptr) - 1
    g = np.ones(n)
    for i in range(n):
        li = lam[i]
        for k in range(ptr[i], ptr[i + 1]):
            if a[k] >= li:
                break
            if is_open[site[k]]:
                g[i] -= 1.0
    return g


@njit(cache=True)
def keep_pairs(ptr, site, a, lam, rho, in_s, closed, lb, ub, worst_in):
    """Pairs that can serve in a solution of cost <= ``ub`` (reduced-cost test of the Lagrangian bound
    ``lb``): assigning *i* to *j* raises the bound by ``max(0, a_ij - lam_i)`` and, when *j* is not in the
    Lagrangian solution, by ``rho_j - worst_in`` for opening it in place of the worst free site picked
    (``worst_in = inf`` when every open site is forced).
    Rows are cheapest first, so a row stops at its first entry above ``lb + a_ij - lam_i > ub``."""
    n = len(ptr) - 1
    keep = np.zeros(len(site), np.bool_)
    for i in range(n):
        li = lam[i]
        for k in range(ptr[i], ptr[i + 1]):
            t = a[k] - li
            if t < 0.0:
                t = 0.0
            if lb + t > ub:
                break
            j = site[k]
            if closed[j]:
                continue
            v = lb + t
            if not in_s[j]:
                v += rho[j] - worst_in
            if v <= ub:
                keep[k] = True
    return keep


@njit(cache=True)
def greedy_cover_open(ptr, site, forced, m, limit):
    """Greedy set cover (Chvatal 1979) of the points by their allowed sites, from the forced ones: the
    number of sites it opens (an upper bound on the fewest that serve every point; ``m + 1`` when some
    point has no site), stopping once it exceeds ``limit``, and the sites it opened (a cover when the
    count is at most ``limit``)."""
    n = len(ptr) - 1
    covered = np.zeros(n, np.bool_)
    is_open = forced.copy()
    used = 0
    for j in range(m):
        if is_open[j]:
            used += 1
    left = n
    for i in range(n):
        for k in range(ptr[i], ptr[i + 1]):
            if is_open[site[k]]:
                covered[i] = True
                left -= 1
                break
    cnt = np.zeros(m, np.int64)
    while left > 0 and used <= limit:
        cnt[:] = 0
        for i in range(n):
            if not covered[i]:
                for k in range(ptr[i], ptr[i + 1]):
                    cnt[site[k]] += 1
        bj, bc = -1, 0
        for j in range(m):
            if cnt[j] > bc:
                bj, bc = j, cnt[j]
        if bj < 0:
            return m + 1, is_open
        is_open[bj] = True
        used += 1
        for i in range(n):
            if not covered[i]:
                for k in range(ptr[i], ptr[i + 1]):
                    if site[k] == bj:
                        covered[i] = True
                        left -= 1
                        break
    return used, is_open
