"""Round 6 (issue 15): the pooled quantile GBM on the fourth-root scale (``pooled_gbqr``) and per-step ensemble
weights: quantiles monotone, non-negative, integer when asked; features against independent references; and the
information rule (data after the cutoff, in the panel or the extra series, change nothing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from equicare.forecast.hub import QUANTILES
from equicare.forecast.models import MODELS, FlatBaseline, PooledAR, PooledGBM, PooledGBQR, QuantileEnsemble
from equicare.forecast.models.gbqr import GBQR_LEVELS, gbqr_features, hub_levels
from equicare.forecast.run import forecast_panel, make_model
from equicare.forecast.truth import Panel

Q = np.asarray(QUANTILES)


def _panel(T: int = 90, L: int = 5, seed: int = 0, start: str = "2021-01-02", pop: float = 2e6) -> Panel:
    """Seasonal epidemics (period 52 weeks) with Poisson noise, different sizes per location."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[:, None]
    size = np.linspace(20, 300, L)[None, :]
    mean = size * (0.2 + np.exp(-0.5 * ((t % 52 - 26 - np.arange(L)[None, :]) / 5.0) ** 2))
    dates = pd.date_range(start, periods=T, freq="7D")
    return Panel(dates, tuple(f"{i + 1:02d}" for i in range(L)), rng.poisson(mean).astype(float), np.full(L, pop))


def _ili(T: int = 160, L: int = 3, start: str = "2019-01-05") -> Panel:
    p = _panel(T, L, seed=5, start=start, pop=1e5)
    return Panel(p.dates, tuple(f"ili:{c}" for c in p.locations), p.values / 50.0, p.population)


SMALL = dict(n_estimators=5, min_child_samples=10)


def test_features_against_independent_references():
    """Level, changes, window means and least-squares slopes (numpy.polyfit) at one origin; NaN without history."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(12, 2)).cumsum(axis=0)
    F = gbqr_features(z)
    assert F.shape == (12, 2, 1 + 3 + 3 + 3)
    t, j = 10, 1
    assert F[t, j, 0] == z[t, j]
    assert np.allclose(F[t, j, 1:4], [z[t, j] - z[t - 1, j], z[t - 1, j] - z[t - 2, j], z[t - 2, j] - z[t - 3, j]])
    for c, w in zip((4, 5, 6), (2, 4, 8)):
        assert F[t, j, c] == pytest.approx(z[t - w + 1:t + 1, j].mean() - z[t, j])
    for c, w in zip((7, 8, 9), (3, 5, 8)):
        assert F[t, j, c] == pytest.approx(np.polyfit(np.arange(w), z[t - w + 1:t + 1, j], 1)[0])
    assert np.isnan(F[6, j, 9]) and not np.isnan(F[7, j, 9])  # an 8-week slope needs 8 weeks


def test_hub_levels_interpolation_and_normal_tails():
    """Exact at the fitted levels; linear between; 0.01 / 0.99 extend the 0.025 / 0.975 offsets by
    Phi^-1(0.99) / Phi^-1(0.975) = 2.326348 / 1.959964 (tables)."""
    q = np.array([-2.0, -1.0, -0.5, 0.0, 0.4, 1.0, 3.0])  # at 0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975
    out = hub_levels(q[None, :], GBQR_LEVELS)[0]
    at = dict(zip(np.round(Q, 3), out))
    for lv, v in zip(GBQR_LEVELS, q):
        assert at[round(lv, 3)] == pytest.approx(v)
    assert at[0.05] == pytest.approx(-2.0 + (0.05 - 0.025) / 0.075 * 1.0)
    assert at[0.3] == pytest.approx(-0.5 + 0.2 * 0.5)
    ratio = 2.326348 / 1.959964
    assert at[0.01] == pytest.approx(-2.0 * ratio, rel=1e-5) and at[0.99] == pytest.approx(3.0 * ratio, rel=1e-5)
    assert (np.diff(out) >= 0).all()


def test_gbqr_quantiles_monotone_non_negative_and_integer():
    p = _panel()
    m = PooledGBQR(augment=_ili(), **SMALL)
    q = m.predict(p, [1, 2, 3, 4])
    assert q.shape == (5, 4, 23)
    assert np.isfinite(q).all() and (q >= 0).all() and (np.diff(q, axis=-1) >= -1e-9).all()
    assert (q[:, :, 21] > q[:, :, 1]).any()  # a real interval, not a point
    fc = forecast_panel(p, p.dates[-1] + pd.Timedelta(weeks=1), model=m, integer=True)
    v = fc["value"].to_numpy()
    assert (v == np.round(v)).all() and (v >= 0).all()
    assert (fc.groupby(["location", "horizon"])["value"].apply(lambda s: s.is_monotonic_increasing)).all()


def test_gbqr_near_zero_series_stay_non_negative():
    """A location with zeros (the fourth root of 0 + 0.01 is the floor of the scale) stays >= 0."""
    p = _panel(L=3)
    v = p.values.copy()
    v[:, 0] = 0.0
    q = PooledGBQR(**SMALL).predict(Panel(p.dates, p.locations, v, p.population), [1, 3])
    assert (q >= 0).all() and (np.diff(q, axis=-1) >= -1e-9).all()


def test_gbqr_uses_nothing_after_the_cutoff():
    """Leakage test: altering every admission after the cutoff and every extra-series week after it (which the
    extra panel has, reaching past the cutoff) leaves the forecast made from the cut panel unchanged; altering a
    week before it changes the forecast (the test can fail)."""
    full, ili = _panel(T=100), _ili(T=200)
    cutoff = full.dates[79]
    m = PooledGBQR(augment=ili, **SMALL)
    before = m.predict(full.cut(cutoff), [1, 2, 3, 4])
    v, iv = full.values.copy(), ili.values.copy()
    v[80:] *= 7.0
    iv[ili.dates > cutoff] = 0.0
    m2 = PooledGBQR(augment=Panel(ili.dates, ili.locations, iv, ili.population), **SMALL)
    after = m2.predict(Panel(full.dates, full.locations, v, full.population).cut(cutoff), [1, 2, 3, 4])
    assert np.array_equal(before, after)
    iv2 = ili.values.copy()
    iv2[(ili.dates <= cutoff) & (ili.dates > cutoff - pd.Timedelta(weeks=30))] *= 5.0
    m3 = PooledGBQR(augment=Panel(ili.dates, ili.locations, iv2, ili.population), **SMALL)
    assert not np.array_equal(before, m3.predict(full.cut(cutoff), [1, 2, 3, 4]))


def test_gbqr_training_targets_end_at_the_panel():
    """Every training row's target week lies inside the panel: T - k origins for step k."""
    p = _panel(T=40, L=2)
    X, y = PooledGBQR(**SMALL).training_rows(p, [1, 4])
    steps = X[:, -2]
    assert {1.0, 4.0} == set(steps)
    assert (steps == 1).sum() <= 2 * (40 - 1) and (steps == 4).sum() <= 2 * (40 - 4)
    assert (X[:, -1] == 0).all()  # no extra series: every row is an admissions row


