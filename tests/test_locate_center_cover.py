"""p-center by row generation, LSCP site dominance and MCLP limits/progress (issue #18): brute force on
random instances large enough for several rounds (Euclidean and sparse, forced sites), bounds on the
right side of the optimum, time-limited solves that return feasible answers with correct gaps."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from equicare.optimize.location import mclp, p_center
from equicare.optimize.location.progress import Progress, relative_gap
from equicare.optimize.location.rows import SortedRows
from equicare.optimize.location.setcover import min_cover, undominated_columns


def _euclid(rng, n, m, cut=None):
    P = rng.random((n, 2)) * 100
    S = P[rng.choice(n, m, replace=False)] if m <= n else rng.random((m, 2)) * 100
    C = cdist(P, S)
    if cut is not None:
        C[C > cut] = np.inf
    return C


def _pcenter_brute(C, p, forced=()):
    best = np.inf
    for s in combinations(range(C.shape[1]), p):
        if set(forced) <= set(s):
            best = min(best, C[:, list(s)].min(axis=1).max())
    return best


@pytest.mark.parametrize("seed", range(8))
def test_pcenter_row_generation_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, m = 60, 9
    C = _euclid(rng, n, m, cut=60.0 if seed % 2 else None)  # odd seeds: sparse (pairs within a cut-off)
    p = 2 + seed % 3
    forced = [int(rng.integers(m))] if seed % 4 == 3 else []
    best = _pcenter_brute(C, p, forced)
    if not np.isfinite(best):
        pytest.skip("no choice of p sites reaches everyone at this cut-off")
    ii, jj = np.nonzero(np.isfinite(C))
    for cost in (C, SortedRows.from_pairs(ii, jj, C[ii, jj], n, m)):
        r = p_center(cost, p, open_sites=forced or None)
        assert r.objective == pytest.approx(best) and r.proven_optimal
        assert r.bound <= r.objective + 1e-9 and len(r.selected_sites) == p
        assert {str(f) for f in forced} <= set(r.selected_sites)
        assert r.details["points_used"] <= n


def test_pcenter_time_limited_answer_is_feasible_with_a_valid_bound():
    rng = np.random.default_rng(7)
    C = _euclid(rng, 200, 200)
    full = p_center(C, 8)
    assert full.proven_optimal
    for limit in (0.05, 0.5):
        r = p_center(C, 8, time_limit=limit)
        sel = np.asarray(r.selected_sites, dtype=int)
        assert len(sel) == 8
        assert r.objective == pytest.approx(C[:, sel].min(axis=1).max())  # the answer is what it says
        assert r.bound <= full.objective + 1e-9 <= r.objective + 1e-9  # bound <= optimum <= answer
        assert r.gap == pytest.approx(relative_gap(r.objective, r.bound))


def _min_cover_brute(M, forced):
    n, m = M.shape
    for k in range(m + 1):
        for s in combinations(range(m), k):
            if set(np.flatnonzero(forced)) <= set(s) and (M[:, list(s)].sum(axis=1) > 0).all():
                return k
    return None


@pytest.mark.parametrize("seed", range(15))
def test_undominated_columns_keep_the_fewest_cover(seed):
    rng = np.random.default_rng(100 + seed)
    n, m = int(rng.integers(3, 9)), int(rng.integers(2, 8))
    M = (rng.random((n, m)) < rng.uniform(0.2, 0.7)).astype(np.int8)
    M[:, rng.integers(m)] = M[:, rng.integers(m)]  # identical columns too
    allowed = rng.random(m) < 0.8
    keep = undominated_columns(sp.csr_matrix(M), allowed)
    assert set(keep) <= set(np.flatnonzero(allowed))
    for j in np.flatnonzero(allowed):  # every dropped allowed column lies inside a kept one
        if j not in keep and M[:, j].any():
            assert any(np.all(M[:, j] <= M[:, k]) for k in keep)
    forced = np.zeros(m, bool)
    if seed % 3 == 0:
        forced[rng.integers(m)] = True
    need = _min_cover_brute(M, forced)
    res = min_cover(sp.csr_matrix(M), forced)
    if need is None:
        assert res.is_open is None
    else:
        assert res.is_open is not None and res.is_open.sum() == need and res.lower == need
        assert np.all(res.is_open[forced]) and (M[:, res.is_open].sum(axis=1) > 0).all()
        for lim in (need - 1, need):  # the probe "at most lim sites?"
            pr = min_cover(sp.csr_matrix(M), forced, limit=lim)
            assert (pr.is_open is not None) == (lim >= need)
            if pr.is_open is not None:
                assert pr.is_open.sum() <= lim and (M[:, pr.is_open].sum(axis=1) > 0).all()


def _mclp_brute(C, w, p, radius):
    return max(float(w[(C[:, list(s)] <= radius).any(axis=1)].sum()) for s in combinations(range(C.shape[1]), p))


@pytest.mark.parametrize("seed", range(4))
def test_mclp_time_limited_bound_is_above_the_optimum(seed):
    rng = np.random.default_rng(200 + seed)
    C = _euclid(rng, 80, 12, cut=50.0 if seed % 2 else None)
    w = rng.integers(1, 100, 80).astype(float)
    best = _mclp_brute(C, w, 4, 18.0)
    for limit in (None, 1e-3):
        r = mclp(C, w, 4, 18.0, time_limit=limit)
        sel = np.asarray(r.selected_sites, dtype=int)
        assert len(sel) == 4
        assert r.objective == pytest.approx(float(w[(C[:, sel] <= 18.0).any(axis=1)].sum()))
        assert r.objective <= best + 1e-9 <= r.bound + 1e-6
        assert r.gap == pytest.approx(relative_gap(r.objective, r.bound))
        if limit is None:
            assert r.proven_optimal and r.objective == pytest.approx(best)


def test_mclp_and_pcenter_report_progress(capsys):
    rng = np.random.default_rng(3)
    C = _euclid(rng, 150, 150)
    w = rng.integers(1, 100, 150).astype(float)
    r = mclp(C, w, 6, 15.0, progress=Progress(True, after=0.0, every=0.0))
    r2 = p_center(C, 6, progress=Progress(True, after=0.0, every=0.0))
    err = capsys.readouterr().err
    assert "MCLP p=6" in err and "p-center p=6" in err and "done" in err
    assert f"{r.objective:,.6g}" in err and f"{r2.objective:,.6g}" in err
