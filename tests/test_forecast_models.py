"""Forecast models: damped trend against statsmodels, ensemble arithmetic, ILINet augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from equicare.forecast import bundled_path, forecast, load_truth, to_panel
from equicare.forecast.ilinet import load_ilinet
from equicare.forecast.models import (
    DampedTrend,
    FlatBaseline,
    PooledAR,
    QuantileEnsemble,
)
from equicare.forecast.models.smoothing import damped_holt
from equicare.forecast.truth import Panel


@pytest.fixture(scope="module")
def panel() -> Panel:
    return to_panel(load_truth(bundled_path("target-hospital-admissions.csv"))).cut(pd.Timestamp("2024-01-06"))


def test_damped_holt_matches_statsmodels() -> None:
    from statsmodels.tsa.holtwinters import Holt

    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(0.2, 1.0, 80)) + 20
    alpha, beta, phi = 0.6, 0.3, 0.8
    level, trend = damped_holt(y[:, None], alpha, beta, phi)
    fit = Holt(y, damped_trend=True, initialization_method="known", initial_level=y[0], initial_trend=0.0).fit(
        smoothing_level=alpha, smoothing_trend=beta, damping_trend=phi, optimized=False)
    expected = fit.forecast(4)
    ours = level[-1, 0] + np.cumsum(phi ** np.arange(1, 5)) * trend[-1, 0]
    assert np.allclose(ours, expected)


def test_ensemble_is_weighted_quantile_average(panel: Panel) -> None:
    a, b = FlatBaseline(), DampedTrend()
    ens = QuantileEnsemble([a, b], weights=[1, 3])
    got = ens.predict(panel, [1, 2])
    def member(m: object) -> np.ndarray:  # members' quantiles are clipped at 0, then sorted
        return np.sort(np.maximum(m.predict(panel, [1, 2]), 0.0), axis=-1)

    want = 0.25 * member(a) + 0.75 * member(b)
    assert np.allclose(got, want)
    med = QuantileEnsemble([a, b, PooledAR()], combine="median").predict(panel, [1])
    assert med.shape == (panel.values.shape[1], 1, 23)
    with pytest.raises(ValueError):
        QuantileEnsemble([a, b], weights=[1])


def test_linear_pool_of_two_uniforms_by_hand() -> None:
    """Members U(0, 1) (quantiles tau) and U(1, 3) (1 + 2 tau), weights 1 : 1: the mixture CDF is x / 2 on
    [0.01, 0.99] and 1/2 + (x - 1) / 4 on [1.02, 2.98], so q_0.25 = 0.5, q_0.1 = 0.2, q_0.75 = 2, q_0.9 = 2.6;
    with weights 3 : 1, q_0.3 = 0.4 (F = 3x / 4). Against a Monte-Carlo mixture of the same members too."""
    from equicare.forecast.models.base import Q
    from equicare.forecast.models.ensemble import linear_pool

    preds = np.stack([Q, 1 + 2 * Q])[:, None, :]  # (M=2, 1 task, 23)
    got = linear_pool(preds, np.array([1.0, 1.0]))[0]
    for tau, want in ((0.25, 0.5), (0.1, 0.2), (0.75, 2.0), (0.9, 2.6)):
        assert got[np.isclose(Q, tau)][0] == pytest.approx(want, abs=1e-9)
    assert np.all(np.diff(got) >= 0) and got[0] >= 0.01 and got[-1] <= 2.98
    assert linear_pool(preds, np.array([3.0, 1.0]))[0][np.isclose(Q, 0.3)][0] == pytest.approx(0.4, abs=1e-9)
    rng = np.random.default_rng(7)
    draws = np.concatenate([rng.uniform(0, 1, 200_000), rng.uniform(1, 3, 200_000)])
    inner = (Q > 0.02) & (Q < 0.98)
    assert np.allclose(got[inner], np.quantile(draws, Q[inner]), atol=0.02)
    # one member: the pool is that member; the ensemble option uses it
    one = linear_pool(preds[:1], np.array([1.0]))[0]
    assert np.allclose(one, Q, atol=1e-9)


def test_ensemble_pool_option(panel: Panel) -> None:
    from equicare.forecast.models.ensemble import linear_pool

    a, b = FlatBaseline(), DampedTrend()
    got = QuantileEnsemble([a, b], weights=[1, 3], combine="pool").predict(panel, [1, 2])
    members = np.stack([np.sort(np.maximum(m.predict(panel, [1, 2]), 0.0), axis=-1) for m in (a, b)])
    assert np.allclose(got, linear_pool(members, np.array([0.25, 0.75])))
    lo, hi = members.min(axis=0), members.max(axis=0)
    assert np.all(got >= lo - 1e-9) and np.all(got <= hi + 1e-9)
    with pytest.raises(ValueError, match="one weight per member"):
        QuantileEnsemble([a, b], weights=[[1, 3], [1, 1]], combine="pool").predict(panel, [1])


def test_skew_root_by_hand(panel: Panel) -> None:
    """Population 10^5 (scale 1): a quantile with z = (q + 0.01)^(1/4) = z_med + d goes to z_med + u d above the
    median and z_med + l d below; the median and zeros stay; monotone; the ensemble option applies it last."""
    from equicare.forecast.models.base import Q
    from equicare.forecast.models.ensemble import ROOT_OFFSET, skew_root

    zmed = 2.0
    d = np.linspace(-0.5, 0.5, len(Q))
    q = (zmed + d) ** 4 - ROOT_OFFSET
    q[0] = 0.0
    got = skew_root(q[None, :], np.array([1.0]), 0.5, 2.0)[0]
    want = np.where(d > 0, (zmed + 2.0 * d) ** 4, (zmed + 0.5 * d) ** 4) - ROOT_OFFSET
    want[0] = 0.0
    assert np.allclose(got, want) and got[len(Q) // 2] == pytest.approx(q[len(Q) // 2])
    assert np.all(np.diff(got) >= 0)
    a, b = FlatBaseline(), DampedTrend()
    plain = QuantileEnsemble([a, b]).predict(panel, [1])
    sk = QuantileEnsemble([a, b], skew=(0.9, 1.2)).predict(panel, [1])
    assert np.allclose(sk, skew_root(plain, panel.population / 1e5, 0.9, 1.2))
    with pytest.raises(ValueError, match="skew must be two positive factors"):
        QuantileEnsemble([a, b], skew=(1.0, 0.0))


def test_ilinet_pseudo_rates(shared_data: Path) -> None:
    ili = load_ilinet(shared_data / "flusight" / "history" / "ilinet_state.csv")
    assert ili.dates[-1] <= pd.Timestamp("2020-07-06") and ili.dates[0] < pd.Timestamp("2011-01-01")
    assert (ili.dates.day_of_week == 5).all()
    assert ili.values.shape[1] >= 45 and np.nanmin(ili.values) >= 0
    # the epidemic season is visible: January rates exceed July rates in most states
    jan = np.nanmean(ili.values[ili.dates.month == 1], axis=0)
    jul = np.nanmean(ili.values[ili.dates.month == 7], axis=0)
    assert np.mean(jan > jul) > 0.9
    # several extracts: each with its own floors, joined on the union of weeks (HHS regions from 1997)
    both = load_ilinet([shared_data / "flusight" / "history" / f for f in ("ilinet_state.csv", "ilinet_hhs.csv")])
    assert both.dates[0] < pd.Timestamp("1998-01-01") and both.dates[-1] == ili.dates[-1]
    assert set(ili.locations) < set(both.locations) and "ili:Region 1" in both.locations
    i = both.dates.get_loc(ili.dates[0])
    cols = [both.locations.index(c) for c in ili.locations]
    assert np.allclose(both.values[i:i + len(ili.dates)][:, cols], ili.values, equal_nan=True)
    with pytest.raises(Exception, match="more than one file"):
        load_ilinet([shared_data / "flusight" / "history" / "ilinet_state.csv"] * 2)


def _extra_pair(panel: Panel, start: str, k: int, seed: int) -> tuple[Panel, Panel]:
    """Random extra training series, and the same with every week after the panel's last one changed."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, "2024-06-29", freq="7D")
    vals = rng.gamma(2.0, 2.0, size=(len(dates), k))
    extra = Panel(dates, tuple(f"x{i}" for i in range(k)), vals, np.full(k, 1e5))
    changed = vals.copy()
    changed[dates > panel.dates[-1]] *= 10
    return extra, Panel(dates, extra.locations, changed, extra.population)


