"""Newcomer trial 3 (forecasting), the real-time (vintage) path and the project run: faults found and fixed,
each a kind checked where it occurs (docs/forecast.md, *Real time*; docs/own-region.md).

5.  a project run dropped the forecast's notes (a region forecast from an old last week): now on the console,
    in report.html and as ``forecast note`` rows of cleaning_report.csv;
10. 2-digit codes of another country were silently taken as US states (US populations, US training data): a
    note names the states they are read as and what US data is used (``--no-extras``), and points to --series;
11. a code that is no US hub location failed with "population unknown" (no file, row, column, and advice the
    command line cannot follow): now rejected at reading, naming file, row, column and the rule;
13. a bad flu ``--reference-date`` suggested declaring a ``date_format`` that the same command refuses;
14. a vintage row published before its week ended (``as_of`` before ``date``) was accepted;
20. a project with no facilities wrote an empty inequality table (and other empty tables) without a word.

Small files are made here; each test runs the command line as a planner does, or the function behind it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_run import cli as _cli


WEEKS = pd.date_range("2024-09-07", periods=12, freq="7D")  # Saturdays
REF = (WEEKS[-1] + pd.Timedelta(days=7)).strftime("%Y-%m-%d")  # the next Saturday: every week published by R - 3


def _vintages(path: Path, locations: tuple[str, ...] = ("06", "36", "48"), edit=None) -> Path:
    """A vintage file: each week published on the Wednesday after it (as_of = week + 4 days), then revised
    a week later."""
    rng = np.random.default_rng(5)
    rows = []
    for i, w in enumerate(WEEKS):
        for loc in locations:
            v = int(rng.poisson(100))
            rows.append(((w + pd.Timedelta(days=4)).strftime("%Y-%m-%d"), w.strftime("%Y-%m-%d"), loc, v))
            if i + 1 < len(WEEKS):
                rows.append(((w + pd.Timedelta(days=11)).strftime("%Y-%m-%d"), w.strftime("%Y-%m-%d"), loc, v + 3))
    df = pd.DataFrame(rows, columns=["as_of", "date", "location", "value"])
    if edit is not None:
        edit(df)
    df.to_csv(path, index=False)
    return path


def _forecast(vint: Path, tmp_path: Path, capsys, *extra: str) -> tuple[int, str]:
    return _cli(["forecast", "--vintages", str(vint), "--reference-date", REF, "--model", "flat_baseline",
                 "--no-extras", "--out", str(tmp_path / "f.csv"), *extra], capsys)


# --- 14. a value published before its week ended ----------------------------------------------------------------

def test_as_of_before_the_week_ended_is_rejected(tmp_path, capsys):
    def early(df):
        df.loc[4, "as_of"] = "2024-09-01"  # row 6 of the file: week ending 2024-09-14, published before it ended

    vint = _vintages(tmp_path / "v.csv", edit=early)
    code, out = _forecast(vint, tmp_path, capsys)
    assert code == 2, out
    assert "v.csv, row 6, column 'as_of': published before its week ended" in out, out
    assert "2024-09-01 (date 2024-09-" in out and "Traceback" not in out
    assert not (tmp_path / "f.csv").exists()


def test_as_of_on_or_after_the_week_end_loads(tmp_path):
    from equicare.forecast.vintages import load_vintages

    def same_day(df):
        df.loc[0, "as_of"] = df.loc[0, "date"]  # published the day the week ended: possible

    v = load_vintages(_vintages(tmp_path / "v.csv", edit=same_day))
    assert v.first == WEEKS[0]


# --- 11. a code that is no US hub location --------------------------------------------------------------------

def test_unknown_location_is_named_with_file_row_column_and_rule(tmp_path, capsys):
    vint = _vintages(tmp_path / "v99.csv", locations=("06", "99", "1"))
    code, out = _forecast(vint, tmp_path, capsys)  # flat_baseline: the rule is the format's, not the model's
    assert code == 2, out
    assert "v99.csv, row 4, column 'location': not a location of the US FluSight hub" in out, out
    assert "--series" in out and "locations.csv" in out
    assert out.count("column 'location'") == 1  # the first row of the location, not every row
    assert "population unknown" not in out and not (tmp_path / "f.csv").exists()


def test_population_error_of_the_api_says_what_to_do():
    from equicare.errors import EquicareError
    from equicare.forecast.truth import to_panel

    truth = pd.DataFrame({"date": WEEKS[:3], "location": "99", "location_name": "99", "value": 5.0,
                          "weekly_rate": np.nan})
    with pytest.raises(EquicareError) as e:
        to_panel(truth)
    msg = str(e.value)
    assert "'99'" in msg and "weekly_rate" in msg and "--series" in msg and "US FluSight hub" in msg


# --- 10. codes that look like US FIPS codes ---------------------------------------------------------------------

def test_fips_like_codes_are_said_to_be_read_as_us_states(tmp_path, capsys):
    vint = _vintages(tmp_path / "chile.csv", locations=("05", "08", "13"))
    code, out = _forecast(vint, tmp_path, capsys)
    assert code == 0, out
    assert "note: chile.csv: locations read as the US FluSight hub's states" in out, out
    assert "05 Arkansas, 08 Colorado, 13 Georgia" in out and "--series" in out
    assert "populations" not in out and "--no-extras" not in out  # flat_baseline, --no-extras: no US numbers used
    code, out = _cli(["backtest", "--vintages", str(vint), "--start", REF, "--end", REF, "--model", "flat_baseline",
                      "--out", str(tmp_path / "b.csv")], capsys)
    assert code == 0, out
    assert "05 Arkansas" in out and "bundled US flu admissions 2020-23" in out and "--no-extras" in out, out


def test_the_note_says_which_us_data_each_model_uses():
    from equicare.forecast.cli import hub_data_note

    full = hub_data_note(["05"], "ensemble", None, None, True, "v.csv")
    assert "05 Arkansas" in full and "rates per 100,000 with these US states' populations" in full
    assert "US flu admissions 2020-23" in full and "ILINet" in full and "(--no-extras: this file alone)" in full
    bare = hub_data_note(["05"], "pooled_ar", None, None, False, "v.csv")
    assert "populations" in bare and "ILINet" not in bare and "--no-extras" not in bare
    assert hub_data_note(["US"], "ensemble", None, None, True, "v.csv") is None  # the nation only: no states
    # the hub's own data (states and the national row, as the hub's files have): no note for US planners
    assert hub_data_note(["05", "06", "US"], "ensemble", None, None, True, "v.csv") is None
    many = hub_data_note([f"{c:02d}" for c in (1, 2, 4, 5, 6, 8, 9, 10, 11, 12)], "flat_baseline", None, None,
                         False, "v.csv")
    assert "and 2 more" in many


def test_a_planners_truth_file_gets_the_note_too(tmp_path, capsys):
    rows = [(w.strftime("%Y-%m-%d"), loc, 50 + i) for i, w in enumerate(WEEKS) for loc in ("05", "13")]
    pd.DataFrame(rows, columns=["date", "location", "value"]).to_csv(tmp_path / "t.csv", index=False)
    code, out = _cli(["forecast", "--truth", str(tmp_path / "t.csv"), "--reference-date", REF, "--model",
                      "flat_baseline", "--no-extras", "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 0, out
    assert "note: t.csv: locations read as the US FluSight hub's states (FIPS codes): 05 Arkansas, 13 Georgia" in out


# --- 13. a message never suggests an option the command refuses ----------------------------------------------

@pytest.mark.parametrize("cmd", [["forecast", "--reference-date", "05/04/2025"],
                                 ["backtest", "--start", "05/04/2025", "--end", REF]])
def test_flu_date_errors_say_yyyy_mm_dd_only(tmp_path, capsys, cmd):
    vint = _vintages(tmp_path / "v.csv")
    code, out = _cli([*cmd, "--vintages", str(vint), "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 2, out
    assert "'05/04/2025': not a date written YYYY-MM-DD (the only form taken here" in out, out
    assert "date_format" not in out and "date-format" not in out


def test_api_reference_date_is_never_guessed():
    from equicare.errors import EquicareError
    from equicare.forecast.hub import as_saturday

    assert as_saturday("2025-04-05") == pd.Timestamp("2025-04-05")
    with pytest.raises(EquicareError, match="YYYY-MM-DD"):
        as_saturday("04/05/2025")  # 5 April 2025 is a Saturday, but 4 May is as likely


# --- 5 and 20. a project run says its forecast's notes, and why a table is empty ----------------------------

def _project(tmp_path: Path, demand: bool = True) -> Path:
    pd.DataFrame({"code": ["A", "B", "C"], "name": ["Alpha", "Beta", "Gamma"],
                  "population": [1000, 2000, 3000], "lat": [-1.0, -2.0, -3.0],
                  "lon": [36.0, 37.0, 38.0]}).to_csv(tmp_path / "regions.csv", index=False)
    text = ("name: trial\nregions:\n  file: regions.csv\n  id: code\n  name: name\n  population: population\n"
            "  lat: lat\n  lon: lon\n")
    if demand:
        rng = np.random.default_rng(2)
        rows = [(r, w.strftime("%Y-%m-%d"), int(rng.poisson(30))) for r in "ABC"
                for w in pd.date_range("2024-01-06", periods=30, freq="7D")]
        df = pd.DataFrame(rows, columns=["county", "week_ending", "admissions"])
        df = df[~((df["county"] == "C") & (df["week_ending"] > "2024-06-15"))]  # C stopped reporting
        df.to_csv(tmp_path / "admissions.csv", index=False)
        text += ("demand:\n  file: admissions.csv\n  region: county\n  date: week_ending\n  value: admissions\n"
                 "forecast:\n  model: flat_baseline\n  horizons: [0, 1]\n  holdout: 0\n")
    (tmp_path / "project.yaml").write_text(text)
    return tmp_path / "project.yaml"


def test_project_run_says_the_forecast_notes(tmp_path, capsys):
    code, out = _cli(["run", str(_project(tmp_path)), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, out
    assert "note: forecast: region C: last observed week 2024-06-15 is 6 weeks older" in out, out
    rep = pd.read_csv(tmp_path / "out" / "cleaning_report.csv")
    row = rep[rep["step"] == "forecast note"]
    assert len(row) == 1 and row["file"].iloc[0] == "admissions.csv" and row["column"].iloc[0] == "admissions"
    assert row["detail"].iloc[0].startswith("region C: last observed week 2024-06-15")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "region C: last observed week 2024-06-15 is 6 weeks older" in html
    # 20: no facilities -> the inequality table says why; not back-tested -> the scores say so
    ineq = pd.read_csv(tmp_path / "out" / "inequality.csv")
    assert len(ineq) == 1 and "no inequality measured: the project has no facilities section" in ineq["note"].iloc[0]
    assert ineq["estimate"].isna().all()
    assert "no inequality measured" in html and "The project has no facilities section" in html
    scores = pd.read_csv(tmp_path / "out" / "forecast_scores.csv")
    assert scores["note"].iloc[0].startswith("not back-tested (forecast.holdout: 0)")
    assert "not back-tested" in html
    acc = pd.read_csv(tmp_path / "out" / "access.csv")
    assert acc["note"].str.startswith("no facilities in the project: no capacity, rate or access").all()


def test_project_run_says_the_back_tests_notes(tmp_path, capsys):
    """With a hold-out, the back-test of the forecast model notes that region C stopped reporting (its last
    observed week and at how many reference dates), and that fewer dates than asked were possible."""
    path = _project(tmp_path)
    path.write_text(path.read_text().replace("holdout: 0", "holdout: 40"))
    code, out = _cli(["run", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, out
    assert "note: forecast: back-test of flat_baseline: region C: last observed week 2024-06-15" in out, out
    assert "40 reference dates asked (forecast.holdout), only" in out, out
    rep = pd.read_csv(tmp_path / "out" / "cleaning_report.csv")
    notes = rep.loc[rep["step"] == "forecast note", "detail"].tolist()
    assert any(n.startswith("back-test of flat_baseline: region C") for n in notes), notes
    assert "back-test of flat_baseline: region C" in (tmp_path / "out" / "report.html").read_text()


def test_project_without_demand_or_facilities_has_no_unexplained_empty_table(tmp_path, capsys):
    code, out = _cli(["run", str(_project(tmp_path, demand=False)), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, out
    for f in sorted((tmp_path / "out").glob("*.csv")):
        assert len(pd.read_csv(f)) > 0, f"{f.name} is an empty table"
    rep = pd.read_csv(tmp_path / "out" / "cleaning_report.csv")
    assert rep["step"].tolist() == ["no changes"] and "nothing was padded" in rep["detail"].iloc[0]


def test_an_indicator_with_one_usable_region_is_a_note_row():
    from equicare.project.access import AccessResult, inequality_stage

    class P:  # the keys inequality_stage reads
        access = None

        class inequality:
            epsilon = 0.5
            n_boot = 50

    reg = pd.DataFrame({"region": ["A", "B"], "population": [1000.0, np.nan], "beds_per_1000": [2.0, 3.0]})
    t = inequality_stage(P, AccessResult(reg, None, None, {}))
    assert len(t) == 1 and t["indicator"].iloc[0] == "beds_per_1000" and t["regions"].iloc[0] == 1
    assert "not measured: 1 region with a population and a value; inequality needs at least 2" == t["note"].iloc[0]


def test_web_upload_date_error_suggests_no_date_format():
    from equicare.errors import ValidationError
    from equicare.service.dataset_uploads import check_upload

    data = b"region,date,value\nA,2024-01-06,3\nA,13/01/2024,4\n"
    with pytest.raises(ValidationError) as e:
        check_upload(data, "demand", "d.csv")
    msg = str(e.value)
    assert "row 3" in msg and "YYYY-MM-DD" in msg and "date_format" not in msg, msg


def test_project_scores_say_an_undefined_wis_ratio(tmp_path, capsys):
    path = _project(tmp_path)
    df = pd.read_csv(tmp_path / "admissions.csv").assign(admissions=0)  # every model forecasts 0 exactly: WIS 0
    df.to_csv(tmp_path / "admissions.csv", index=False)
    path.write_text(path.read_text().replace("holdout: 0", "holdout: 2"))
    code, out = _cli(["run", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, out
    scores = pd.read_csv(tmp_path / "out" / "forecast_scores.csv")
    assert scores["wis"].tolist() == [0.0] and scores["wis_ratio_vs_baseline"].isna().all()
    assert scores["note"].iloc[0].startswith("WIS ratio undefined: the baseline 'flat_baseline' has WIS 0")


def test_truth_file_location_without_population_is_named(tmp_path, capsys):
    rows = [(w.strftime("%Y-%m-%d"), loc, 50 + i) for i, w in enumerate(WEEKS) for loc in ("05", "99")]
    df = pd.DataFrame(rows, columns=["date", "location", "value"])
    df.to_csv(tmp_path / "t.csv", index=False)
    argv = ["forecast", "--truth", str(tmp_path / "t.csv"), "--reference-date", REF, "--model", "flat_baseline",
            "--no-extras", "--out", str(tmp_path / "f.csv")]
    code, out = _cli(argv, capsys)
    assert code == 2, out
    assert "t.csv, row 3, column 'location': not a location of the US FluSight hub" in out, out
    assert "weekly_rate" in out and "--series" in out and out.count("column 'location'") == 1
    df.assign(weekly_rate=df["value"] / 10).to_csv(tmp_path / "t.csv", index=False)  # a rate gives the population
    code, out = _cli(argv, capsys)
    assert code == 0, out
    from equicare.forecast.truth import load_truth

    df.to_csv(tmp_path / "t.csv", index=False)  # scoring needs no population: the file as truth still loads
    assert set(load_truth(tmp_path / "t.csv")["location"]) == {"05", "99"}
