"""A third newcomer trial (count-series forecasting, ``forecast/backtest/score --series``): the faults found and
fixed, one test per kind of fault (items of the trial's list in brackets).

Every test builds its own small series (a few regions, tens of weeks), runs the command line as a planner does
(``equicare.cli.main``: exit 2 and a message for a user error), and checks against values worked by hand.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_run import cli as _cli

S = ("--region", "county", "--date", "week_ending", "--value", "admissions")


def _weekly(n: int = 40, regions=("KE-047", "007", "NA"), seed: int = 1) -> pd.DataFrame:
    """Weekly Poisson counts (Saturdays from 2023-01-07), counts as text as a file holds them."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-07", periods=n, freq="7D")
    rows = [(r, d.strftime("%Y-%m-%d"), str(int(v))) for k, r in enumerate(regions)
            for d, v in zip(dates, rng.poisson(10 * (k + 1), n))]
    return pd.DataFrame(rows, columns=["county", "week_ending", "admissions"])


def _write(df: pd.DataFrame, path: Path, **kw) -> Path:
    df.to_csv(path, index=False, **kw)
    return path


# -- 1: a count that is not finite ----------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity"])
def test_non_finite_count_is_refused_with_file_row_column_rule(tmp_path, capsys, cell):
    df = _weekly()
    df.loc[10, "admissions"] = cell
    f = _write(df, tmp_path / "w.csv")
    code, out = _cli(["forecast", "--series", f, *S, "--out", tmp_path / "z.csv"], capsys)
    assert code == 2 and "w.csv, row 12, column 'admissions': not a finite number" in out, out
    assert not (tmp_path / "z.csv").exists()


def test_score_refuses_a_forecast_value_that_is_not_finite(tmp_path, capsys):
    f = _write(_weekly(), tmp_path / "w.csv")
    assert _cli(["backtest", "--series", f, *S, "--holdout", "2", "--model", "flat_baseline",
                 "--out", tmp_path / "bt.csv"], capsys)[0] == 0
    bt = pd.read_csv(tmp_path / "bt.csv", dtype=str)
    bt.loc[5, "value"] = "inf"
    bt.to_csv(tmp_path / "bad.csv", index=False)
    code, out = _cli(["score", "--series", f, *S, "--forecasts", tmp_path / "bad.csv"], capsys)
    assert code == 2 and "bad.csv, row 7, column 'value': must be a finite number >= 0" in out, out


# -- 2: fractional counts, thousands separators -------------------------------------------------------------

def test_fractional_count_is_refused(tmp_path, capsys):
    df = _weekly()
    df.loc[10, "admissions"] = "3.5"
    code, out = _cli(["forecast", "--series", _write(df, tmp_path / "w.csv"), *S, "--out", tmp_path / "z.csv"],
                     capsys)
    assert code == 2 and "row 12, column 'admissions': not a whole number" in out, out
    assert "thousands" not in out  # 3.5 is no thousands separator


def test_dot_thousands_separator_is_named_and_decimal_comma_reads_it(tmp_path, capsys):
    """Chilean file: ';', Windows-1252, '1.443' meaning 1,443 beside '259'."""
    df = _weekly(regions=("Ñuñoa", "Maipú"))
    big = df["county"] == "Ñuñoa"
    df.loc[big, "admissions"] = [f"{1000 + 37 * i:,}".replace(",", ".") for i in range(int(big.sum()))]
    path = tmp_path / "chile.csv"
    path.write_bytes(df.to_csv(sep=";", index=False).encode("cp1252"))
    code, out = _cli(["forecast", "--series", path, *S, "--model", "flat_baseline", "--out", tmp_path / "z.csv"],
                     capsys)
    assert code == 2 and "thousands separator" in out and "(1.037 = 1037)" in out and "--decimal ," in out, out
    assert out.count("look like a '.' thousands separator") == 1  # said once, not on every row
    code, out = _cli(["forecast", "--series", path, *S, "--model", "flat_baseline", "--decimal", ",",
                      "--out", tmp_path / "z.csv"], capsys)
    assert code == 0, out
    z = pd.read_csv(tmp_path / "z.csv")
    med = z[(z["location"] == "Ñuñoa") & (z["output_type_id"] == 0.5)]["value"]
    last = 1000 + 37 * (int(big.sum()) - 1)
    assert (med == last).all()  # flat baseline: the median is the last count, 2,443 (not 2.443)


