"""Forecast stage: truth loading, hubverse output, information rule, WIS scoring, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from equicare.errors import EquicareError, ValidationError
from equicare.forecast import (COLUMNS, MODELS, QUANTILES, backtest, bundled_path, forecast, load_forecasts,
                               load_truth, score, wis)
from equicare.forecast.hub import quantile_table

BUNDLED = bundled_path("target-hospital-admissions.csv")
FAST_MODELS = ["seasonal_naive", "flat_baseline", "linear", "pooled_ar", "damped_trend"]
ALL_MODELS = FAST_MODELS + ["pooled_gbm", "pooled_gbqr", "ensemble"]


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return load_truth(BUNDLED)


@pytest.fixture(scope="module")
def hub(shared_data: Path) -> dict[str, pd.DataFrame]:
    d = shared_data / "flusight"
    return {"truth": load_truth(d / "target-hospital-admissions.csv"),
            "baseline": load_forecasts(d / "FluSight-baseline-2023-24.csv.gz"),
            "ensemble": load_forecasts(d / "FluSight-ensemble-2023-24.csv.gz"),
            "published": pd.read_csv(d / "published-relative-wis-2023-24.csv")}


# ---------------------------------------------------------------- loading truth

def test_bundled_truth_loads(truth: pd.DataFrame) -> None:
    assert truth["location"].nunique() == 53
    assert {"US", "01", "72", "11"} <= set(truth["location"])
    assert truth["date"].min() == pd.Timestamp("2022-02-05")
    assert truth["date"].max() == pd.Timestamp("2025-06-28")
    assert (truth["date"].dt.day_of_week == 5).all()
    # 53 locations x 178 weeks, minus the 36 weeks Massachusetts, Minnesota and West Virginia did not report in 2024
    assert len(truth) == 53 * 178 - 36


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "t.csv"
    p.write_text("date,location,location_name,value,weekly_rate\n" + body)
    return p


@pytest.mark.parametrize("body,row,column,rule", [
    ("2024-01-06,01,Alabama,5,0.1\n2024-01-13,01,Alabama,-3,0.1\n", 3, "value", "negative"),
    ("2024-01-06,01,Alabama,5,0.1\n2024-01-6x,01,Alabama,3,0.1\n", 3, "date", "YYYY-MM-DD"),
    ("2024-01-05,01,Alabama,5,0.1\n", 2, "date", "Saturday"),
    ("2024-01-06,01,Alabama,five,0.1\n", 2, "value", "not a number"),
    ("2024-01-06,1,Alabama,5,0.1\n2024-01-06,01,Alabama,6,0.1\n", 3, "date", "duplicate"),
    ("2024-01-06,ALA,Alabama,5,0.1\n", 2, "location", "FIPS"),
])
def test_load_truth_rejects_bad_rows(tmp_path: Path, body: str, row: int, column: str, rule: str) -> None:
    with pytest.raises(ValidationError) as exc:
        load_truth(_write(tmp_path, body))
    p = exc.value.problems[0]
    assert (p.file, p.row, p.column) == ("t.csv", row, column)
    assert rule in p.rule
    assert "t.csv, row" in str(exc.value)


def test_load_truth_missing_values(tmp_path: Path) -> None:
    p = _write(tmp_path, "2024-01-06,01,Alabama,5,0.1\n2024-01-13,01,Alabama,,\n2024-01-13,2,Alaska,1,0.1\n")
    t = load_truth(p)
    assert len(t) == 2 and set(t["location"]) == {"01", "02"}
    with pytest.raises(ValidationError) as exc:
        load_truth(p, missing="error")
    assert exc.value.problems[0].row == 3 and exc.value.problems[0].rule == "missing value"


def test_load_truth_missing_column_and_file(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("date,location,count\n2024-01-06,01,5\n")
    with pytest.raises(ValidationError, match="column 'value'"):
        load_truth(p)
    with pytest.raises(EquicareError, match="not found"):
        load_truth(tmp_path / "absent.csv")


# ---------------------------------------------------------------- hubverse output and information rule

def _assert_hubverse(fc: pd.DataFrame) -> None:
    """Every location x horizon 0-3 x the 23 hub levels, dates consistent, values non-negative and monotone."""
    assert list(fc.columns) == list(COLUMNS)
    assert len(fc) == 53 * 4 * 23
    assert (fc["target"] == "wk inc flu hosp").all() and (fc["output_type"] == "quantile").all()
    assert set(fc["horizon"]) == {0, 1, 2, 3}
    end = pd.to_datetime(fc["target_end_date"]) - pd.to_datetime(fc["reference_date"])
    assert (end == pd.to_timedelta(7 * fc["horizon"], unit="D")).all()
    assert np.allclose(fc.groupby(["location", "horizon"])["output_type_id"].apply(list).iloc[0], QUANTILES)
    v = fc["value"].to_numpy().reshape(-1, 23)
    assert (v >= 0).all() and (np.diff(v, axis=1) >= 0).all()


@pytest.mark.parametrize("model", ALL_MODELS)
def test_hubverse_output_and_no_look_ahead(truth: pd.DataFrame, tmp_path: Path, model: str) -> None:
    """The forecast is hubverse; forecasts from a truth file cut at R - 7 equal those from the full file."""
    ref = pd.Timestamp("2023-12-16")
    cut = truth[truth["date"] <= ref - pd.Timedelta(days=7)]
    path = tmp_path / "cut.csv"
    cut.to_csv(path, index=False, date_format="%Y-%m-%d")
    a = forecast(truth, ref, model=model)
    _assert_hubverse(a)
    b = forecast(load_truth(path), ref, model=model)
    pd.testing.assert_frame_equal(a, b)
    # and changing what happens in week R - 7 does change it (the last usable week is used)
    bumped = truth.copy()
    bumped.loc[bumped["date"] == ref - pd.Timedelta(days=7), "value"] *= 3
    c = forecast(bumped, ref, model=model)
    assert not np.allclose(a["value"], c["value"])


def test_locations_and_errors(truth: pd.DataFrame) -> None:
    fc = forecast(truth, "2024-01-06", locations=["06", "36"])
    assert set(fc["location"]) == {"06", "36"}
    full = forecast(truth, "2024-01-06")
    pd.testing.assert_frame_equal(fc, full[full["location"].isin(["06", "36"])].reset_index(drop=True))
    with pytest.raises(EquicareError, match="Saturday"):
        forecast(truth, "2024-01-05")
    with pytest.raises(EquicareError, match="unknown forecast model"):
        forecast(truth, "2024-01-06", model="oracle")
    with pytest.raises(EquicareError, match="no observations"):
        forecast(truth, "2020-01-04")


def test_backtest_dates_and_progress(truth: pd.DataFrame) -> None:
    calls: list[tuple[int, int]] = []
    bt = backtest(truth, "2024-01-06", "2024-01-27", model="linear", progress=lambda d, t: calls.append((d, t)))
    assert sorted(bt["reference_date"].unique()) == ["2024-01-06", "2024-01-13", "2024-01-20", "2024-01-27"]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(EquicareError, match="before start"):
        backtest(truth, "2024-01-27", "2024-01-06")


@settings(max_examples=30, deadline=None)
@given(arrays(float, (3, 2, 23), elements=st.floats(-1e4, 1e4)))
def test_quantile_table_monotone_nonnegative(values: np.ndarray) -> None:
    t = quantile_table(pd.Timestamp("2024-01-06"), ["01", "02", "US"], (0, 2), values)
    v = t["value"].to_numpy().reshape(-1, 23)
    assert (v >= 0).all() and (np.diff(v, axis=1) >= 0).all()
    assert list(t["horizon"].unique()) == [0, 2]


# ---------------------------------------------------------------- scoring

def test_wis_hand_worked() -> None:
    """Three quantiles = median + one 50% interval; Bracher et al. (2021) interval form by hand."""
    levels = (0.25, 0.5, 0.75)
    q = np.array([[4.0, 8.0, 12.0], [4.0, 8.0, 12.0]])
    # y = 10 inside: (0.5*|10-8| + 0.25*(12-4)) / 1.5 = 2
    # y = 20 above:  (0.5*12 + 0.25*(8 + 2/0.5*8)) / 1.5 = 16/1.5
    assert np.allclose(wis(np.array([10.0, 20.0]), q, levels), [2.0, 16 / 1.5])


def test_wis_equals_interval_form() -> None:
    rng = np.random.default_rng(1)
    q = np.sort(rng.gamma(2, 50, size=(200, 23)), axis=1)
    y = rng.gamma(2, 50, size=200)
    lv = np.asarray(QUANTILES)
    alphas = 2 * lv[:11]
    total = 0.5 * np.abs(y - q[:, 11])
    for k, a in enumerate(alphas):
        lo, hi = q[:, k], q[:, 22 - k]
        total += a / 2 * ((hi - lo) + 2 / a * np.maximum(lo - y, 0) + 2 / a * np.maximum(y - hi, 0))
    assert np.allclose(wis(y, q), total / 11.5)


def test_score_tiny_case() -> None:
    truth = pd.DataFrame({"date": pd.to_datetime(["2024-01-13", "2024-01-13", "2024-01-13"]),
                          "location": ["01", "02", "US"], "value": [10.0, 0.0, 99.0]})
    lv = np.asarray(QUANTILES)
    rows = []
    for loc, med in (("01", 10.0), ("02", 4.0), ("US", 50.0)):
        vals = med + 2 * (lv - 0.5) * 10 if loc != "02" else np.full(23, med)
        rows.append(quantile_table(pd.Timestamp("2024-01-13"), [loc], (0,), vals[None, None, :]))
    fc = pd.concat(rows, ignore_index=True)
    r = score(truth, fc)
    assert r["n_tasks"] == 2  # US left out
    # location 02: point forecast 4 vs 0 -> WIS = |4 - 0| (all quantiles equal)
    w01 = wis(np.array([10.0]), np.sort(np.maximum(10 + 2 * (lv - 0.5) * 10, 0))[None, :])[0]
    assert r["wis"] == pytest.approx((w01 + 4.0) / 2)
    assert r["ae_median"] == pytest.approx(2.0)
    assert r["coverage_95"] == pytest.approx(0.5) and r["coverage_50"] == pytest.approx(0.5)
    same = score(truth, fc, versus=fc)
    assert same["wis_ratio"] == pytest.approx(1.0) and same["by_horizon"][0]["wis_ratio"] == pytest.approx(1.0)


def test_hub_ensemble_ratio_reproduced(hub: dict) -> None:
    """Mean WIS ratio of the hub ensemble to the hub baseline on common tasks is 0.74 (issue 4)."""
    r = score(hub["truth"], hub["ensemble"], versus=hub["baseline"])
    assert r["wis_ratio"] == pytest.approx(0.74, abs=0.005)
    assert r["n_tasks"] == 52 * 30 * 4 - 6  # every state x date x horizon with an observation
    pub = hub["published"].set_index("Model")
    ens, base = pub.loc["FluSight-ensemble (ENS)"], pub.loc["FluSight-baseline (STAT)"]
    # published relative WIS ordering: ensemble 0.71 < baseline 1
    assert ens["Relative WIS"] < base["Relative WIS"] and r["wis"] < r["wis_versus"]
    # coverage agrees with the hub's published figures within 3 points (data vintages differ slightly)
    assert r["coverage_50"] == pytest.approx(ens["50% Coverage (%)"] / 100, abs=0.03)
    assert r["coverage_95"] == pytest.approx(ens["95% Coverage (%)"] / 100, abs=0.03)
    assert r["coverage_50_versus"] == pytest.approx(base["50% Coverage (%)"] / 100, abs=0.03)
    assert r["coverage_95_versus"] == pytest.approx(base["95% Coverage (%)"] / 100, abs=0.03)


def test_flat_baseline_replicates_hub_baseline(hub: dict) -> None:
    """Our implementation of the FluSight-baseline method scores like the hub's own baseline forecasts."""
    bt = backtest(hub["truth"], "2023-10-14", "2024-05-04", model="flat_baseline")
    r = score(hub["truth"], bt, versus=hub["baseline"])
    assert r["wis_ratio"] == pytest.approx(1.0, abs=0.05)
    assert r["coverage_95"] == pytest.approx(r["coverage_95_versus"], abs=0.03)


