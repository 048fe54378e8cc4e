"""The p-median's Lagrangian lower bound, with reduced-cost fixing that shrinks the model as the bound rises.

Formulation
-----------
Relaxing the assignment rows ``sum_j x_ij = 1`` of the classical p-median with multipliers ``lambda_i``
(Cornuejols, Fisher and Nemhauser 1977) leaves

.. math::

    L(\\lambda) = \\sum_i \\lambda_i + \\min_{|S| = p,\\ S \\supseteq F} \\sum_{j \\in S} \\rho_j,\\qquad
    \\rho_j = \\sum_i \\min(0,\\ a_{ij} - \\lambda_i),

a lower bound for every ``lambda`` (``a_ij = w_i d_ij``, ``F`` the sites that must open); its maximum is the
LP bound.  It is raised by subgradient steps with Polyak's step towards the incumbent ``UB``, the step
factor halved after a run of steps that did not raise the best bound (Held, Wolfe and Crowder 1974;
Beasley 1993).  The factor decays slowly (``stall`` steps): on the 1,930-point Chicago instance a fast
decay stalls a gap of 6e-4 that a slow one takes to 7e-5, against an LP gap of 1e-5.

Restriction (reduced-cost fixing, Beasley 1993)
-----------------------------------------------
Every solution of cost at most ``UB`` keeps, for each point, the pair to its nearest open site.  A site
whose opening raises the bound above ``UB`` is closed for good, and a pair (*i*, *j*) whose use raises it
above ``UB`` (``LB + max(0, a_ij - lambda_i)``, plus ``rho_j`` minus the worst picked ``rho`` when *j* is
not picked) is dropped.  The model on the kept pairs (each point served by one of its kept pairs) then
holds every solution of cost at most ``UB``; its own Lagrangian is a valid bound for them and is usually
higher (a point with few pairs left pays at least its cheapest), and the tests are repeated on it as the
bound rises.  A point left with no pair proves ``UB`` optimal.

References
----------
Cornuejols, G., Fisher, M. L. and Nemhauser, G. L. (1977). Location of bank accounts to optimize float.
*Management Science* 23, 789-810.
Held, M., Wolfe, P. and Crowder, H. P. (1974). Validation of subgradient optimization. *Mathematical
Programming* 6, 62-88.
Beasley, J. E. (1993). Lagrangean heuristics for location problems. *European Journal of Operational
Research* 65, 383-399.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from equicare.optimize.location import kernels as kn
from equicare.optimize.location.heuristics import fixing_tests, local_search
from equicare.optimize.location.median_mip import MAX_MIP_PAIRS, MIP_SECONDS_PER_PAIR2
from equicare.optimize.location.progress import Deadline, Progress, relative_gap
from equicare.optimize.location.rows import SortedRows


@dataclass
class MedianBound:
    """The best Lagrangian bound and the model it leaves.

    Attributes
    ----------
    bound : float
        A proven lower bound on every solution (``inf`` never; ``>= UB`` proves the incumbent optimal).
    lam : ndarray, shape (n,)
        Multipliers of the best bound.
    kept : SortedRows
        The pairs left: every solution of cost at most ``incumbent`` uses only these.
    closed, fixed_open : ndarray of bool, shape (m,)
        Sites that open in no (in every) solution of cost at most ``incumbent``.
    is_open : ndarray of bool, shape (m,)
        The best solution found (the Lagrangian site sets restart the local search).
    incumbent : float
        Its cost.
    iterations, restrictions : int
        Subgradient steps made, and times the model was shrunk.
    proof : str
        ``"lagrangian bound"`` / ``"no pair left for a point"`` when the bound proves the incumbent, else "".
    """

    bound: float
    lam: np.ndarray
    kept: SortedRows
    closed: np.ndarray
    fixed_open: np.ndarray
    is_open: np.ndarray
    incumbent: float
    iterations: int
    restrictions: int
    proof: str = ""


def choose_sites(rho: np.ndarray, p: int, forced: np.ndarray, closed: np.ndarray) -> np.ndarray:
    """The forced sites and the ``p - |forced|`` others with the smallest ``rho`` (closed ones never)."""
    free = np.flatnonzero(~forced & ~closed)
    k = p - int(forced.sum())
    pick = free[np.argpartition(rho[free], k - 1)[:k]] if k > 0 else np.zeros(0, np.int64)
    return np.concatenate([np.flatnonzero(forced), pick])


def subset_rows(rows: SortedRows, keep: np.ndarray) -> SortedRows:
    """The entries of ``rows`` where ``keep`` is true (still sorted per point)."""
    counts = np.add.reduceat(keep.astype(np.int64), rows.ptr[:-1]) if rows.nnz else np.zeros(rows.n_demand, np.int64)
    counts = np.where(np.diff(rows.ptr) > 0, counts, 0)
    ptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
    return SortedRows(ptr, rows.site[keep], rows.d[keep], rows.n_site)


def lagrangian_bound(rows: SortedRows, a: np.ndarray, p: int, forced: np.ndarray, is_open: np.ndarray,
                     ub: float, big: float, deadline: Deadline, gap: float = 1e-6,
                     progress: Progress | None = None, lam0: np.ndarray | None = None, stall: int = 150,
                     restrict_every: int = 400, max_iter: int = 40_000,
                     need: np.ndarray | None = None, search_every: int = 50,
                     mip_seconds_per_pair2: float = MIP_SECONDS_PER_PAIR2, window_seconds: float = 2.0,
                     max_pairs_for_mip: int = MAX_MIP_PAIRS) -> MedianBound:
    """Raise the Lagrangian bound and shrink the model until the gap closes, the bound stops rising, the
    step factor vanishes or ``deadline`` (see module doc).

    Parameters
    ----------
    rows : SortedRows
        All allowed pairs, sorted by cost per point (``n`` points, ``m`` sites).
    a : ndarray, shape (nnz,)
        ``w_i d_ij`` of every entry of ``rows``.
    p : int
    forced : ndarray of bool, shape (m,)
    is_open, ub : the incumbent (open sites) and its cost
    big : float
        Cost charged for a point no open site serves (sparse tables).
    deadline : Deadline
        The budget of this phase.
    gap : float
        Relative gap at which the bound proves the incumbent.
    lam0 : ndarray, optional
        Starting multipliers (default: halfway between each point's two nearest open sites).
    stall : int
        Steps without a better bound before the step factor is halved.
    restrict_every : int
        Steps between two restrictions of the model (also made whenever the bound has closed a tenth
        of the gap since the last one).
    need : ndarray of bool, shape (n,), optional
        Points that must be served (default all); a point that needs none and has no pair left is fine.
    search_every : int
        Steps between two local searches from the Lagrangian site set (a new set only); doubled after
        each search that finds nothing better.
    mip_seconds_per_pair2, window_seconds, max_pairs_for_mip : float, float, int
        The bound stops once a window of ``window_seconds`` of CPU shrank the model by less than the MIP
        time it saves (estimated as ``mip_seconds_per_pair2 * pairs**2``) and at most
        ``max_pairs_for_mip`` pairs are left.
    """
    progress = progress or Progress(False, deadline)
    m, n = rows.n_site, rows.n_demand
    need = np.ones(n, bool) if need is None else need
    full_ptr, full_site = rows.ptr, rows.site
    kept, ka = rows, a
    closed = np.zeros(m, bool)
    fixed_open = forced.copy()
    if lam0 is None:
        d1, _f1, d2 = kn.nearest_two(full_ptr, full_site, a, is_open, big)
        lam = np.where(d2 < big, 0.5 * (d1 + d2), d1 + 1.0)
    else:
        lam = lam0.copy()
    best_lb, best_lam = -np.inf, lam.copy()
    mu, since = 1.0, 0
    lb_at_restrict, it_at_restrict, restrictions = -np.inf, 0, 0
    tol = 1e-9 * max(abs(ub), 1.0)
    tried: set[bytes] = set()
    it = 0
    last_search = 0
    history: list[float] = []
    window = (time.process_time(), rows.nnz)
    proof = ""
    for it in range(1, max_iter + 1):
        rho = kn.lagrangian_step(kept.ptr, kept.site, ka, lam, m)
        S = choose_sites(rho, p, fixed_open, closed)
        lb = float(lam.sum() + rho[S].sum())
        if it == 1:
            lb_at_restrict = lb
        if lb > best_lb + 1e-13 * abs(lb):
            best_lb, best_lam, since = lb, lam.copy(), 0
        else:
            since += 1
            if since >= stall:
                mu, since = mu / 2, 0
        op = np.zeros(m, bool)
        op[S] = True
        # on the kept pairs: every solution cheaper than UB serves each point through a kept pair, so this
        # finds every such set (at the cost of the kept pairs, not all)
        cand, c = op, kn.evaluate_open(kept.ptr, kept.site, ka, op, big)
        if c < ub - tol:
            c = kn.evaluate_open(full_ptr, full_site, a, op, big)
        if it - last_search >= search_every:
            key = np.packbits(op).tobytes()
            if key not in tried:  # a new Lagrangian site set restarts the local search
                tried.add(key)
                last_search = it
                op_ls, c_ls, _ = local_search(rows, a, op.copy(), forced, big, deadline)
                if c_ls < c:
                    cand, c = op_ls, c_ls
                if c >= ub - tol:
                    search_every *= 2  # fruitless: search less often (the time goes to the bound)
        if c < ub - tol:
            is_open, ub = cand.copy(), c
        progress.report("lagrangian", ub, best_lb)
        if relative_gap(ub, best_lb) <= gap or best_lb >= ub:
            proof = "lagrangian bound"
            break
        if mu < 1e-4 or deadline.expired():
            break
        history.append(best_lb)
        if len(history) > 2000 and best_lb - history[-2000] < 0.02 * (ub - best_lb):
            break  # the bound has stopped rising: the rest is for the MIP
        if it - it_at_restrict >= restrict_every or best_lb - lb_at_restrict > 0.1 * (ub - lb_at_restrict):
            kept, ka, closed, fixed_open, done = _restrict(kept, ka, best_lam, best_lb, p, forced, closed,
                                                           fixed_open, ub + tol, need)
            lb_at_restrict, it_at_restrict = best_lb, it
            restrictions += 1
            now = time.process_time()
            if now - window[0] >= window_seconds:
                # stop when shrinking the model no longer saves the MIP as much time as it costs
                saved = mip_seconds_per_pair2 * (window[1] ** 2 - kept.nnz ** 2)
                if saved < now - window[0] and kept.nnz <= max_pairs_for_mip:
                    break
                window = (now, kept.nnz)
            if done:
                proof = "no pair left for a point"
                best_lb = ub
                break
        g = kn.subgradient(kept.ptr, kept.site, ka, lam, op)
        gg = float(g @ g)
        if gg == 0:
            break
        lam = lam + mu * (ub - lb) / gg * g
    if not proof:
        kept, ka, closed, fixed_open, done = _restrict(kept, ka, best_lam, best_lb, p, forced, closed,
                                                       fixed_open, ub + tol, need)
        restrictions += 1
        if done:
            proof, best_lb = "no pair left for a point", ub
    return MedianBound(best_lb, best_lam, kept, closed, fixed_open, is_open, ub, it, restrictions, proof)


def _restrict(kept, ka, lam, lb, p, forced, closed, fixed_open, ub, need):
    """One round of the reduced-cost tests on the kept model at multipliers ``lam`` (bound ``lb``)."""
    m = kept.n_site
    rho = kn.lagrangian_step(kept.ptr, kept.site, ka, lam, m)
    S = choose_sites(rho, p, fixed_open, closed)
    lb_here = float(lam.sum() + rho[S].sum())  # the same multipliers on the current (smaller) model
    lb = max(lb, lb_here)
    r = np.where(closed, np.inf, rho)
    c2, o2 = fixing_tests(lb, r, S, fixed_open, ub)
    closed = closed | c2
    fixed_open = fixed_open | o2
    in_s = np.zeros(m, bool)
    in_s[S] = True
    free_in = in_s & ~fixed_open
    worst_in = float(rho[free_in].max()) if free_in.any() else np.inf
    keep = kn.keep_pairs(kept.ptr, kept.site, ka, lam, r, in_s, closed, lb, ub, worst_in)
    new = subset_rows(kept, keep)
    left = np.diff(new.ptr) > 0
    done = bool(np.any(need & ~left))
    return new, ka[keep], closed, fixed_open, done