# -- 3: no nan printed by score ----------------------------------------------------------------------------

def test_wis_ratio_against_a_perfect_baseline_is_said_not_nan(tmp_path, capsys):
    df = _weekly(regions=("A", "B"))
    df["admissions"] = "0"
    f = _write(df, tmp_path / "zeros.csv")
    for name in ("a", "b"):
        assert _cli(["backtest", "--series", f, *S, "--holdout", "3", "--model", "flat_baseline",
                     "--out", tmp_path / f"{name}.csv"], capsys)[0] == 0
    code, out = _cli(["score", "--series", f, *S, "--forecasts", tmp_path / "a.csv", "--versus",
                      tmp_path / "b.csv"], capsys)
    assert code == 0 and not re.search(r"\bnan\b|\binf\b", out, re.I), out
    assert "n/a" in out and "WIS ratio undefined" in out and out.count("WIS ratio undefined") == 1


# -- 4 and 7: back-test notes -------------------------------------------------------------------------------

def test_backtest_says_a_region_stopped_reporting(tmp_path, capsys):
    df = _weekly()
    df = df[~((df["county"] == "007") & (df["week_ending"] > "2023-09-02"))]  # 007 silent for its last 5 weeks
    f = _write(df, tmp_path / "w.csv")
    code, out = _cli(["backtest", "--series", f, *S, "--holdout", "3", "--model", "flat_baseline",
                      "--out", tmp_path / "bt.csv"], capsys)
    assert code == 0 and "note: region 007: last observed week 2023-09-02" in out, out


def test_holdout_beyond_the_series_is_said_and_too_short_names_file_and_minimum(tmp_path, capsys):
    f = _write(_weekly(n=20), tmp_path / "w.csv")
    code, out = _cli(["backtest", "--series", f, *S, "--holdout", "200", "--model", "flat_baseline",
                      "--out", tmp_path / "bt.csv"], capsys)
    # 20 weeks, horizons 0-3: reference dates at steps 4 .. 16 (4 to fit on, 4 observed after): 13 of them
    assert code == 0 and "200 reference dates asked (--holdout), only 13 possible" in out, out
    assert pd.read_csv(tmp_path / "bt.csv")["reference_date"].nunique() == 13
    f6 = _write(_weekly(n=6), tmp_path / "short.csv")
    code, out = _cli(["backtest", "--series", f6, *S, "--out", tmp_path / "bt.csv"], capsys)
    assert code == 2 and "short.csv" in out and "needs at least 8 weeks" in out, out


# -- 6 and 19: no option silently ignored -------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["forecast", "--reference-date", "2024-01-06", "--horizons", "2"],
    ["forecast", "--reference-date", "2024-01-06", "--region", "county"],
    ["forecast", "--reference-date", "2024-01-06", "--sheet", "Data"],
    ["backtest", "--start", "2024-01-06", "--end", "2024-01-13", "--horizons", "2"],
    ["backtest", "--start", "2024-01-06", "--end", "2024-01-13", "--value", "cases"],
    ["score", "--forecasts", "f.csv", "--date", "week"],
])
def test_series_options_without_series_are_refused(tmp_path, capsys, argv):
    code, out = _cli([*argv, *(["--out", tmp_path / "z.csv"] if argv[0] != "score" else [])], capsys)
    assert code == 2 and "for --series only" in out, out


