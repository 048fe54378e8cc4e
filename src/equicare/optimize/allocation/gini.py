"""The Gini cap: cutting planes on the LP, and keeping the cap with whole units.

The need-weighted Gini coefficient of the shares, :math:`\\sum_{ij} w_i w_j |\\sigma_i - \\sigma_j| \\le
2 G W \\sum_i w_i \\sigma_i` (:math:`w_i = E[d_i]`, :math:`W = \\sum_i w_i`), is convex but has :math:`n^2`
terms.  It is imposed exactly by cutting planes: for the ordering :math:`\\pi` of the current shares,
:math:`\\sum_i w_i (W^\\pi_{<i} - W^\\pi_{>i} - G W)\\,\\sigma_i \\le 0` is valid for every solution and tight at
the current one, so cuts are added and the LP re-solved until every resource's Gini is within the cap
(Ogryczak, W. (2000). Inequality measures and equitable approaches to location problems. *European Journal
of Operational Research* 122(2), 374-391).

The Gini itself is :func:`equicare.analyze.inequality.gini` (the package's one definition).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from equicare.analyze.inequality import gini
from equicare.optimize.allocation.lp import AllocationLP
from equicare.optimize.highs import LinearModel, Solution


def weighted_gini(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted Gini ``sum_ij w_i w_j |v_i - v_j| / (2 W sum_i w_i v_i)`` of shares; 0 when they are all 0.

    Shapes ``(k,)`` and ``(k,)``; :func:`equicare.analyze.inequality.gini` with the all-zero case defined.
    """
    v = np.maximum(np.asarray(values, float), 0.0)
    w = np.asarray(weights, float)
    if float(w @ v) <= 0:
        return 0.0
    return gini(v, w)


@dataclass
class GiniCuts:
    """The cut rows added to one HiGHS model: resource index -> row indices (for their duals)."""

    rows: dict[int, list[int]] = field(default_factory=dict)


def gini_cut(lp: AllocationLP, pos: np.ndarray, w: np.ndarray, share: np.ndarray) -> sp.csr_matrix:
    """The cutting plane of the Gini cap at the ordering of ``share`` (a row over the ``v`` columns)."""
    o = np.argsort(share, kind="stable")
    W = w.sum()
    below = np.empty_like(w)
    below[o] = np.cumsum(w[o]) - w[o]
    above = W - below - w
    a = w * (below - above - lp.P.max_gini * W)
    return sp.csr_matrix(a[None, :]) @ lp.Sh[pos]


def solve_with_cuts(lp: AllocationLP, lm: LinearModel, cuts: GiniCuts | None, max_rounds: int = 200) -> Solution:
    """Solve; with a Gini cap (and ``cuts`` given), add cutting planes until every Gini is within the cap.

    Each round adds at most one cut per resource, recorded in ``cuts``.
    """
    sol = lm.solve()
    if not lp.gini_groups or cuts is None:
        return sol
    v0 = lp.layout.col("v").start
    secs = sol.seconds
    for _ in range(max_rounds):
        if not sol.ok:
            break
        share = lp.shares(sol.x)
        added = False
        for r, (pos, w) in lp.gini_groups.items():
            if weighted_gini(share[pos], w) > lp.P.max_gini + 1e-7:
                cut = gini_cut(lp, pos, w, share[pos]).tocsr()
                cuts.rows.setdefault(r, []).append(lm.add_row(-np.inf, 0.0, cut.indices + v0, cut.data))
                added = True
        if not added:
            break
        sol = lm.solve()
        secs += sol.seconds
    sol.seconds = secs
    return sol


