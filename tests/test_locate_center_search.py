"""The swap search of the p-center (``center_search.py``, issue #18) against brute force on small random
instances (dense and sparse, forced sites): a cover it reports is a real cover with the same number of
sites and the forced ones open, the uncovered count it reports is the true one, and it finds a cover
whenever enumeration says one exists; the per-site layout holds exactly the pairs within the cut."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from equicare.optimize.location.center_search import SiteRows, cover_search
from equicare.optimize.location.rows import SortedRows


def _instance(seed, n=14, m=8):
    rng = np.random.default_rng(seed)
    C = cdist(rng.random((n, 2)) * 100, rng.random((m, 2)) * 100)
    if seed % 2:  # sparse: pairs beyond a cut-off missing
        C[C > 55] = np.inf
    ii, jj = np.nonzero(np.isfinite(C))
    return C, SortedRows.from_pairs(ii, jj, C[ii, jj], n, m)


def _uncovered(C, y, R):
    return int((C[:, y].min(axis=1, initial=np.inf) > R).sum())


def test_site_rows_hold_the_pairs_within_the_cut_sorted_per_site():
    C, rows = _instance(3, 30, 12)
    cols = SiteRows.from_rows(rows, 40.0)
    for j in range(C.shape[1]):
        pts, d = cols.point[cols.ptr[j]:cols.ptr[j + 1]], cols.d[cols.ptr[j]:cols.ptr[j + 1]]
        assert np.all(np.diff(d) >= 0)
        assert sorted(pts.tolist()) == np.flatnonzero(C[:, j] <= 40.0).tolist()
        assert np.allclose(d, C[pts, j])


@pytest.mark.parametrize("seed", range(12))
def test_cover_search_against_enumeration(seed):
    C, rows = _instance(seed)
    n, m = C.shape
    cols = SiteRows.from_rows(rows)
    rng = np.random.default_rng(100 + seed)
    p = 2 + seed % 3
    forced = np.zeros(m, bool)
    if seed % 3 == 2:
        forced[int(rng.integers(m))] = True
    start = forced.copy()
    start[rng.choice(np.flatnonzero(~forced), p - int(forced.sum()), replace=False)] = True
    finite = np.unique(C[np.isfinite(C)])
    for R in finite[:: max(1, len(finite) // 12)]:
        exists = any(_uncovered(C, list(s), R) == 0 for s in combinations(range(m), p)
                     if set(np.flatnonzero(forced)) <= set(s))
        u, y = cover_search(rows, cols, R, start, forced, seed=seed)
        assert y.sum() == p and np.all(y[forced])  # as many sites as the start, the forced ones open
        assert u == _uncovered(C, np.flatnonzero(y), R)  # the count it reports is the true one
        if exists:
            assert u == 0  # tiny instances: the search finds a cover whenever one exists
        else:
            assert u > 0


def test_cover_search_with_every_open_site_forced_stays_put():
    C, rows = _instance(4)
    forced = np.zeros(C.shape[1], bool)
    forced[:2] = True
    u, y = cover_search(rows, SiteRows.from_rows(rows), 10.0, forced, forced)
    assert np.array_equal(y, forced) and u == _uncovered(C, [0, 1], 10.0)


@pytest.mark.parametrize("seed", range(4))
def test_cover_lp_gives_a_feasible_fractional_cover_of_its_bound(seed):
    import scipy.sparse as sp

    from equicare.optimize.location.setcover import cover_lp, cover_lp_bound

    rng = np.random.default_rng(seed)
    M = sp.csr_matrix((rng.random((40, 15)) < 0.2).astype(np.int8))
    M = M[np.diff(M.indptr) > 0]
    forced = np.zeros(15, bool)
    forced[seed] = True
    bound, y = cover_lp(M, forced)
    assert bound == pytest.approx(cover_lp_bound(M, forced))
    if y is not None:
        assert np.all(M @ y >= 1 - 1e-6) and y[seed] == 1.0 and np.all((y >= 0) & (y <= 1))
        assert y.sum() <= bound + 1e-6  # the LP's dominated columns dropped: its sites give the bound


@pytest.mark.parametrize("seed", range(6))
def test_pcenter_with_search_and_lp_rows_matches_enumeration(seed):
    """Large enough for the swap search, the LP row generation and the exact probes to all take part."""
    from equicare.optimize.location import p_center

    rng = np.random.default_rng(50 + seed)
    n, m, p = 150, 14, 3
    C = cdist(rng.random((n, 2)) * 100, rng.random((m, 2)) * 100)
    if seed % 2:
        C[C > 60] = np.inf
    forced = [int(rng.integers(m))] if seed % 3 == 0 else []
    best = min((C[:, list(s)].min(axis=1).max() for s in combinations(range(m), p) if set(forced) <= set(s)),
               default=np.inf)
    if not np.isfinite(best):
        pytest.skip("no choice of p sites reaches everyone at this cut-off")
    r = p_center(C, p, open_sites=forced or None)
    sel = np.asarray(r.selected_sites, dtype=int)
    assert r.objective == pytest.approx(best) and r.proven_optimal and len(sel) == p
    assert r.objective == pytest.approx(C[:, sel].min(axis=1).max())
    assert set(forced) <= set(sel.tolist())
    for limit in (0.02, 0.3):  # time-limited: feasible, bound <= optimum <= answer, gap as stated
        t = p_center(C, p, open_sites=forced or None, time_limit=limit)
        sel = np.asarray(t.selected_sites, dtype=int)
        assert len(sel) == p and t.objective == pytest.approx(C[:, sel].min(axis=1).max())
        assert t.bound <= best + 1e-9 <= t.objective + 1e-9
