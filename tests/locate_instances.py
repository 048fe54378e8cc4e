"""Small random p-median instances for the property tests of the exact engine (test_locate_median_engine.py,
test_locate_median_tree.py): Euclidean costs rounded to whole units, dense or sparse, with forced sites."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def instances(max_forced: int = 1):
    """A hypothesis strategy of ``(C, w, p, forced)``: 4-30 points, 3-9 sites, ``C`` with ``inf`` for a missing
    pair when sparse (every point keeps at least its two nearest sites), ``p`` from 2 to sites - 1 and up to
    ``max_forced`` sites forced open."""

    @st.composite
    def draw_instance(draw):
        seed = draw(st.integers(0, 100_000))
        rng = np.random.default_rng(seed)
        n, m = draw(st.integers(4, 30)), draw(st.integers(3, 9))
        pts, sites = rng.uniform(0, 100, (n, 2)), rng.uniform(0, 100, (m, 2))
        C = np.round(np.hypot(pts[:, None, 0] - sites[None, :, 0], pts[:, None, 1] - sites[None, :, 1]))
        if draw(st.booleans()):  # sparse: far pairs missing, every point keeps at least its two nearest
            cut = np.sort(C, axis=1)[:, 1:2]
            C[C > np.maximum(cut, draw(st.integers(20, 80)))] = np.inf
        w = rng.integers(0, 50, n).astype(float)
        p = draw(st.integers(2, m - 1))
        forced = np.zeros(m, bool)
        forced[rng.choice(m, draw(st.integers(0, max_forced)), replace=False)] = True
        return C, w, p, forced

    return draw_instance()