def gini_if(s: np.ndarray, w: np.ndarray, num: float, den: float, idx: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The weighted Gini if the share ``s[idx[c]]`` became ``new[c]``, for each ``c`` (others unchanged).

    ``num = sum_ij w_i w_j |s_i - s_j|`` and ``den = 2 W sum_i w_i s_i`` are the current numerator and
    denominator; one share moving changes them by ``2 w_i sum_j w_j (|s_i' - s_j| - |s_i - s_j|)`` and
    ``2 W w_i (s_i' - s_i)``.
    """
    diff = np.abs(new[:, None] - s[None, :]) - np.abs(s[idx][:, None] - s[None, :])
    n2 = num + 2.0 * w[idx] * (diff @ w)
    d2 = den + 2.0 * w.sum() * w[idx] * (new - s[idx])
    return np.where(d2 > 0, n2 / np.where(d2 > 0, d2, 1.0), 0.0)


def trim_to_gini(lp: AllocationLP, x: np.ndarray, base: np.ndarray, limit: int = 400) -> np.ndarray:
    """Move or take back whole units that lift a capped resource's Gini above ``max_gini``.

    The LP meets the cap exactly, but whole units (rounded or greedily placed) can overshoot it.  While the
    need-weighted Gini of a resource's actual shares is above the cap, the unit whose removal lowers it most
    is taken from its region and given to the region where it lowers the Gini most, if that still lowers it
    (so coverage is kept); else it stays in the stock, as the LP leaves units unused when the cap binds.
    Region minimums and maximums are kept; above ``limit`` regions only the ``limit`` best-covered give and
    the ``limit`` worst-covered take.  When no step lowers the Gini, the answer stays above the cap and the
    explanation says so.  ``x`` is ``(n, m)`` units placed, ``base`` the capacity after transfers.
    """
    P = lp.P
    m = P.m
    xlo, xhi = lp.xlo.reshape(P.n, m), lp.xhi.reshape(P.n, m)
    for r, (pos, w) in lp.gini_groups.items():
        if not P.integer[r]:
            continue
        reg = lp.fair[pos] // m
        D, Ed, b = lp.D[:, reg, r], lp.Ed[reg, r], base[reg, r]
        lo, hi = xlo[reg, r], xhi[reg, r]
        W = float(w.sum())

        def shares(units: np.ndarray, D=D, Ed=Ed, b=b) -> np.ndarray:
            return np.tensordot(lp.p, np.minimum(b[None] + units[None], D), axes=1) / Ed

        xr = x[reg, r].copy()
        s = shares(xr)
        g = weighted_gini(s, w)
        while g > P.max_gini + 1e-9:
            den = 2.0 * W * float(w @ s)
            num = g * den
            s_minus = shares(xr - 1)
            give = np.flatnonzero((xr >= lo + 1 - 1e-9) & (s_minus < s - 1e-12))
            give = give[np.argsort(-s[give], kind="stable")][:limit]
            if not len(give):
                break
            g_rm = gini_if(s, w, num, den, give, s_minus[give])
            if g_rm.min() >= g - 1e-12:
                break
            i = give[int(np.argmin(g_rm))]
            xr[i] -= 1
            s = shares(xr)
            g_removed = weighted_gini(s, w)
            s_plus = shares(xr + 1)
            take = np.flatnonzero((xr + 1 <= hi + 1e-9) & (s_plus > s + 1e-12))
            take = take[take != i]
            take = take[np.argsort(s[take], kind="stable")][:limit]
            if len(take):
                den = 2.0 * W * float(w @ s)
                g_add = gini_if(s, w, g_removed * den, den, take, s_plus[take])
                j = int(np.argmin(g_add))
                if g_add[j] < g - 1e-12:  # moving the unit still lowers the Gini: keep it in use
                    xr[take[j]] += 1
                    s = shares(xr)
            g = weighted_gini(s, w)
        if g > P.max_gini + 1e-9:  # single-unit steps are stuck (e.g. a cluster of equal shares): compress
            xr = compress_to_gini(xr, lo, hi, w, shares, P.max_gini)
        x[reg, r] = xr
    return x


def compress_to_gini(xr: np.ndarray, lo: np.ndarray, hi: np.ndarray, w: np.ndarray, shares, cap: float
                     ) -> np.ndarray:
    """Whole units whose shares are those of ``xr`` pulled towards the lowest share until the Gini is under ``cap``.

    Target shares ``s_min + lam (s - s_min)``; each region keeps the most units (between its minimum and what it
    has) whose share does not exceed its target; ``lam`` is the largest (by bisection) whose Gini is within the
    cap.  The units freed are then handed back one at a time where the Gini stays lowest, while it stays within
    the cap.  Returns ``xr`` unchanged if even ``lam = 0`` is above the cap.
    """
    s0 = shares(xr)
    smin = float(s0.min())
    lo_u = np.ceil(lo - 1e-9)

    def at(lam: float) -> np.ndarray:
        t = smin + lam * (s0 - smin) + 1e-12
        a, b = lo_u.copy(), xr.copy()  # largest units in [a, b] with share <= t (a always qualifies here)
        while (b - a > 0).any():
            mid = np.ceil((a + b) / 2)
            ok = shares(mid) <= t
            a = np.where(ok, mid, a)
            b = np.where(ok, b, mid - 1)
        return a

    if weighted_gini(shares(at(0.0)), w) > cap + 1e-9:
        return xr
    lo_l, hi_l = 0.0, 1.0
    for _ in range(30):
        mid = (lo_l + hi_l) / 2
        if weighted_gini(shares(at(mid)), w) <= cap + 1e-9:
            lo_l = mid
        else:
            hi_l = mid
    x = at(lo_l)
    W = float(w.sum())
    for _ in range(int(xr.sum() - x.sum())):
        s = shares(x)
        s_plus = shares(x + 1)
        take = np.flatnonzero((x + 1 <= hi + 1e-9) & (s_plus > s + 1e-12))
        if not len(take):
            break
        den = 2.0 * W * float(w @ s)
        g_add = gini_if(s, w, weighted_gini(s, w) * den, den, take, s_plus[take])
        j = int(np.argmin(g_add))
        if g_add[j] > cap + 1e-9:
            break
        x[take[j]] += 1
    return x
