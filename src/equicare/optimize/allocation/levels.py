"""Share levels that whole units can reach, and the bound they put on the whole-unit max-min.

With whole units the effective capacity of a pair (region *i*, type *r*) is ``capacity + k`` for an integer
*k* (new units and transfers are whole), floored at 0, so its share of need met can only take the values

.. math:: f_{ir}(k) = \\sum_l p_l \\min(\\max(c_{ir} + k, 0), D_{lir}) / E[D_{ir}],\\quad k \\in \\mathbb{Z},

a nondecreasing staircase (concave between its steps).  The whole-unit max-min ``z*`` is the share of
some pair, so it is one of that pair's levels; and it is at most any upper bound ``b`` on it (the LP's
max-min, or a MIP's dual bound).  Hence

.. math:: z^* \\le \\max_{ir} \\max\\{f_{ir}(k) : f_{ir}(k) \\le b\\}
          \\quad\\text{(the "grid bound" of } b\\text{)},

which is often below ``b`` by far more than a solver's tolerance: when an answer reaches the grid bound it
is optimal, with no MIP.  (For a divisible type every level is reachable and the grid bound is ``b``.)
The levels of every pair are all integers ``k``, not only those the problem's bounds allow, so the bound
is valid (a superset of levels can only raise it).
"""

from __future__ import annotations

import numpy as np

from equicare.optimize.allocation.lp import AllocationLP

LEVEL_TOL = 1e-9
"""Two share levels closer than this count as equal (floating-point sums over scenarios)."""


def shares_at(lp: AllocationLP, eff: np.ndarray) -> np.ndarray:
    """``(n, m)`` expected shares of need met at effective capacities ``eff`` (``(n, m)``; 1 where no need)."""
    Ed = np.where(lp.Ed > 0, lp.Ed, 1.0)
    cov = np.tensordot(lp.p, np.minimum(np.maximum(eff, 0.0)[None], lp.D), axes=1)
    return np.where(lp.Ed > 0, cov / Ed, 1.0)


def _last_step(lp: AllocationLP, b: float) -> tuple[np.ndarray, np.ndarray]:
    """``(k, top)``, both ``(n, m)``: the largest ``k`` with ``f(capacity + k) <= b`` (bisection, all pairs
    at once; ``b >= 0``) and whether that is the top level (share 1, nothing above it)."""
    cap = lp.P.capacity
    lo = -np.ceil(cap)  # eff <= 0: share 0 <= b
    hi = np.ceil(np.maximum(lp.D.max(axis=0) - cap, 0.0)) + 1.0  # eff >= every scenario's need: share 1
    top = shares_at(lp, cap + hi) <= b + LEVEL_TOL
    lo = np.where(top, hi, lo)
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        ok = shares_at(lp, cap + mid) <= b + LEVEL_TOL
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return lo, top


def level_below(lp: AllocationLP, b: float) -> np.ndarray:
    """``(n, m)``: for each pair the highest share level reachable with whole units that is at most ``b``
    (``b`` itself for a divisible type; ``-inf`` for a pair without need); ``b >= 0``."""
    k, _ = _last_step(lp, b)
    lvl = np.where(lp.P.integer[None, :], shares_at(lp, lp.P.capacity + k), b)
    return np.where(lp.Ed > 0, lvl, -np.inf)


def level_above(lp: AllocationLP, z: float) -> float:
    """The lowest share level of any pair that is above ``z`` (by more than :data:`LEVEL_TOL`): no
    whole-unit max-min lies strictly between ``z`` and it.  ``z`` itself when a fair pair has a divisible
    type; ``inf`` when no level is above ``z``."""
    fair = lp.Ed > 0
    if not fair.any():
        return float("inf")
    if np.any(fair & ~lp.P.integer[None, :]):
        return float(z)
    k, top = _last_step(lp, max(float(z), 0.0))
    nxt = np.where(top | ~fair, np.inf, shares_at(lp, lp.P.capacity + k + 1))
    return float(nxt.min())


def grid_bound(lp: AllocationLP, b: float) -> float:
    """The largest share level of any pair that is at most ``b``: an upper bound on the whole-unit max-min
    whenever ``b`` is one (see the module docstring).  ``b`` itself when no pair has need."""
    if not (lp.Ed > 0).any():
        return float(b)
    return float(min(b, level_below(lp, max(float(b), 0.0)).max()))