def test_no_extras_with_series_is_refused_and_bad_model_shows_usage(tmp_path, capsys):
    f = _write(_weekly(), tmp_path / "w.csv")
    code, out = _cli(["forecast", "--series", f, *S, "--no-extras", "--out", tmp_path / "z.csv"], capsys)
    assert code == 2 and "--extras/--no-extras is for the US flu truth" in out
    code, out = _cli(["forecast", "--series", f, *S, "--model", "bogus", "--out", tmp_path / "z.csv"], capsys)
    assert code == 2 and "usage:" in out and "flat_baseline" in out, out


def test_help_lists_every_model():
    from equicare.cli_forecast import MODEL_NAMES
    from equicare.forecast.models import SERIES_MODELS

    assert set(MODEL_NAMES) == set(SERIES_MODELS)


# -- 8, 16, 17: forecast notes and messages -----------------------------------------------------------------

def test_a_region_with_one_observation_is_said_to_have_a_zero_width_interval(tmp_path, capsys):
    df = pd.concat([_weekly(), pd.DataFrame([("KE-099", "2023-10-07", "5")], columns=["county", "week_ending",
                                                                                     "admissions"])])
    code, out = _cli(["forecast", "--series", _write(df, tmp_path / "w.csv"), *S, "--model", "flat_baseline",
                      "--out", tmp_path / "z.csv"], capsys)
    assert code == 0 and "region KE-099: only 1 observed week" in out and "zero width" in out, out


def test_reference_date_far_past_the_data_is_said(tmp_path, capsys):
    f = _write(_weekly(n=20), tmp_path / "w.csv")  # last week 2023-05-20
    code, out = _cli(["forecast", "--series", f, *S, "--reference-date", "2023-07-01", "--model", "flat_baseline",
                      "--out", tmp_path / "z.csv"], capsys)
    assert code == 0 and "2023-07-01 is 6 weeks after the latest data (2023-05-20)" in out, out


def test_reference_date_before_the_series_says_so(tmp_path, capsys):
    f = _write(_weekly(n=20), tmp_path / "w.csv")
    code, out = _cli(["forecast", "--series", f, *S, "--reference-date", "2022-06-04", "--out", tmp_path / "z.csv"],
                     capsys)
    assert code == 2 and "before the series starts (2023-01-07)" in out and "grid" not in out, out


# -- 9: versus restricts every figure -----------------------------------------------------------------------

def test_versus_says_every_figure_is_on_the_shared_tasks(tmp_path, capsys):
    f = _write(_weekly(), tmp_path / "w.csv")
    _cli(["backtest", "--series", f, *S, "--holdout", "4", "--model", "flat_baseline", "--out", tmp_path / "a.csv"],
         capsys)
    _cli(["backtest", "--series", f, *S, "--holdout", "2", "--model", "flat_baseline", "--out", tmp_path / "b.csv"],
         capsys)
    code, out = _cli(["score", "--series", f, *S, "--forecasts", tmp_path / "a.csv", "--versus", tmp_path / "b.csv"],
                     capsys)
    # 3 regions x 4 horizons: 4 reference dates against 2 -> 24 shared tasks, 24 of the forecasts' 48 left out
    assert code == 0 and "every figure" in out and "24 tasks both sets" in out and "24 of the forecasts' 48" in out


# -- 12: a capped problem list says how many there are ------------------------------------------------------

def test_capped_problem_list_gives_the_true_count(tmp_path, capsys):
    df = _weekly()
    df.loc[:34, "admissions"] = "x"  # 35 bad values, 20 listed
    code, out = _cli(["forecast", "--series", _write(df, tmp_path / "w.csv"), *S, "--out", tmp_path / "z.csv"],
                     capsys)
    assert code == 2 and "rejected: 35 problems found" in out and "... and 15 more" in out, out


def test_capped_forecast_file_problems_give_the_true_count():
    from equicare.errors import ValidationError
    from equicare.forecast.hub import check_forecasts

    f = pd.DataFrame({"reference_date": "2024-01-06", "horizon": 0, "target": "wk inc flu hosp",
                      "target_end_date": "2024-01-06", "location": [f"{i:02d}" for i in range(30)],
                      "output_type": "quantile", "output_type_id": 0.5, "value": -1.0})
    with pytest.raises(ValidationError) as e:
        check_forecasts(f, "f.csv")
    assert e.value.n_problems == 30 and "... and 10 more" in str(e.value)