def test_augmented_model_respects_information_rule(panel: Panel) -> None:
    """Extra training series are cut at the panel's last week too: later rows cannot change a forecast."""
    extra, extra2 = _extra_pair(panel, "2021-01-02", 5, 0)
    a = PooledAR(augment=extra).predict(panel, [1, 4])
    b = PooledAR(augment=extra2).predict(panel, [1, 4])
    assert np.array_equal(a, b)
    c = PooledAR().predict(panel, [1, 4])
    assert not np.allclose(a, c)  # the extra series were used


def test_forecast_with_augmented_ensemble(shared_data: Path) -> None:
    ili = load_ilinet(shared_data / "flusight" / "history" / "ilinet_state.csv")
    truth = load_truth(bundled_path("target-hospital-admissions.csv"))
    fc = forecast(truth, "2024-01-06", model=QuantileEnsemble(augment=ili), locations=["06"])
    v = fc["value"].to_numpy().reshape(4, 23)
    assert (np.diff(v, axis=1) >= 0).all() and (v >= 0).all()
    # California, week ending 2024-01-06: 1,470 admissions observed; the 95% interval of horizon 0 covers it
    obs = truth[(truth["location"] == "06") & (truth["date"] == "2024-01-06")]["value"].item()
    assert v[0, 1] <= obs <= v[0, 21]


