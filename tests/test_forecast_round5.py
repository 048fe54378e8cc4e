"""Round 5 (issue 15): missing weeks from a model of the gap, the adaptive conformal spread, and the information rule
for both: hand-worked cases and a test that data published after R - 3 change nothing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from equicare.errors import EquicareError
from equicare.forecast import backtest, forecast
from equicare.forecast.calibration import (AdaptiveSpread, PastForecast, conformal_factor, conformity_scores,
                                           past_scores)
from equicare.forecast.gaps import gaps, impute_missing, recentre_root, sqrt_factor, widen_root
from equicare.forecast.models import MODELS
from equicare.forecast.run import predict_cut
from equicare.forecast.truth import Panel
from equicare.forecast.vintages import Vintages

WEEKS = pd.date_range("2023-01-07", periods=40, freq="7D")
LOCS = ("01", "02", "04")


def _final(week: int, loc: str) -> float:
    base = {"01": 40.0, "02": 10.0, "04": 70.0}[loc]
    return float(round(base * (1.5 + np.sin(week / 5.0))))


def _vintages(holiday: int | None = None) -> pd.DataFrame:
    """A version every Wednesday with the week just ended (0.9 x final) and the revision of the week before; with
    ``holiday=k`` the release of week ``k`` comes on Thursday instead (after the deadline of ``WEEKS[k] + 7``)."""
    rows = []
    for k, sat in enumerate(WEEKS):
        day = sat + pd.Timedelta(days=5 if k == holiday else 4)
        for loc in LOCS:
            rows.append((day, sat, loc, round(0.9 * _final(k, loc))))
            if k > 0:
                rows.append((sat + pd.Timedelta(days=4), WEEKS[k - 1], loc, _final(k - 1, loc)))
    return pd.DataFrame(rows, columns=["as_of", "date", "location", "value"])


def _panel(values: np.ndarray, pop: float = 1e5) -> Panel:
    dates = pd.date_range("2024-01-06", periods=values.shape[0], freq="7D")
    locs = tuple(f"{i + 1:02d}" for i in range(values.shape[1]))
    return Panel(dates, locs, np.asarray(values, float), np.full(values.shape[1], pop))


# ---------------------------------------------------------------- missing weeks

def test_imputation_by_hand():
    """Flat baseline as the imputer: its median is the last value, so a one-week gap is filled with the last
    value and a two-week gap with it twice; a three-week gap is not filled (carried)."""
    n = np.nan
    v = np.array([[10, 20, 30, 40], [11, 21, 31, 41], [12, 22, 32, 42], [13, n, 33, 43], [14, n, 34, n],
                  [15, n, n, n]], float)
    cut = _panel(v)
    assert gaps(cut).tolist() == [0, 3, 1, 2]
    filled_panel, filled = impute_missing(cut, MODELS["flat_baseline"]())
    assert filled.tolist() == [False, False, True, True]
    assert filled_panel.values[5, 2] == 34.0
    np.testing.assert_array_equal(filled_panel.values[4:, 3], [43.0, 43.0])
    assert np.isnan(filled_panel.values[3:, 1]).all()  # three weeks: left to "carry"
    np.testing.assert_array_equal(filled_panel.values[:, 0], v[:, 0])


def test_widen_and_recentre_by_hand():
    """Population 10^5 (rate = count): z = (q + 0.01)^(1/4). Quantiles with z = 1 + 0.01 (i - 11) stretched by 2
    have z = 1 + 0.02 (i - 11); recentring moves the median's z and keeps the offsets."""
    i = np.arange(23)
    z = 1 + 0.01 * (i - 11)
    q = (z ** 4 - 0.01)[None, None, :]
    out = widen_root(q, np.array([[2.0]]), np.array([1e5]))
    np.testing.assert_allclose(out[0, 0], (1 + 0.02 * (i - 11)) ** 4 - 0.01)
    other = ((z + 0.5) ** 4 - 0.01)[None, None, :]
    rec = recentre_root(other, q, np.array([1e5]))
    np.testing.assert_allclose(rec[0, 0], ((1.5 + 0.01 * (i - 11)) ** 4 - 0.01))
    zero = q.copy()
    zero[..., :3] = 0.0
    assert (widen_root(zero, np.array([[1.5]]), np.array([1e5]))[..., :3] == 0).all()  # zero stays zero
    np.testing.assert_allclose(sqrt_factor(np.array([1, 2]), (0, 3)),
                               [[math.sqrt(2), math.sqrt(5 / 4)], [math.sqrt(3), math.sqrt(6 / 4)]])