# -- 15: sheets ---------------------------------------------------------------------------------------------

def test_sheet_option_and_a_missing_column_names_the_other_sheets(tmp_path, capsys):
    path = tmp_path / "w.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"readme": ["weekly admissions, see sheet Data"]}).to_excel(xw, sheet_name="Notes", index=False)
        _weekly().to_excel(xw, sheet_name="Data", index=False)
    code, out = _cli(["forecast", "--series", path, *S, "--out", tmp_path / "z.csv"], capsys)
    assert code == 2 and "option --region" in out and "project key" not in out and "'Data'" in out, out
    assert "--sheet" in out
    code, out = _cli(["forecast", "--series", path, *S, "--sheet", "Data", "--model", "flat_baseline",
                      "--out", tmp_path / "z.csv"], capsys)
    assert code == 0, out
    assert set(pd.read_csv(tmp_path / "z.csv", dtype=str, keep_default_na=False)["location"]) == {"KE-047", "007",
                                                                                                  "NA"}


# -- 18: region ids ------------------------------------------------------------------------------------------

def test_composed_and_decomposed_spellings_are_one_region_and_said(tmp_path, capsys):
    nfc = unicodedata.normalize("NFC", "Ñuñoa")
    nfd = unicodedata.normalize("NFD", "Ñuñoa")
    df = _weekly(regions=(nfc, "007"))
    late = (df["county"] == nfc) & (df["week_ending"] > "2023-06-01")
    df.loc[late, "county"] = nfd
    code, out = _cli(["forecast", "--series", _write(df, tmp_path / "w.csv"), *S, "--model", "flat_baseline",
                      "--out", tmp_path / "z.csv"], capsys)
    assert code == 0, out
    assert "combining accents" in out
    locs = set(pd.read_csv(tmp_path / "z.csv", dtype=str)["location"])
    assert locs == {nfc, "007"}


# -- 19: smaller ones -----------------------------------------------------------------------------------------

def test_backtest_progress_on_a_non_terminal_is_one_line(capsys):
    from equicare.cli_forecast import _progress

    for i in (1, 2, 3):
        _progress(i, 3)
    err = capsys.readouterr().err
    assert err == "reference dates: 3/3\n"


def test_score_says_the_national_rows_it_leaves_out():
    from equicare.forecast.scoring import score
    from equicare.forecast.series import backtest_counts, load_counts

    df = _weekly(regions=("01", "US"))
    s = load_counts(df, region="county", date="week_ending", value="admissions", file="w.csv")
    f = backtest_counts(s, 2, "flat_baseline")
    r = score(s.truth(), f, exclude=("US",), horizons=(0, 1, 2, 3), target_end=lambda ref, h: s.step(ref, h))
    assert r["n_tasks"] == 8 and any("8 tasks of the forecasts left out: location US" in n for n in r["notes"])


def test_left_out_targets_are_listed_once_each():
    from equicare.forecast.scoring import score
    from equicare.forecast.series import backtest_counts, load_counts

    df = _weekly(regions=("A", "B"))
    s = load_counts(df, region="county", date="week_ending", value="admissions", file="w.csv")
    f = backtest_counts(s, 4, "flat_baseline")
    truth = s.truth()
    truth = truth[~((truth["location"] == "B") & (truth["date"] >= "2023-09-30"))]  # B's last 2 weeks unknown
    r = score(truth, f, horizons=(0, 1, 2, 3), exclude=(), target_end=lambda ref, h: s.step(ref, h))
    note = next(n for n in r["notes"] if "no observed value" in n)
    listed = re.findall(r"B date \d{4}-\d{2}-\d{2}", note)
    assert len(listed) == len(set(listed)) == 2, note


