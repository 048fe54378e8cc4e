"""`equicare backtest --series` and `equicare score --series`: a planner's own count series back-tested and scored
from the command line, checked against a hand count of the written forecasts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from equicare.forecast.models.base import Q
from cli_run import cli as _cli


def _series(path: Path) -> pd.DataFrame:
    """Weekly counts of three regions with text ids ('007', 'NA' = Namibia, 'KE-047') and one blank value."""
    rng = np.random.default_rng(5)
    dates = pd.date_range("2023-01-02", periods=40, freq="7D")
    rows = [(reg, d.strftime("%Y-%m-%d"), str(int(v))) for reg, lam in (("007", 5), ("NA", 20), ("KE-047", 60))
            for d, v in zip(dates, rng.poisson(lam, len(dates)))]
    df = pd.DataFrame(rows, columns=["District", "Week", "Cases"])
    df.loc[5, "Cases"] = ""
    df.to_csv(path, index=False)
    return df


def _hand_score(fc: pd.DataFrame, obs: pd.DataFrame) -> tuple[int, float, float]:
    """(tasks, 95% coverage, mean |median - y|) counted from the written rows and the series file."""
    y = obs[obs["Cases"] != ""].assign(y=lambda d: d["Cases"].astype(float))
    y = y.set_index(["District", "Week"])["y"]
    wide = fc.pivot_table(index=["reference_date", "location", "horizon", "target_end_date"],
                          columns="output_type_id", values="value").reset_index()
    wide["y"] = [y.get((loc, end), np.nan) for loc, end in zip(wide["location"], wide["target_end_date"])]
    wide = wide.dropna(subset=["y"])
    lo, hi, med = wide[0.025], wide[0.975], wide[0.5]
    cov = float(((lo <= wide["y"]) & (wide["y"] <= hi)).mean())
    return len(wide), cov, float((med - wide["y"]).abs().mean())


def test_backtest_and_score_a_series_from_the_command_line(tmp_path, capsys):
    obs = _series(tmp_path / "cases.csv")
    f, g = tmp_path / "bt.csv", tmp_path / "flat.csv"
    code, out = _cli(["backtest", "--series", tmp_path / "cases.csv", "--region", "district", "--date", "week",
                      "--value", "cases", "--holdout", 6, "--horizons", 3, "--out", f], capsys)
    assert code == 0, out
    assert "1 blank value" in out and "not reported" in out
    fc = pd.read_csv(f, dtype={"location": str}, keep_default_na=False)
    assert set(fc["location"]) == {"007", "NA", "KE-047"} and set(fc["horizon"]) == {0, 1, 2}
    last = pd.Timestamp("2023-01-02") + pd.Timedelta(weeks=39)
    refs = sorted(pd.to_datetime(fc["reference_date"].unique()))
    # the last 6 reference dates whose every horizon (0..2) is observed: the latest ends at the last week
    assert len(refs) == 6 and refs[-1] == last - pd.Timedelta(weeks=2)
    assert np.allclose(sorted(fc["output_type_id"].unique()), Q)
    code, out = _cli(["score", "--series", tmp_path / "cases.csv", "--region", "District", "--date", "Week",
                      "--value", "Cases", "--forecasts", f], capsys)
    assert code == 0, out
    n, cov, ae = _hand_score(fc, obs)
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("all"))
    assert int(row[1]) == n and float(row[3]) == pytest.approx(ae, abs=0.006)
    assert float(row[5]) == pytest.approx(cov, abs=0.0006)
    code, out = _cli(["backtest", "--series", tmp_path / "cases.csv", "--region", "district", "--date", "week",
                      "--value", "cases", "--holdout", 6, "--horizons", 3, "--model", "flat_baseline",
                      "--integer", "--out", g], capsys)
    assert code == 0, out
    flat = pd.read_csv(g)
    assert (flat["value"] == flat["value"].round()).all()
    code, out = _cli(["score", "--series", tmp_path / "cases.csv", "--region", "district", "--date", "week",
                      "--value", "cases", "--forecasts", f, "--versus", g], capsys)
    assert code == 0, out
    head = out.splitlines()[0].split()
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("all"))
    assert "ratio" in head[-1] and float(row[-1]) == pytest.approx(float(row[2]) / float(row[-2]), abs=0.002)


@pytest.mark.parametrize("argv,says", [
    (["backtest", "--start", "2023-06-03"], "--start is for the US flu truth"),
    (["backtest", "--vintages", "v.csv"], "--vintages is for the US flu truth"),
    (["score", "--truth", "t.csv"], "--truth is for the US flu truth"),
])
def test_series_refuses_flu_only_options(tmp_path, capsys, argv, says):
    _series(tmp_path / "cases.csv")
    out_csv = tmp_path / "o.csv"
    extra = ["--out", out_csv] if argv[0] == "backtest" else ["--forecasts", out_csv]
    code, out = _cli([argv[0], "--series", tmp_path / "cases.csv", "--region", "District", "--date", "Week",
                      "--value", "Cases", *extra, *argv[1:]], capsys)
    assert code == 2 and says in out and "Traceback" not in out, out
    assert argv[0] == "score" or not out_csv.exists()


def test_flu_backtest_needs_its_dates_and_no_holdout(tmp_path, capsys):
    code, out = _cli(["backtest", "--out", tmp_path / "o.csv"], capsys)
    assert code == 2 and "--start and --end are required" in out
    code, out = _cli(["backtest", "--start", "2024-01-06", "--end", "2024-01-06", "--holdout", 4,
                      "--out", tmp_path / "o.csv"], capsys)
    assert code == 2 and "--holdout is for --series" in out


def test_scoring_flu_forecasts_against_a_series_is_a_clear_error(tmp_path, capsys):
    _series(tmp_path / "cases.csv")
    flu = tmp_path / "flu.csv"
    pd.DataFrame({"reference_date": ["2024-01-06"] * 23, "horizon": 0, "target": "wk inc flu hosp",
                  "target_end_date": "2024-01-06", "location": "06", "output_type": "quantile",
                  "output_type_id": Q, "value": np.arange(23.0)}).to_csv(flu, index=False)
    code, out = _cli(["score", "--series", tmp_path / "cases.csv", "--region", "District", "--date", "Week",
                      "--value", "Cases", "--forecasts", flu], capsys)
    assert code == 2 and "Traceback" not in out
    assert "no quantile rows of target 'wk inc cases'" in out and "wk inc flu hosp" in out


def test_series_dates_written_day_first_need_their_format(tmp_path, capsys):
    """The same series with dates written 31/12/2023: back-test and score with --date-format give the ISO file's
    rows and scores; without it, an error naming the file, row and column."""
    iso = _series(tmp_path / "iso.csv")
    dmy = iso.assign(Week=pd.to_datetime(iso["Week"]).dt.strftime("%d/%m/%Y"))
    dmy.to_csv(tmp_path / "dmy.csv", index=False)
    cols = ["--region", "District", "--date", "Week", "--value", "Cases"]
    outs = {}
    for name, fmt in (("iso", []), ("dmy", ["--date-format", "%d/%m/%Y"])):
        code, out = _cli(["backtest", "--series", tmp_path / f"{name}.csv", *cols, *fmt, "--holdout", 3,
                          "--model", "flat_baseline", "--out", tmp_path / f"{name}-bt.csv"], capsys)
        assert code == 0, out
        code, out = _cli(["score", "--series", tmp_path / f"{name}.csv", *cols, *fmt,
                          "--forecasts", tmp_path / f"{name}-bt.csv"], capsys)
        assert code == 0, out
        outs[name] = out
    assert (tmp_path / "iso-bt.csv").read_text() == (tmp_path / "dmy-bt.csv").read_text()
    assert outs["iso"].replace("iso.csv", "F") == outs["dmy"].replace("dmy.csv", "F")  # the blank-value note names the file
    code, out = _cli(["backtest", "--series", tmp_path / "dmy.csv", *cols, "--out", tmp_path / "x.csv"], capsys)
    assert code == 2 and "dmy.csv" in out and "row 2" in out and "Week" in out and "Traceback" not in out, out
    assert not (tmp_path / "x.csv").exists()