def test_model_sqrt_forecast_is_the_imputed_forecast_widened():
    """A location missing its latest week: with model-sqrt its forecast is the model's forecast from the panel
    filled by the imputer, widened by sqrt((1 + h + 1) / (h + 1)); other locations are the carry forecast."""
    rng = np.random.default_rng(3)
    v = np.round(50 + np.cumsum(rng.normal(0, 3, (30, 3)), axis=0))
    v[-1, 1] = np.nan
    cut = _panel(v)
    flat = MODELS["flat_baseline"]()
    hz = (0, 1, 2, 3)
    carry, gap, none = predict_cut(flat, cut, hz, "carry")
    got, gap2, filled = predict_cut(flat, cut, hz, "model-sqrt", imputer=flat)
    assert gap.tolist() == [0, 1, 0] and filled.tolist() == [False, True, False] and not none.any()
    np.testing.assert_array_equal(got[[0, 2]], carry[[0, 2]])
    fp, _ = impute_missing(cut, flat)
    ref = np.sort(np.maximum(flat.predict(fp, [1, 2, 3, 4]), 0), axis=-1)[[1]]
    np.testing.assert_allclose(got[[1]], widen_root(ref, sqrt_factor(np.array([1]), hz), cut.population[[1]]))
    assert got[1, 0, 11] == pytest.approx(v[-2, 1])  # flat: imputed = last value, forecast median = it
    mc, _, _ = predict_cut(flat, cut, hz, "model-carry", imputer=flat)
    np.testing.assert_allclose(mc[[1]], recentre_root(ref, carry[[1]], cut.population[[1]]))
    with pytest.raises(EquicareError, match="missing weeks must be one of"):
        predict_cut(flat, cut, hz, "impute")


def test_holiday_week_is_forecast_from_imputed_weeks_and_said():
    """The release of week R - 7 came on Thursday: under the strict Wednesday rule (late_days=0) every location
    has a one-week gap at R - 3; by default that late release is used (no gap, nothing imputed)."""
    df = _vintages(holiday=25)
    ref = WEEKS[26]
    strict = Vintages(df, late_days=0)
    f = forecast(None, ref, model="pooled_ar", vintages=strict, missing_weeks="model-sqrt")
    assert f.attrs["weeks_since_last_observation"] == {loc: 1 for loc in LOCS}
    assert sum("imputed by the pooled AR" in n for n in f.attrs["notes"]) == 3
    c = forecast(None, ref, model="pooled_ar", vintages=strict, missing_weeks="carry")
    assert not np.allclose(f["value"], c["value"])
    d = forecast(None, ref, model="pooled_ar", vintages=Vintages(df), missing_weeks="model-sqrt")
    assert not any(d.attrs.get("weeks_since_last_observation", {}).values())
    assert not any("imputed" in n for n in d.attrs["notes"])


# ---------------------------------------------------------------- adaptive spread

