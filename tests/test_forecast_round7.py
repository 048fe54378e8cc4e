"""Round 7 (issue 15): revision-aware training (:mod:`equicare.forecast.models.revision`): training rows from the
snapshot published by ``t + 4`` days (hand-worked against the fourth-root formula), the target as known in the
panel, rows without a snapshot unchanged, and the information rule (versions published after the forecast's
deadline change nothing)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.forecast.models import PooledAR, PooledGBM
from equicare.forecast.models.revision import PublishedAR, PublishedGBM
from equicare.forecast.truth import Panel
from equicare.forecast.vintages import Vintages

T, L, POP = 60, 3, 2e6
DATES = pd.date_range("2023-01-07", periods=T, freq="7D")
LOCS = ("01", "02", "04")
FIRST = 40  # versions exist from the week DATES[FIRST] on


def _final() -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(T)[:, None]
    mean = np.array([40.0, 90.0, 200.0])[None, :] * (0.3 + np.exp(-0.5 * ((t - 45) / 6.0) ** 2))
    return rng.poisson(mean).astype(float)


def _vintages(final: np.ndarray, later: bool = False, late_day: bool = False) -> Vintages:
    """Version of week t published on t + 4 days: every week so far at its final value, except week t at half of it
    (the first release, revised up a week later).  ``later``: versions published after the panel's deadline that
    change every value (they must change nothing).  ``late_day``: each week's first release is also revised one day
    after its deadline (t + 5 days), to five times its value: the row of origin t must not see it."""
    rows = []
    for i in range(FIRST, T):
        as_of = DATES[i] + pd.Timedelta(days=4)
        for j in range(i + 1):
            for c, loc in enumerate(LOCS):
                rows.append((as_of, DATES[j], loc, final[j, c] / 2 if j == i else final[j, c]))
        if late_day:
            for c, loc in enumerate(LOCS):
                rows.append((as_of + pd.Timedelta(days=1), DATES[i], loc, final[i, c] * 5))
    if later:
        for j in range(T):
            for c, loc in enumerate(LOCS):
                rows.append((DATES[-1] + pd.Timedelta(days=5), DATES[j], loc, final[j, c] * 3 + 7))
    return Vintages(pd.DataFrame(rows, columns=["as_of", "date", "location", "value"]))


def _z(v: np.ndarray, offset: float) -> np.ndarray:
    return (np.maximum(v, 0) / (POP / 1e5) + offset) ** 0.25


def _panel(final: np.ndarray) -> Panel:
    """The data as known at the deadline of the week after the last: final values, the last week preliminary."""
    v = final.copy()
    v[-1] /= 2
    return Panel(DATES, LOCS, v, np.full(L, POP))


def test_rows_from_the_published_snapshot_hand_worked():
    final = _final()
    panel = _panel(final)
    m = PublishedAR(vintages=_vintages(final), n_lags=2)
    z = m._z(panel)
    d0, d1 = PooledAR._design(m, z, panel, 1), m._design(z, panel, 1)
    o, c = 50, 1  # an origin with a snapshot: its week 50 was first published at half
    r = np.flatnonzero((d1.origin == o) & (d1.loc == c))[0]
    zp = _z(final[: o + 1, c].copy(), m.offset)
    zp[o] = _z(final[o, c] / 2, m.offset)
    assert np.isclose(d1.X[r, 0], zp[o])  # level as published
    assert np.allclose(d1.X[r, 1:3], [zp[o] - zp[o - 1], zp[o - 1] - zp[o - 2]])
    assert np.isclose(d1.y[r], _z(final[o + 1, c], m.offset) - zp[o])  # target as known now, minus the preliminary
    assert np.isclose(d0.X[r, 0], _z(final[o, c], m.offset))  # the plain model used the revised level
    early = d1.origin < FIRST  # no snapshot: rows unchanged
    assert early.any() and np.array_equal(d1.X[early], d0.X[early]) and np.array_equal(d1.y[early], d0.y[early])
    assert (d1.X[d1.origin >= FIRST, 0] != d0.X[d0.origin >= FIRST, 0]).all()
    assert np.array_equal(d1.X_new, d0.X_new)  # the rows to predict are the panel's own
    d2 = PublishedAR(vintages=_vintages(final, late_day=True), n_lags=2)._design(z, panel, 1)
    assert np.array_equal(d2.X, d1.X) and np.array_equal(d2.y, d1.y)  # a version one day after t + 4 is not used


def test_later_versions_change_nothing_and_no_vintages_is_the_plain_model():
    final = _final()
    panel = _panel(final)
    gbm = dict(n_estimators=5, min_child_samples=10)
    for cls, plain, kw in ((PublishedAR, PooledAR, {}), (PublishedGBM, PooledGBM, gbm)):
        a = cls(vintages=_vintages(final), **kw).predict(panel, [1, 2, 3, 4])
        b = cls(vintages=_vintages(final, later=True), **kw).predict(panel, [1, 2, 3, 4])
        assert np.array_equal(a, b)
        assert np.array_equal(cls(vintages=None, **kw).predict(panel, [1, 2]), plain(**kw).predict(panel, [1, 2]))
        assert not np.array_equal(a, plain(**kw).predict(panel, [1, 2, 3, 4]))  # the rows did change the fit
        assert np.isfinite(a).all()