def test_demand_scenarios_peak_quantiles() -> None:
    from equicare.forecast import demand_scenarios
    from equicare.forecast.hub import quantile_table

    base = np.linspace(0, 22, 23)
    vals = np.stack([base + 10, base + 40, base + 30, base])[None, :, :]  # horizon 1 is the peak
    fc = quantile_table(pd.Timestamp("2024-01-06"), ["06"], (0, 1, 2, 3), vals)
    sc = demand_scenarios(fc, (0.5, 0.9))
    assert list(sc["level"]) == [0.5, 0.9]
    assert list(sc["value"]) == [40 + 11, 40 + 19]
    assert set(sc["target_end_date"]) == {"2024-01-13"}
    with pytest.raises(Exception, match="no quantile level"):
        demand_scenarios(fc, (0.33,))


def test_cli_forecast_with_ilinet(shared_data: Path, tmp_path: Path, run_cli) -> None:
    hist = shared_data / "flusight" / "history"
    out = tmp_path / "f.csv"
    args = ["forecast", "--reference-date", "2024-01-06", "--out", out,
            "--ilinet", f"{hist / 'ilinet_state.csv'},{hist / 'ilinet_hhs.csv'}"]
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert len(pd.read_csv(out)) == 53 * 4 * 23
    code, _, err = run_cli(*args, "--model", "linear")
    assert code == 2 and "does not use extra training series" in err and "Traceback" not in err


def test_ensemble_spread_around_median(panel: Panel) -> None:
    a, b = FlatBaseline(), DampedTrend()
    plain = QuantileEnsemble([a, b]).predict(panel, [1, 2, 3])
    wide = QuantileEnsemble([a, b], spread=[0.5, 2.0]).predict(panel, [1, 2, 3])
    med = plain[:, :, 11:12]
    assert np.allclose(wide[:, 0], (med + 0.5 * (plain - med))[:, 0])
    assert np.allclose(wide[:, 1:], (med + 2.0 * (plain - med))[:, 1:])  # last factor repeats
    assert np.allclose(wide[:, :, 11], plain[:, :, 11])
    assert (np.diff(wide, axis=-1) >= -1e-9).all()
    with pytest.raises(ValueError):
        QuantileEnsemble([a, b], spread=[0.0])
    assert QuantileEnsemble().spread is not None and len(QuantileEnsemble(augment=panel).members) == 2


