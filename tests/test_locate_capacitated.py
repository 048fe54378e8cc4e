"""The capacitated p-median's large-table path (issue #18): bound from the uncapacitated p-median, MIP on
each point's cheapest pairs from a transportation-LP start, time limit over the whole solve.  Against
brute-force enumeration (every open set, every single-sourced assignment) on small random instances,
with the path forced by a tiny ``max_model_pairs``."""

from __future__ import annotations

from itertools import combinations, product

import numpy as np
import pytest

from equicare.optimize.location import capacitated_p_median


def _brute(C, w, Q, p):
    n, m = C.shape
    best = np.inf
    for s in combinations(range(m), p):
        for a in product(s, repeat=n):
            load = np.bincount(a, weights=w, minlength=m)
            if np.all(load <= Q + 1e-9):
                best = min(best, float(np.dot(w, C[np.arange(n), a])))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_large_path_is_feasible_and_its_bound_holds(seed):
    rng = np.random.default_rng(seed)
    n, m, p = 7, 5, 2
    C = np.round(rng.uniform(1, 50, (n, m)))
    w = rng.integers(1, 10, n).astype(float)
    Q = np.full(m, 0.6 * w.sum())
    opt = _brute(C, w, Q, p)
    r = capacitated_p_median(C, w, Q, p, max_model_pairs=10)
    assert "median_bound" in r.details and r.details["bound_from"].startswith("uncapacitated")
    sites = [int(s) for s in r.selected_sites]
    assert len(sites) == p
    a = np.array([int(r.assignment[str(i)]) for i in range(n)])
    assert set(a) <= set(sites)
    assert np.all(np.bincount(a, weights=w, minlength=m) <= Q + 1e-9)
    assert r.objective == pytest.approx(float(np.dot(w, C[np.arange(n), a])))
    assert r.bound <= opt + 1e-9 <= r.objective + 2e-9
    assert r.gap == pytest.approx((r.objective - r.bound) / r.objective, abs=1e-12)


def test_large_path_stops_within_its_time_limit():
    import time

    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 10_000, (700, 2))
    C = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    w = rng.integers(100, 1000, 700).astype(float)
    Q = np.full(700, 1.3 * w.sum() / 10)
    t = time.perf_counter()
    r = capacitated_p_median(C, w, Q, 10, time_limit=8, max_model_pairs=100_000)
    assert time.perf_counter() - t < 8 + 2.0
    assert len(r.selected_sites) == 10 and r.bound <= r.objective
    a = np.array([int(r.assignment[str(i)]) for i in range(700)])
    assert np.all(np.bincount(a, weights=w, minlength=700) <= Q + 1e-6)
