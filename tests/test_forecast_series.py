"""Forecasting any count series: ids as written, daily/weekly/monthly grids, the information rule, scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equicare.errors import EquicareError, ValidationError
from equicare.forecast.series import (backtest_counts, detect_frequency, forecast_counts, load_counts,
                                      score_counts)


def _series(freq: str, n: int = 60, ids=("D001", "D002", "007"), seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if freq == "monthly":
        dates = pd.date_range("2018-01-31", periods=n, freq="ME")
    else:
        dates = pd.date_range("2023-01-07", periods=n, freq={"daily": "D", "weekly": "7D"}[freq])
    rows = [(d.strftime("%Y-%m-%d"), i, str(rng.poisson(20 + 10 * k))) for d in dates for k, i in enumerate(ids)]
    return pd.DataFrame(rows, columns=["day", "district", "cases"])


@pytest.mark.parametrize("freq", ["daily", "weekly", "monthly"])
def test_any_frequency_and_ids(freq: str) -> None:
    s = load_counts(_series(freq), region="district", date="day", value="cases", file="c.csv")
    assert s.freq == freq
    fc = forecast_counts(s, model="flat_baseline", horizons=(0, 1, 2))
    assert set(fc["location"]) == {"D001", "D002", "007"}  # ids exactly as written
    last = s.frame["date"].max()
    assert fc["reference_date"].iloc[0] == s.step(last, 1).strftime("%Y-%m-%d")
    ends = sorted(fc["target_end_date"].unique())
    assert ends == [s.step(last, k).strftime("%Y-%m-%d") for k in (1, 2, 3)]
    q = fc.pivot_table(index=["location", "horizon"], columns="output_type_id", values="value").to_numpy()
    assert (np.diff(q, axis=1) >= -1e-9).all() and (q >= 0).all()


def test_month_ends_stay_month_ends() -> None:
    s = load_counts(_series("monthly", 14), region="district", date="day", value="cases", file="c.csv")
    fc = forecast_counts(s, model="flat_baseline", horizons=(0, 1))
    assert sorted(fc["target_end_date"].unique()) == ["2019-03-31", "2019-04-30"]


@settings(max_examples=15, deadline=None)
@given(extra=st.integers(1, 8), seed=st.integers(0, 10_000))
def test_information_rule_future_rows_change_nothing(extra: int, seed: int) -> None:
    """A forecast at a reference date is the same whatever is observed on or after it."""
    base = _series("weekly", 40, seed=seed)
    more = _series("weekly", 40 + extra, seed=seed + 1)
    more = pd.concat([base, more.iloc[len(base):]], ignore_index=True)  # same past, different future
    s1 = load_counts(base, region="district", date="day", value="cases", file="a.csv")
    s2 = load_counts(more, region="district", date="day", value="cases", file="b.csv")
    ref = s1.step(s1.frame["date"].max(), 1)
    a = forecast_counts(s1, ref, model="pooled_ar")
    b = forecast_counts(s2, ref, model="pooled_ar")
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_backtest_scores_against_hand_wis() -> None:
    s = load_counts(_series("weekly", 50), region="district", date="day", value="cases", file="c.csv")
    fc = backtest_counts(s, holdout=3, model="flat_baseline", horizons=(0, 1))
    assert fc["reference_date"].nunique() == 3
    sc = score_counts(s, fc, (0, 1))
    # hand-computed WIS: twice the mean pinball loss over the 23 levels, averaged over tasks
    obs = s.frame.assign(target_end_date=s.frame["date"].dt.strftime("%Y-%m-%d"))
    m = fc.merge(obs, on=["target_end_date", "location"], suffixes=("", "_obs"))
    tau = m["output_type_id"].to_numpy()
    pin = (m["value_obs"] - m["value"]) * (tau - (m["value_obs"] < m["value"]))
    hand = 2 * pin.groupby([m["reference_date"], m["location"], m["horizon"]]).mean().mean()
    assert sc["wis"] == pytest.approx(hand)
    assert sc["n_tasks"] == 3 * 3 * 2


def test_bad_rows_are_named() -> None:
    df = _series("weekly", 10)
    df.loc[3, "cases"] = "many"
    df.loc[5, "cases"] = "-2"
    df.loc[7, "day"] = "2023-13-45"
    with pytest.raises(ValidationError) as e:
        load_counts(df, region="district", date="day", value="cases", file="c.csv")
    text = str(e.value)
    assert "c.csv, row 5, column 'cases': not a number" in text
    assert "c.csv, row 7, column 'cases': negative count" in text
    assert "c.csv, row 9, column 'day': not a date" in text


def test_off_grid_dates_and_unknown_frequency() -> None:
    df = _series("weekly", 10)
    df.loc[4, "day"] = "2023-02-08"
    with pytest.raises(ValidationError, match="row 6, column 'day': not on the weekly grid"):
        load_counts(df, region="district", date="day", value="cases", file="c.csv")
    with pytest.raises(EquicareError, match="3 days apart"):
        detect_frequency(pd.Series(pd.to_datetime(["2024-01-01", "2024-01-04", "2024-01-07"])))


def test_rates_with_population() -> None:
    s = load_counts(_series("weekly", 60), region="district", date="day", value="cases", file="c.csv")
    fc = forecast_counts(s, model="pooled_ar", population={"D001": 5e4, "D002": 2e5, "007": 1e6})
    assert fc["value"].notna().all()
    with pytest.raises(EquicareError, match="no population"):
        forecast_counts(s, model="pooled_ar", population={"D001": 5e4})


def test_forecast_command_takes_any_series(tmp_path) -> None:
    from typer.testing import CliRunner

    from equicare.cli import app

    _series("monthly", 30).to_csv(tmp_path / "m.csv", index=False)
    r = CliRunner().invoke(app, ["forecast", "--series", str(tmp_path / "m.csv"), "--region", "District",
                                 "--date", "day", "--value", "cases", "--model", "flat_baseline", "--horizons", "2",
                                 "--out", str(tmp_path / "f.csv")])
    assert r.exit_code == 0, r.output
    f = pd.read_csv(tmp_path / "f.csv", dtype={"location": str})
    assert set(f["location"]) == {"D001", "D002", "007"} and f["horizon"].max() == 1
    assert f["target"].iloc[0] == "mth inc cases"


@pytest.mark.parametrize("freq", ["daily", "weekly", "monthly"])
def test_backtest_scores_any_frequency_and_digit_ids(freq: str) -> None:
    """Daily and monthly series are back-tested and scored on their own steps (not the hub's 7-day rule), and
    digit ids such as '1' stay as written (no FluSight 2-digit padding), against a hand-computed WIS."""
    s = load_counts(_series(freq, 50, ids=("1", "007", "D3")), region="district", date="day", value="cases",
                    file="c.csv")
    fc = backtest_counts(s, holdout=3, model="flat_baseline", horizons=(0, 1, 2))
    sc = score_counts(s, fc, (0, 1, 2))
    obs = s.frame.assign(target_end_date=s.frame["date"].dt.strftime("%Y-%m-%d"))
    m = fc.merge(obs, on=["target_end_date", "location"], suffixes=("", "_obs"))
    tau = m["output_type_id"].to_numpy()
    pin = (m["value_obs"] - m["value"]) * (tau - (m["value_obs"] < m["value"]))
    hand = 2 * pin.groupby([m["reference_date"], m["location"], m["horizon"]]).mean().mean()
    assert sc["n_tasks"] == 3 * 3 * 3
    assert sc["wis"] == pytest.approx(hand)