def test_written_numbers_carry_no_float_noise(tmp_path):
    from equicare.csvout import csv_text
    from equicare.forecast.hub import WRITTEN_DECIMALS

    df = pd.DataFrame({"value": [10.824999999999996, 0.1 + 0.2, 1.5], "n": [2.9999999999999996, 1, 2]})
    assert csv_text(df, {"value": 4, "n": 4}).splitlines()[1:] == ["10.825,3", "0.3,1", "1.5,2"]
    assert csv_text(df).splitlines()[1] == "10.824999999999996,2.9999999999999996"  # other tables: as they are
    assert WRITTEN_DECIMALS["value"] == 4


def test_series_forecast_files_have_short_numbers(tmp_path, capsys):
    f = _write(_weekly(n=60), tmp_path / "w.csv")
    code, out = _cli(["forecast", "--series", f, *S, "--model", "seasonal_naive", "--out", tmp_path / "z.csv"],
                     capsys)
    assert code == 0, out
    values = pd.read_csv(tmp_path / "z.csv", dtype=str)["value"]
    digits = values.str.replace(r"^\d+\.?", "", regex=True).str.len()
    assert digits.max() <= 4, values[digits.idxmax()]


def test_capped_weekly_hub_file_problems_give_the_true_count(tmp_path):
    """The weekly hub reader behind --truth and --vintages lists 50 problems per rule; the count is all of them."""
    from equicare.errors import ValidationError
    from equicare.forecast.truth import load_truth

    rows = [("2024-01-06", f"K{i}", "Somewhere", "5") for i in range(60)]  # 60 locations that are not FIPS codes
    _write(pd.DataFrame(rows, columns=["date", "location", "location_name", "value"]), tmp_path / "t.csv")
    with pytest.raises(ValidationError) as e:
        load_truth(tmp_path / "t.csv")
    assert e.value.n_problems == 60 and "rejected: 60 problems found" in str(e.value)
    assert "... and 40 more" in str(e.value)


def test_declared_decimal_comma_reads_dot_grouped_counts_in_both_readers(tmp_path):
    """``decimal: ','`` (project key) and ``--decimal ,`` read '1.443' beside '259' as 1443; ids and dotted dates
    stay as written."""
    from equicare.data.readers import read_table
    from equicare.project.tables import read_tabular

    path = tmp_path / "d.csv"
    path.write_text("id;n;d\n007;1.443;2024.01.07\n008;259;2024.01.14\n", encoding="utf-8")
    for df in (read_tabular(path, delimiter=";", decimal=","), read_table(path, decimal=",")):
        assert list(df["n"].astype(str)) == ["1443", "259"] and list(df["id"]) == ["007", "008"]
        assert list(df["d"]) == ["2024.01.07", "2024.01.14"]


def test_a_model_giving_non_finite_values_is_an_error_not_a_blank_cell():
    from equicare.errors import EquicareError
    from equicare.forecast.models import FlatBaseline
    from equicare.forecast.series import forecast_counts, load_counts

    class Broken(FlatBaseline):
        def predict(self, panel, steps):
            out = super().predict(panel, steps)
            out[0, 0, -1] = np.nan
            return out

    s = load_counts(_weekly(), region="county", date="week_ending", value="admissions", file="w.csv")
    with pytest.raises(EquicareError, match="no finite quantiles for region 007"):
        forecast_counts(s, model=Broken())


def test_a_list_cut_at_a_validators_cap_without_counts_says_at_least():
    """Validators not yet counting every problem list 20 (or 50) per rule: such a list says 'at least'."""
    from equicare.errors import Problem, ValidationError

    cut = ValidationError([Problem("f.csv", i + 2, "x", "not a number", "a") for i in range(20)])
    assert str(cut).startswith("rejected: at least 20 problems found") and "there may be more" in str(cut)
    exact = ValidationError([Problem("f.csv", i + 2, "x", "not a number", "a") for i in range(19)])
    assert str(exact).startswith("rejected: 19 problems found") and "may be more" not in str(exact)
    counted = ValidationError([Problem("f.csv", i + 2, "x", "not a number", "a") for i in range(20)],
                              counts={"x: not a number": 20})
    assert str(counted).startswith("rejected: 20 problems found")