def test_ensemble_root_scale_spread(panel: Panel) -> None:
    """The root-scale spread, element by element: z = (q / (N/1e5) + 0.01)^(1/4), z_m + s (z - z_m), mapped back."""
    a, b = FlatBaseline(), DampedTrend()
    plain = QuantileEnsemble([a, b]).predict(panel, [1, 2])
    assert np.allclose(QuantileEnsemble([a, b], spread=[1.0], spread_scale="root").predict(panel, [1, 2]), plain)
    got = QuantileEnsemble([a, b], spread=[0.5, 1.5], spread_scale="root").predict(panel, [1, 2])
    for i, n in enumerate(panel.population):
        for j, s in enumerate((0.5, 1.5)):
            zm = (plain[i, j, 11] / (n / 1e5) + 0.01) ** 0.25
            for t in range(23):
                q = plain[i, j, t]
                z = zm + s * ((q / (n / 1e5) + 0.01) ** 0.25 - zm)
                want = 0.0 if q <= 0 else max((max(z, 0.0) ** 4 - 0.01) * n / 1e5, 0.0)
                assert got[i, j, t] == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert np.allclose(got[:, :, 11], plain[:, :, 11])
    assert (np.diff(got, axis=-1) >= -1e-9).all()
    # narrower on the root scale is narrower on the count scale, and a quantile at 0 stays at 0
    width = lambda x: x[:, :, 21] - x[:, :, 1]
    assert (width(got)[:, 0] <= width(plain)[:, 0] + 1e-9).all() and (width(got)[:, 1] >= width(plain)[:, 1] - 1e-9).all()
    assert (got[plain <= 0] == 0).all()
    with pytest.raises(ValueError):
        QuantileEnsemble([a, b], spread=[1.0], spread_scale="log")


def test_gbm_quantile_intervals(panel: Panel) -> None:
    """Quantile-objective intervals: per-location widths, monotone, extra rows obey the information rule."""
    from equicare.forecast.models import PooledGBM

    kw = {"quantile_levels": (0.05, 0.25, 0.5, 0.75, 0.95), "quantile_trees": 5, "n_estimators": 10,
          "quantile_row_step": 2}
    extra, extra2 = _extra_pair(panel, "2015-01-03", 4, 1)
    a = PooledGBM(augment=extra, **kw).predict(panel, [1, 3])
    b = PooledGBM(augment=extra2, **kw).predict(panel, [1, 3])
    assert np.array_equal(a, b)
    assert a.shape == (panel.values.shape[1], 2, 23) and (np.diff(a, axis=-1) >= -1e-9).all()
    # on the fourth-root rate scale, 90% widths differ across locations (residual quantiles: one width for all)
    z = (np.maximum(a / (panel.population / 1e5)[:, None, None], 0) + 0.01) ** 0.25
    assert np.ptp(z[:, 0, 20] - z[:, 0, 2]) > 1e-3
    with pytest.raises(ValueError):
        PooledGBM(quantile_levels=(0.1, 0.9))


def _regime_panel(seed: int = 0, T: int = 160, L: int = 30) -> Panel:
    """Weekly changes on the fourth-root scale whose noise is 10x larger after a rise than after a fall."""
    rng = np.random.default_rng(seed)
    z = np.empty((T, L))
    z[0], z[1] = 1.5, 1.5 + rng.normal(0, 0.05, L)
    for t in range(2, T):
        rising = z[t - 1] - z[t - 2] > 0
        z[t] = np.clip(z[t - 1] + rng.normal(0, np.where(rising, 0.2, 0.02)), 0.5, 3.0)
    rate = z ** 4 - 0.3
    dates = pd.date_range("2020-01-04", periods=T, freq="7D")
    return Panel(dates, tuple(f"L{i}" for i in range(L)), rate * 10.0, np.full(L, 1e6))


