"""Reporting gaps (issue 11, item 11): a location whose last value is weeks older than the others is forecast from
its own last observed week, with the horizon counted from there, and the output says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from equicare.forecast import forecast

DATES = pd.date_range("2023-01-07", periods=70, freq="7D")
REF = DATES[-1] + pd.Timedelta(weeks=1)
GAP = 7
FAST_MODELS = ["flat_baseline", "seasonal_naive", "linear", "pooled_ar", "damped_trend"]


def _truth(gap: int = GAP) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    walk = np.clip(60 + np.cumsum(rng.normal(0, 4, len(DATES))), 5, None).round()
    rows = []
    for loc, series in (("01", walk), ("02", walk), ("04", (walk * 1.5).round())):
        for d, v in zip(DATES, series):
            if loc == "02" and d > DATES[-1 - gap]:
                continue  # location 02 stopped reporting `gap` weeks before the others
            rows.append({"date": d, "location": loc, "location_name": loc, "value": float(v),
                         "weekly_rate": float(v) / 10})
    return pd.DataFrame(rows)


def _interval(f: pd.DataFrame, loc: str, h: int, lo: float = 0.025, hi: float = 0.975) -> tuple[float, float]:
    g = f[(f["location"] == loc) & (f["horizon"] == h)].set_index("output_type_id")["value"]
    return float(g[lo]), float(g[hi])


def test_flat_baseline_interval_widens_with_the_gap():
    f = forecast(_truth(), REF, model="flat_baseline")
    cur_lo, cur_hi = _interval(f, "01", 0, 0.25, 0.75)
    old_lo, old_hi = _interval(f, "02", 0, 0.25, 0.75)
    assert old_hi - old_lo > cur_hi - cur_lo
    cur_lo, cur_hi = _interval(f, "01", 0)
    old_lo, old_hi = _interval(f, "02", 0)
    assert old_hi - old_lo > cur_hi - cur_lo
    # location 02 is forecast from its last value, not from the others' latest week
    last02 = _truth().query("location == '02'")["value"].iloc[-1]
    assert _interval(f, "02", 0, 0.5, 0.5)[0] == pytest.approx(last02)


def test_without_a_gap_both_series_get_the_same_interval():
    f = forecast(_truth(gap=0), REF, model="flat_baseline")
    assert _interval(f, "01", 0) == _interval(f, "02", 0)
    assert f.attrs["notes"] == []


@pytest.mark.parametrize("model", FAST_MODELS)
def test_every_model_forecasts_from_the_last_observed_week(model):
    """Reference: the same model run at the location's own last week, at horizons counted from there."""
    truth = _truth()
    f = forecast(truth, REF, model=model)
    last = DATES[-1 - GAP]
    ref_own = last + pd.Timedelta(weeks=1)
    own = forecast(truth[truth["date"] <= last], ref_own, model=model, horizons=tuple(h + GAP for h in range(4)))
    for h in range(4):
        got = f[(f["location"] == "02") & (f["horizon"] == h)]["value"].to_numpy()
        want = own[(own["location"] == "02") & (own["horizon"] == h + GAP)]["value"].to_numpy()
        np.testing.assert_allclose(got, want)
    assert f.attrs["weeks_since_last_observation"] == {"02": GAP}
    assert any("location 02" in n and f"{GAP} weeks older" in n for n in f.attrs["notes"])


def test_the_command_says_so(tmp_path, run_cli):
    p = tmp_path / "t.csv"
    _truth().assign(date=lambda d: d["date"].dt.strftime("%Y-%m-%d")).to_csv(p, index=False)
    code, out, err = run_cli("forecast", "--truth", p, "--reference-date", REF.strftime("%Y-%m-%d"),
                             "--out", tmp_path / "f.csv", "--model", "flat_baseline", "--no-extras")
    assert code == 0, err
    assert "note: location 02: last observed week" in err and "7 weeks older" in err