def test_registered_and_built_with_extras():
    assert MODELS["pooled_gbqr"] is PooledGBQR
    ili = _ili()
    assert make_model("pooled_gbqr", ili).augment is ili
    with pytest.raises(ValueError):
        PooledGBQR(levels=(0.1, 0.9))


def test_per_step_weights_against_hand_mix():
    """Weights as one row per step give, at each step, the average with that row's (normalised) weights; the last
    row serves further steps."""
    p = _panel(T=60, L=3)
    members = [FlatBaseline(), PooledAR()]
    steps = [1, 2, 3]
    w = np.array([[3.0, 1.0], [1.0, 1.0]])
    ens = QuantileEnsemble(members=members, weights=w)
    got = ens.predict(p, steps)
    preds = [np.sort(np.maximum(m.predict(p, steps), 0.0), axis=-1) for m in members]
    rows = [w[0] / 4, w[1] / 2, w[1] / 2]
    for i, r in enumerate(rows):
        assert np.allclose(got[:, i], r[0] * preds[0][:, i] + r[1] * preds[1][:, i])
    one = QuantileEnsemble(members=members, weights=[3.0, 1.0]).predict(p, steps)
    assert np.allclose(one[:, 0], got[:, 0]) and not np.allclose(one[:, 1], got[:, 1])
    for bad in ([[1.0, -1.0]], [[0.0, 0.0]], [[1.0, 2.0, 3.0]], [[np.nan, 1.0]]):
        with pytest.raises(ValueError):
            QuantileEnsemble(members=members, weights=bad)


@pytest.mark.parametrize("cls", [PooledAR, PooledGBM, PooledGBQR])
def test_cached_extra_rows_change_nothing_and_leak_nothing(cls):
    """The pooled models reuse the extra series' training rows across calls (step 4 of round 6, speed): a model that
    has already forecast from a later cut (whose extra series reach further) gives, at an earlier cut, exactly what
    a fresh model gives there; and repeating a call gives the same forecast."""
    full, ili = _panel(T=100), _ili(T=200, start="2020-06-06")
    kw = {} if cls is PooledAR else dict(n_estimators=5, min_child_samples=10)
    early, late = full.dates[70], full.dates[95]
    used = cls(augment=ili, **kw)
    used.predict(full.cut(late), [1, 2])
    got = used.predict(full.cut(early), [1, 2])
    assert np.array_equal(got, cls(augment=ili, **kw).predict(full.cut(early), [1, 2]))
    assert np.array_equal(got, used.predict(full.cut(early), [1, 2]))