def test_residual_quantiles_by_growth_regime() -> None:
    """resid_regimes=2: a location whose latest change is a rise gets the wide intervals of the rising rows, one
    that fell the narrow ones; resid_regimes=1 (the default) is one width for all and equals the default model."""
    from equicare.forecast.models import PooledAR

    p = _regime_panel()
    z = (np.maximum(p.values, 0) / (p.population / 1e5)[None, :] + 0.3) ** 0.25
    rising = z[-1] - z[-2] > 0
    assert rising.any() and (~rising).any()

    def widths(model):
        q = model.predict(p, [1])[:, 0, :]
        zq = (np.maximum(q / (p.population / 1e5)[:, None], 0) + 0.3) ** 0.25
        return zq[:, 16] - zq[:, 6]  # the 50% interval (the 95% one is cut at zero in some locations)

    w1, w2 = widths(PooledAR(resid_regimes=1)), widths(PooledAR(resid_regimes=2))
    assert np.array_equal(PooledAR().predict(p, [1, 2]), PooledAR(resid_regimes=1).predict(p, [1, 2]))
    inner = (z[-1] > 0.9) & (z[-1] < 2.6)  # away from the clip bounds, where the back-transform is regular
    assert np.ptp(w1[inner]) < 1e-6  # one residual distribution: the same width on the z scale
    assert w2[rising & inner].min() > 3 * w2[~rising & inner].max()
    with pytest.raises(ValueError, match="resid_regimes"):
        PooledAR(resid_regimes=0)


def test_growth_regimes_by_hand() -> None:
    """Terciles of every observed weekly change (fourth-root scale) of the last weeks; each location's latest change
    placed among them; a location with fewer than two weeks is flat (the middle regime)."""
    from equicare.forecast.models.ensemble import growth_regimes

    z = np.array([[1.0, 1.0, 1.0, 1.0],
                  [1.1, 0.9, 1.0, np.nan],
                  [1.3, 0.8, 1.01, np.nan],
                  [1.6, 0.7, 1.02, 2.0]])
    rate = z ** 4 - 0.01
    p = Panel(pd.date_range("2024-01-06", periods=4, freq="7D"), ("a", "b", "c", "d"), rate * 10.0,
              np.full(4, 1e6))
    ch = np.diff(z, axis=0)
    cuts = np.quantile(ch[np.isfinite(ch)], [1 / 3, 2 / 3])
    # changes -0.1 x3 (b), 0, 0.01, 0.01 (c), 0.1, 0.2, 0.3 (a); d has no two observed weeks in a row
    assert cuts == pytest.approx([-0.1 + (2 / 3) * 0.1, 0.01 + (1 / 3) * 0.09])
    # a: +0.3 (rising), b: -0.1 (falling), c: +0.01 (flat), d: 2.0 - 1.0 carried = +1.0 (rising)
    assert growth_regimes(p).tolist() == [2, 0, 1, 2]
    assert growth_regimes(Panel(p.dates[:1], p.locations, p.values[:1], p.population)).tolist() == [1, 1, 1, 1]


def test_regime_spread_rescales_each_location_around_its_median(panel: Panel) -> None:
    """The default ensemble = the same ensemble without the regime spread, except that each location's quantiles
    are moved away from (or towards) the median on the root scale by the multiplier of its growth regime."""
    from equicare.forecast.models import QuantileEnsemble
    from equicare.forecast.models.ensemble import AUGMENTED_REGIME_SPREAD, ROOT_OFFSET, growth_regimes

    extra, _ = _extra_pair(panel, "2015-01-03", 4, 1)
    on = QuantileEnsemble(augment=extra).predict(panel, [1, 2])
    off = QuantileEnsemble(augment=extra, regime_spread=(1.0, 1.0, 1.0)).predict(panel, [1, 2])
    assert np.array_equal(on[:, :, 11], off[:, :, 11])  # medians unchanged
    scale = (panel.population / 1e5)[:, None, None]
    zon, zoff = ((on / scale + ROOT_OFFSET) ** 0.25), ((off / scale + ROOT_OFFSET) ** 0.25)
    m = np.asarray(AUGMENTED_REGIME_SPREAD)[growth_regimes(panel)]
    hi_on, hi_off = zon[:, :, 21] - zon[:, :, 11], zoff[:, :, 21] - zoff[:, :, 11]
    ok = hi_off > 1e-6
    assert ok.sum() > 20
    assert np.allclose((hi_on / np.where(ok, hi_off, 1.0))[ok], np.broadcast_to(m[:, None], ok.shape)[ok], rtol=1e-6)
    assert len(set(growth_regimes(panel).tolist())) == 3
    with pytest.raises(ValueError, match="regime_spread"):
        QuantileEnsemble(augment=extra, regime_spread=(1.0,))
