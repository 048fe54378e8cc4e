"""The p-median's Lagrangian branch and bound on the sites (``median_tree``, issue #18) against brute-force
enumeration on small random instances, dense and sparse (a missing pair = that site cannot serve that
point), with sites forced open:

* through ``p_median(method="tree")``: the enumerated optimum, proven, with a bound never above it;
* on its own, from multipliers of a few subgradient steps and a poor incumbent: it finds the optimum and
  its bound never exceeds it;
* stopped by a time limit: a feasible answer (p sites, the forced ones among them) whose bound is below
  the optimum and whose gap is the gap between them;
* the automatic choice takes the tree when many pairs are left and the MIP when few.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equicare.errors import EquicareError
from equicare.optimize.location import kernels as kn
from equicare.optimize.location import p_median
from equicare.optimize.location.median_bound import lagrangian_bound
from equicare.optimize.location.median_exact import TREE_ABOVE_PAIRS
from equicare.optimize.location.median_tree import lagrangian_tree
from equicare.optimize.location.progress import Deadline, relative_gap
from equicare.optimize.location.rows import SortedRows

from locate_instances import instances


def _optimum(C, w, p, forced):
    """The optimum over every open set of size p holding the forced sites (inf: none serves everyone)."""
    m = C.shape[1]
    best = np.inf
    for s in combinations(range(m), p):
        if not set(np.flatnonzero(forced)) <= set(s):
            continue
        d = C[:, list(s)].min(axis=1)
        if np.all(np.isfinite(d)):
            best = min(best, float(np.dot(w, d)))
    return best


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(instances(2))
def test_tree_finds_and_proves_the_enumerated_optimum(inst):
    C, w, p, forced = inst
    opt = _optimum(C, w, p, forced)
    if not np.isfinite(opt):
        return
    ids = [f"s{j}" for j in range(C.shape[1])]
    r = p_median(C, w, p, open_sites=[ids[j] for j in np.flatnonzero(forced)], site_ids=ids, method="tree")
    assert r.objective == pytest.approx(opt, rel=1e-9, abs=1e-9)
    assert r.bound <= opt + 1e-6 * max(opt, 1.0)
    assert r.proven_optimal
    assert len(r.selected_sites) == p and {ids[j] for j in np.flatnonzero(forced)} <= set(r.selected_sites)


@SETTINGS
@given(instances(2), st.sampled_from([1, 5, 50]))
def test_tree_from_a_poor_start_reaches_the_optimum(inst, steps):
    C, w, p, forced = inst
    opt = _optimum(C, w, p, forced)
    if not np.isfinite(opt):
        return
    m = C.shape[1]
    rows = SortedRows.from_dense(C)
    a = w[rows.demand] * rows.d
    big = float(a.sum()) + 1.0
    start = forced.copy()
    for j in range(m):  # the forced sites and the first others, whatever they cost
        if start.sum() < p and not start[j]:
            start[j] = True
    ub = kn.evaluate_open(rows.ptr, rows.site, a, start, big)
    lag = lagrangian_bound(rows, a, p, forced, start.copy(), ub, big, Deadline(None), max_iter=steps,
                           restrict_every=2, search_every=10**9)
    if lag.proof:
        assert lag.incumbent == pytest.approx(opt, rel=1e-9, abs=1e-9)
        return
    need = np.ones(C.shape[0], bool)
    ka = w[lag.kept.demand] * lag.kept.d
    res = lagrangian_tree(lag.kept, ka, rows, a, p, lag.fixed_open, lag.closed, lag.lam, lag.is_open,
                          lag.incumbent, big, need, Deadline(None), gap=1e-9)
    assert res.stopped == ""
    assert res.objective == pytest.approx(opt, rel=1e-9, abs=1e-9)
    assert kn.evaluate_open(rows.ptr, rows.site, a, res.is_open, big) == pytest.approx(res.objective)
    assert res.is_open.sum() == p and res.is_open[forced].all()
    assert res.bound <= opt + 1e-6 * max(opt, 1.0)


def _gapped(sparse: bool):
    """300 random points, 50 of them candidate sites, p = 12: an instance whose Lagrangian (LP) bound has a
    gap, so the tree branches (9 nodes); sparse: pairs beyond 30 dropped (each point keeps its 5 nearest)."""
    rng = np.random.default_rng(3)
    P = rng.uniform(0, 100, (300, 2))
    S = P[rng.choice(300, 50, replace=False)]
    C = np.hypot(P[:, None, 0] - S[None, :, 0], P[:, None, 1] - S[None, :, 1]).round()
    w = rng.integers(1, 100, 300).astype(float)
    if sparse:
        C[C > np.maximum(np.sort(C, axis=1)[:, 4:5], 30.0)] = np.inf
    return C, w, 12


IDS = [f"s{j}" for j in range(50)]
FORCED = ["s3"]  # not in the unforced optimum; the tree still branches (2 nodes dense, 3 sparse)


@pytest.mark.parametrize("sparse", [False, True])
def test_tree_branches_to_the_optimum_the_mip_proves(sparse):
    C, w, p = _gapped(sparse)
    tree = p_median(C, w, p, open_sites=FORCED, site_ids=IDS, method="tree")
    mip = p_median(C, w, p, open_sites=FORCED, site_ids=IDS, method="mip")
    assert tree.proven_optimal and mip.proven_optimal and tree.details["tree_nodes"] > 0
    assert tree.objective == pytest.approx(mip.objective, rel=1e-9)
    assert tree.bound <= mip.objective * (1 + 1e-9)
    assert set(FORCED) <= set(tree.selected_sites) and len(tree.selected_sites) == p


@pytest.mark.parametrize("sparse", [False, True])
def test_time_limited_tree_returns_a_feasible_answer_with_a_correct_gap(sparse):
    C, w, p = _gapped(sparse)
    exact = p_median(C, w, p, open_sites=FORCED, site_ids=IDS, method="mip").objective
    # the whole command stopped early: whatever phase it stopped in, the answer is feasible
    cut = p_median(C, w, p, open_sites=FORCED, site_ids=IDS, method="tree", time_limit=0.05)
    assert len(cut.selected_sites) == p and set(FORCED) <= set(cut.selected_sites)
    served = C[:, [IDS.index(s) for s in cut.selected_sites]].min(axis=1)
    assert np.all(np.isfinite(served))
    assert cut.objective == pytest.approx(float(np.dot(w, served)), rel=1e-12)
    assert cut.bound <= exact * (1 + 1e-9) <= cut.objective * (1 + 1e-9)
    assert cut.gap == pytest.approx(relative_gap(cut.objective, cut.bound), rel=1e-9, abs=1e-12)
    assert cut.proven_optimal == (cut.gap <= 1e-6)
    # the tree itself stopped at once: its root bound, never above the optimum, and the incumbent
    rows = SortedRows.from_dense(C)
    a = w[rows.demand] * rows.d
    big = float(a.sum()) + 1.0
    forced = np.isin(IDS, FORCED)
    start = forced.copy()
    start[[j for j in range(50) if not forced[j]][: p - 1]] = True
    ub = kn.evaluate_open(rows.ptr, rows.site, a, start, big)
    lag = lagrangian_bound(rows, a, p, forced, start.copy(), ub, big, Deadline(None), max_iter=20,
                           search_every=10**9)
    ka = w[lag.kept.demand] * lag.kept.d
    res = lagrangian_tree(lag.kept, ka, rows, a, p, lag.fixed_open, lag.closed, lag.lam, lag.is_open,
                          lag.incumbent, big, np.ones(300, bool), Deadline(1e-9))
    assert res.stopped == "time limit"
    assert res.is_open.sum() == p and res.is_open[forced].all()
    assert res.objective == pytest.approx(kn.evaluate_open(rows.ptr, rows.site, a, res.is_open, big))
    assert res.bound <= exact * (1 + 1e-9) <= res.objective * (1 + 1e-9)


def test_auto_takes_the_mip_when_few_pairs_are_left_and_the_tree_when_many(monkeypatch):
    from equicare.optimize.location import median_exact

    C, w, p = _gapped(False)
    few = p_median(C, w, p)
    assert few.details["pairs_kept"] <= TREE_ABOVE_PAIRS and few.details["method"] == "MIP"
    monkeypatch.setattr(median_exact, "TREE_ABOVE_PAIRS", 0)
    many = p_median(C, w, p)
    assert many.details["method"] == "lagrangian tree" and many.details["tree_nodes"] > 0
    assert many.objective == pytest.approx(few.objective, rel=1e-9) and many.proven_optimal
    with pytest.raises(EquicareError, match="method must be one of"):
        p_median(C, w, p, method="simplex")
