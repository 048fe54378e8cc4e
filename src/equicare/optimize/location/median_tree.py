"""Branch and bound on the p-median's sites with Lagrangian bounds at every node (the kept model of
:mod:`.median_bound`).

Formulation
-----------
A node fixes some sites open (``F1``) and some closed (``F0``); its bound is the Lagrangian of the
assignment rows (Cornuejols, Fisher and Nemhauser 1977) restricted to the kept pairs ``K``:

.. math::

    L(\\lambda) = \\sum_i \\lambda_i + \\min_{|S| = p,\\ F_1 \\subseteq S,\\ S \\cap F_0 = \\emptyset}
    \\sum_{j \\in S} \\rho_j,\\qquad \\rho_j = \\sum_{i:(i,j)\\in K} \\min(0,\\ a_{ij} - \\lambda_i),

raised by subgradient steps (Polyak's step towards the incumbent, the factor halved after
``TREE_STALL`` steps without a better bound; Held, Wolfe and Crowder 1974) from the parent's best
multipliers, with the reduced-cost tests of the sites (Beasley 1993) fixing more of them for the
subtree.  A node whose bound reaches the incumbent (within the gap) is pruned; otherwise it branches
on the free site whose share of the Lagrangian site sets over the node's last steps is nearest 1/2 (the
averaged subgradient solutions approach an LP solution: Sherali and Choi 1996), and the open node of
least bound is expanded first.  A node with every site decided is evaluated exactly.  Every solution of
cost at most the incumbent lies in the kept model, so the least bound of the open nodes (or the
incumbent) is a bound for the whole problem.  The Lagrangian site sets of every node are evaluated on
all pairs and improve the incumbent.  This is the tree search of Beasley (1993) for the p-median.

Why: the Lagrangian dual equals the LP bound of the strong formulation, and on instances where that LP
has a gap and many pairs survive the fixing (Chicago, 1,930 points x 193 candidate sites: 0.17 % gap at
p = 10, 85,000 kept pairs) HiGHS needs about 25-50 s for the root LP alone of either the strong or the
radius formulation (Elloumi 2010; García, Labbé and Marín 2011), whereas each node here costs a few
hundred passes over the kept pairs: 22 nodes and about 4 s prove that optimum, 38 nodes and 6 s p = 20.

References
----------
Cornuejols, G., Fisher, M. L. and Nemhauser, G. L. (1977). Location of bank accounts to optimize float.
*Management Science* 23, 789-810.
Held, M., Wolfe, P. and Crowder, H. P. (1974). Validation of subgradient optimization. *Mathematical
Programming* 6, 62-88.
Beasley, J. E. (1993). Lagrangean heuristics for location problems. *European Journal of Operational
Research* 65, 383-399.
Sherali, H. D. and Choi, G. (1996). Recovery of primal solutions when using subgradient optimization
methods to solve Lagrangian duals of linear programs. *Operations Research Letters* 19, 105-113.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from equicare.optimize.location import kernels as kn
from equicare.optimize.location.heuristics import fixing_tests
from equicare.optimize.location.median_bound import choose_sites
from equicare.optimize.location.progress import Deadline, Progress
from equicare.optimize.location.rows import SortedRows

TREE_ITERATIONS = 600
"""Subgradient steps at most per node (on Chicago 1,930 x 193 at p = 20: 300 steps need 526 nodes, 600
steps 38; a node stops as soon as its bound reaches the incumbent)."""

TREE_STALL = 30
"""Steps without a better node bound before the step factor is halved."""

TREE_STEP = 1.0
"""Starting step factor at a node (its multipliers start from the parent's best)."""


@dataclass
class TreeOutcome:
    """The best open set and its cost, and a lower bound valid for every solution (``bound >= objective``
    proves it optimal within the gap); ``nodes`` expanded, ``iterations`` subgradient steps, ``stopped``
    "" when the tree was searched to the end."""

    is_open: np.ndarray
    objective: float
    bound: float
    nodes: int
    iterations: int
    stopped: str = ""


@dataclass
class _Node:
    bound: float
    lam: np.ndarray
    share: np.ndarray | None
    fixed_open: np.ndarray
    closed: np.ndarray


def lagrangian_tree(kept: SortedRows, ka: np.ndarray, rows: SortedRows, a: np.ndarray, p: int,
                    fixed_open: np.ndarray, closed: np.ndarray, lam: np.ndarray, is_open: np.ndarray,
                    ub: float, big: float, need: np.ndarray, deadline: Deadline, gap: float = 1e-6,
                    progress: Progress | None = None, iterations: int = TREE_ITERATIONS) -> TreeOutcome:
    """Search the sites' tree (module doc) until the least open bound reaches the incumbent within
    ``gap`` or the ``deadline``.

    Parameters
    ----------
    kept : SortedRows
        The kept pairs (``n`` points, ``m`` sites): every solution of cost at most ``ub`` uses only these.
    ka : ndarray, shape (kept.nnz,)
        ``w_i d_ij`` of each kept pair.
    rows, a : SortedRows, ndarray
        All pairs and their ``w_i d_ij`` (to cost a site set exactly).
    p : int
    fixed_open, closed : ndarray of bool, shape (m,)
        Sites open (closed) in every solution of cost at most ``ub`` (the forced ones among the open).
    lam : ndarray, shape (n,)
        The root's multipliers (the best of :func:`.median_bound.lagrangian_bound`).
    is_open, ub : the incumbent and its cost
    big : float
        Cost of a point no open site serves.
    need : ndarray of bool, shape (n,)
        Points that must be served.
    deadline : Deadline
    gap : float
        Relative gap at which a node is pruned.
    iterations : int
        Subgradient steps at most per node.
    """
    progress = progress or Progress(False, deadline)
    m = kept.n_site
    state = {"ub": float(ub), "is_open": is_open.copy(), "iterations": 0, "pruned": np.inf}

    def cut() -> float:
        return state["ub"] - gap * abs(state["ub"])

    def prune(bound: float) -> None:
        """A node pruned within the gap: its bound still counts for the proven bound."""
        if bound < state["ub"]:
            state["pruned"] = min(state["pruned"], bound)

    def offer(op: np.ndarray) -> None:
        """Cost the site set ``op``: on the kept pairs first (a lower cost is only possible there)."""
        if kn.evaluate_open(kept.ptr, kept.site, ka, op, big) < state["ub"]:
            c = kn.evaluate_open(rows.ptr, rows.site, a, op, big)
            if c < state["ub"]:
                state["ub"], state["is_open"] = c, op.copy()

    def solve_node(lam0: np.ndarray, fo: np.ndarray, cl: np.ndarray, mu: float) -> _Node | None:
        k = p - int(fo.sum())
        free = ~fo & ~cl
        if k < 0 or int(free.sum()) < k or _unserved(kept, cl, need):
            return None
        if int(free.sum()) == k:  # every site decided: the node is one solution
            offer(fo | free)
            return None
        lam_ = lam0.copy()
        best, best_lam, best_rho, best_S, since = -np.inf, lam_, None, None, 0
        share, counted = np.zeros(m), 0
        for it in range(iterations):
            rho = kn.lagrangian_step(kept.ptr, kept.site, ka, lam_, m)
            S = choose_sites(rho, p, fo, cl)
            lb = float(lam_.sum() + rho[S].sum())
            state["iterations"] += 1
            if lb > best + 1e-13 * abs(lb):
                best, best_lam, best_rho, best_S, since = lb, lam_.copy(), rho, S, 0
            else:
                since += 1
                if since >= TREE_STALL:
                    mu, since = mu / 2, 0
            op = np.zeros(m, bool)
            op[S] = True
            if best >= cut():
                prune(best)
                return None
            if it >= iterations // 2:
                share += op
                counted += 1
            g = kn.subgradient(kept.ptr, kept.site, ka, lam_, op)
            gg = float(g @ g)
            if gg == 0 or mu < 1e-3 or deadline.expired():
                break
            lam_ = lam_ + mu * (state["ub"] - lb) / gg * g
        op = np.zeros(m, bool)
        op[best_S] = True
        offer(op)
        if best >= cut():
            prune(best)
            return None
        c2, o2 = fixing_tests(best, np.where(cl, np.inf, best_rho), best_S, fo, state["ub"])
        if counted == 0:
            share = op.astype(float)
        else:
            share = share / counted
        # single precision for the stored multipliers (any multipliers give a valid bound): half the memory
        return _Node(best, best_lam.astype(np.float32), share.astype(np.float32), fo | o2, cl | c2)

    root = solve_node(lam, fixed_open.copy(), closed.copy(), TREE_STEP)
    heap: list[tuple[float, int, _Node]] = []
    if root is not None:
        heap.append((root.bound, 0, root))
    count, nodes, stopped = 1, 0, ""
    while heap:
        if deadline.expired():
            stopped = "time limit"
            break
        b, _, node = heapq.heappop(heap)
        if b >= cut():
            prune(b)
            continue
        nodes += 1
        free = ~node.fixed_open & ~node.closed
        score = np.where(free, np.abs(node.share - 0.5), np.inf)
        j = int(np.argmin(score))
        for opened in (True, False):
            fo, cl = node.fixed_open.copy(), node.closed.copy()
            (fo if opened else cl)[j] = True
            child = solve_node(node.lam.astype(np.float64), fo, cl, TREE_STEP)
            if child is not None:
                # a child's bound is never below its parent's (its model is a restriction)
                child.bound = max(child.bound, b)
                heapq.heappush(heap, (child.bound, count, child))
                count += 1
        least = min((h[0] for h in heap), default=state["ub"])
        progress.report("tree", state["ub"], min(least, state["ub"]))
    bound = min([h[0] for h in heap] + [state["pruned"], state["ub"]])
    return TreeOutcome(state["is_open"], state["ub"], bound, nodes, state["iterations"], stopped)


def _unserved(kept: SortedRows, closed: np.ndarray, need: np.ndarray) -> bool:
    """True when a point that needs service has every kept site closed (no solution of cost at most the
    incumbent in the node)."""
    if kept.nnz == 0:
        return bool(need.any())
    ok = (~closed[kept.site]).astype(np.int64)
    counts = np.add.reduceat(ok, kept.ptr[:-1])
    counts = np.where(np.diff(kept.ptr) > 0, counts, 0)
    return bool(np.any(need & (counts == 0)))