def test_linear_beats_seasonal_naive_on_unseen_weeks(truth: pd.DataFrame) -> None:
    """Foundation demo: both scored on the last weeks of data they did not see."""
    res = {m: score(truth, backtest(truth, "2024-03-02", "2024-06-29", model=m))["wis"]
           for m in ("linear", "seasonal_naive")}
    assert res["linear"] < res["seasonal_naive"]


# ---------------------------------------------------------------- command line

def test_cli_forecast_backtest_score(tmp_path: Path, run_cli) -> None:
    """Through the console entry point, in-process (tests/test_cli.py runs ``python -m equicare`` itself)."""
    f1, f2 = tmp_path / "f.csv", tmp_path / "bt.csv"
    code, _, err = run_cli("forecast", "--truth", BUNDLED, "--reference-date", "2024-01-06", "--out", f1)
    assert code == 0, err
    assert len(load_forecasts(f1)) == 53 * 4 * 23
    code, _, err = run_cli("backtest", "--truth", BUNDLED, "--start", "2024-01-06", "--end", "2024-01-13",
                           "--out", f2, "--model", "seasonal_naive")
    assert code == 0, err
    code, out, err = run_cli("score", "--truth", BUNDLED, "--forecasts", f1, "--versus", f2)
    assert code == 0, err
    table = [ln for ln in out.strip().splitlines() if not ln.startswith("note:")]  # notes: US rows, shared tasks
    assert "WIS ratio" in out and "cov95" in out and table[-1].split()[0] == "all"
    assert "location US is not scored" in out and "208 tasks both sets" in out


def test_cli_errors_are_clean(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("forecast", "--truth", BUNDLED, "--reference-date", "2024-01-05", "--out", tmp_path / "x")
    assert code == 2 and "Saturday" in err and "Traceback" not in err
    bad = _write(tmp_path, "2024-01-06,01,Alabama,-1,0\n")
    code, _, err = run_cli("backtest", "--truth", bad, "--start", "2024-01-13", "--end", "2024-01-13",
                           "--out", tmp_path / "y")
    assert code == 2 and "t.csv, row 2, column 'value'" in err