def test_conformity_scores_and_factor_by_hand():
    i = np.arange(23)
    z = 1 + 0.01 * (i - 11)  # z_0.975 - z_0.5 = z_0.5 - z_0.025 = 0.10
    q = np.tile(z ** 4 - 0.01, (4, 1))
    y = np.array([1.05, 0.80, 1.00, 1.20]) ** 4 - 0.01
    r = conformity_scores(q, y, np.ones(4))
    np.testing.assert_allclose(r, [0.5, 2.0, 0.0, 2.0], atol=1e-9)
    flat = np.tile(np.full(23, 1.0 ** 4 - 0.01), (2, 1))  # zero width: off the median -> 10, at it -> 0
    np.testing.assert_allclose(conformity_scores(flat, np.array([5.0, 0.99]), np.ones(2)), [10.0, 0.0])
    s = AdaptiveSpread(window=4, bounds=(0.1, 200.0))
    scores = np.arange(1, 101, dtype=float)[::-1]
    assert conformal_factor(scores, s) == 96.0  # ceil(0.95 * 101) = 96th smallest
    assert conformal_factor(scores, AdaptiveSpread(bounds=(0.7, 2.5))) == 2.5
    assert conformal_factor(scores[:49], s) == 1.0  # fewer than 50 tasks
    assert AdaptiveSpread.parse("8:widen") == AdaptiveSpread(8, (1.0, 2.5))
    assert AdaptiveSpread.parse("off") is None
    with pytest.raises(EquicareError, match="WEEKS:both"):
        AdaptiveSpread.parse("eight")


def test_past_scores_use_only_targets_known_at_r():
    """Forecasts in the window whose target is after R - 7 (not yet known) are not scored; nor are older ones."""
    v = np.full((10, 1), 100.0)
    known = _panel(v)  # weeks 2024-01-06 .. 2024-03-09 (R - 7)
    ref = known.dates[-1] + pd.Timedelta(weeks=1)
    i = np.arange(23)
    q = ((1 + 0.1 * (i - 11)) ** 4 - 0.01)[None, None, :] * np.ones((1, 4, 1))
    past = [PastForecast(ref - pd.Timedelta(weeks=w), ("01",), (0, 1, 2, 3), q) for w in (1, 2, 3, 9)]
    r = past_scores(past, known, ref, window=4)
    # R-1w: h0 targets R-7 (known), h1.. later; R-2w: h0, h1; R-3w: h0, h1, h2; R-9w: outside the window
    assert len(r) == 1 + 2 + 3


def _adaptive_vintages() -> pd.DataFrame:
    df = _vintages(holiday=22)
    rng = np.random.default_rng(5)
    return df.assign(value=(df["value"] * rng.uniform(0.7, 1.3, len(df))).round())


def test_adaptive_information_rule_and_backtest_agree_with_forecast():
    """With the adaptive spread and the missing-weeks model on: changing every row published after R - 3 changes
    nothing for R (forecast and the back-test's row for R), and a back-test started >= window weeks earlier gives
    forecast()'s values for R."""
    df = _adaptive_vintages()
    ref = WEEKS[30]
    cutoff = ref - pd.Timedelta(days=3)
    late = df["as_of"] > cutoff
    changed = df.copy()
    changed.loc[late, "value"] = changed.loc[late, "value"] * 3 + 7
    kw = dict(model="pooled_ar", missing_weeks="model-sqrt", adaptive=AdaptiveSpread(window=4, min_tasks=5))
    a = forecast(None, ref, vintages=Vintages(df), **kw)
    b = forecast(None, ref, vintages=Vintages(changed), **kw)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["spread_factor"] != 1.0 and a.attrs["spread_factor"] == b.attrs["spread_factor"]
    bt = backtest(None, WEEKS[24], ref, vintages=Vintages(changed), **kw)
    last = bt[bt["reference_date"] == ref.strftime("%Y-%m-%d")].reset_index(drop=True)
    pd.testing.assert_frame_equal(last, a.reset_index(drop=True), check_like=True)
    off = forecast(None, ref, vintages=Vintages(df), model="pooled_ar", missing_weeks="model-sqrt")
    assert not np.allclose(off["value"], a["value"])


def test_cli_round5_options_are_checked(run_cli, tmp_path):
    """`--missing-weeks` and `--adaptive-spread` reach the forecaster; a bad value is a user error (exit 2)."""
    for opt, bad, word in (("--missing-weeks", "bogus", "missing weeks"),
                           ("--adaptive-spread", "9:sideways", "adaptive spread")):
        code, out, err = run_cli("forecast", "--reference-date", "2024-01-06", "--out", tmp_path / "f.csv", opt, bad)
        assert code == 2, err
        assert word in err and "Traceback" not in err
        assert not (tmp_path / "f.csv").exists()
