"""A third trial on outside inputs: the faults found and fixed, each a kind of fault checked everywhere it
occurs.

1. a blank cell in one resource column made a facility leave every measure (now only that resource is unknown);
2. a measure that does not apply was an empty cell with nothing said (now a note says why);
3. ``export`` and ``forecast --series`` wrote whole numbers as ``120000.0`` (now one rule for every writer);
4. a date such as ``13/07/2024`` was read day-first without a word (now ISO, or a declared ``date_format``).

Every test runs the command line as a planner does (``equicare.cli.main``) or the library function behind it,
on small hand-made files, and checks the values by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_run import cli as _cli


def _weekly(path: Path, n: int = 40, date_format: str = "%Y-%m-%d") -> None:
    """Two districts, weekly whole-number counts, dates written with ``date_format``."""
    rng = np.random.default_rng(3)
    dates = pd.date_range("2023-01-02", periods=n, freq="7D")
    rows = [(r, d.strftime(date_format), int(v)) for r in ("D1", "D2") for d, v in zip(dates, rng.poisson(40, n))]
    pd.DataFrame(rows, columns=["district", "week", "cases"]).to_csv(path, index=False)


# --- 3. whole-number columns are written as integers by every writer -----------------------------------------

def test_export_writes_whole_numbers_without_decimals(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("id,name,population,lat,lon\n001,A,120000,0.5,10\n002,B,80000,1.25,11\n")
    store = str(tmp_path / "s.duckdb")
    code, out = _cli(["load", str(tmp_path / "r.csv"), "--kind", "regions", "--store", store], capsys)
    assert code == 0, out
    code, out = _cli(["export", "1", "--out", str(tmp_path / "e.csv"), "--store", store], capsys)
    assert code == 0, out
    lines = (tmp_path / "e.csv").read_text().splitlines()
    assert lines[1].startswith("001,A,120000,0.5,10,") and lines[2].startswith("002,B,80000,1.25,11,"), lines
    assert ".0," not in "\n".join(lines)


def test_the_bundled_project_files_write_whole_numbers(tmp_path):
    """The demo's project folder (states, counties, hospitals, the preparation report) under the same rule:
    populations and beds as 58805, not 58805.0 (the hub's admissions file is copied as published)."""
    import re

    from equicare.project.bundled_us import write_us_project

    write_us_project(tmp_path)
    for name in ("states.csv", "counties.csv", "hospitals.csv", "prepared.csv"):
        text = (tmp_path / name).read_text()
        assert not re.search(r"(^|,)-?\d+\.0(,|$)", text, flags=re.M), name
    head = (tmp_path / "counties.csv").read_text().splitlines()[1]
    assert head.startswith('01001,"Autauga, Alabama",01,58805,8653,'), head


def test_forecast_series_integer_writes_integers(tmp_path, capsys):
    _weekly(tmp_path / "w.csv")
    code, out = _cli(["forecast", "--series", str(tmp_path / "w.csv"), "--region", "district", "--date", "week",
                      "--value", "cases", "--model", "damped_trend", "--integer", "--out", str(tmp_path / "f.csv")],
                     capsys)
    assert code == 0, out
    text = (tmp_path / "f.csv").read_text().splitlines()
    header = text[0].split(",")
    k = header.index("value")
    values = [r.split(",")[k] for r in text[1:]]
    assert values and all(v.isdigit() for v in values), values[:5]
    q = header.index("output_type_id")
    assert "0.025" in {r.split(",")[q] for r in text[1:]}  # the quantile levels (fractions) stay as they are


def test_one_rule_for_whole_numbers():
    from equicare.csvout import csv_text

    df = pd.DataFrame({"beds": [120000.0, np.nan], "rate": [1.0, 2.5], "need": [-0.0, 3.0], "id": ["007", "010"]})
    assert csv_text(df).splitlines() == ["beds,rate,need,id", "120000,1.0,0,007", ",2.5,3,010"]


# --- 1. a blank cell in one resource column makes only that resource unknown ---------------------------------

def _project(folder: Path, icu_h2: str, missing: str | None = None) -> Path:
    """Two regions 55.6 km apart (A 10,000 people, B 20,000), three hospitals; H2 (in B) has ``icu_h2`` ICU beds."""
    (folder / "regions.csv").write_text("Code,Name,Pop,lat,lon,need\nA,Alpha,10000,0.0,0.0,5\nB,Beta,20000,0.0,0.5,8\n")
    (folder / "h.csv").write_text(f"id,lat,lon,beds,icu\nH1,0.0,0.01,100,10\nH2,0.0,0.49,200,{icu_h2}\n"
                                  "H3,0.0,0.51,50,5\n")
    (folder / "p.yaml").write_text(
        "name: Trial\n" + (f"missing: {missing}\n" if missing else "")
        + "regions:\n  file: regions.csv\n  id: Code\n  name: Name\n  population: Pop\n  lat: lat\n  lon: lon\n"
        "facilities:\n  file: h.csv\n  id: id\n  lat: lat\n  lon: lon\n  capacity: [beds, icu]\n"
        "access:\n  method: 2sfca\n  supply: beds\n  max_km: 100\nallocate:\n  resource: icu\n  stock: 10\n"
        "  need: need\ninequality:\n  n_boot: 20\n")
    return folder / "p.yaml"


@pytest.mark.parametrize("icu_h2,missing,beds_b,icu_b,access", [
    # by hand: every hospital is within 100 km of both region points, so each region's 2SFCA access is
    # 1000 x (total beds) / (total population) = 1000 x 350 / 30,000 = 11.667 per 1,000
    ("20", None, 250, 25, 1000 * 350 / 30000),
    ("", None, 250, 5, 1000 * 350 / 30000),       # blank ICU: H2's beds still count; its ICU is unknown
    ("", "drop", 50, 5, 1000 * 150 / 30000),      # asked for: the whole row is left out
])
def test_blank_icu_cell_leaves_the_facility_beds_in(tmp_path, capsys, icu_h2, missing, beds_b, icu_b, access):
    p = _project(tmp_path, icu_h2, missing)
    code, out = _cli(["run", str(p), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, out
    a = pd.read_csv(tmp_path / "out" / "access.csv").set_index("region")
    assert a.loc["A", "beds"] == 100 and a.loc["A", "icu"] == 10
    assert a.loc["B", "beds"] == beds_b and a.loc["B", "icu"] == icu_b
    assert a.loc["B", "beds_per_1000"] == pytest.approx(1000 * beds_b / 20000)
    assert a["2sfca_beds_per_1000"].tolist() == pytest.approx([access, access])
    rep = pd.read_csv(tmp_path / "out" / "cleaning_report.csv")
    if icu_h2 == "" and missing is None:
        assert "h.csv, row 3, column 'icu': blank, so facility H2's icu is unknown" in out
        assert "row 3" in " ".join(rep["detail"].fillna("").astype(str))
    if missing == "drop":
        assert (rep["step"] == "facility with a blank capacity: left out (policy drop)").any()


def test_access_command_blank_supply_cell_is_one_resource_unknown(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("id,population,lat,lon\nA,10000,0.0,0.0\nB,20000,0.0,0.5\n")
    (tmp_path / "s.csv").write_text("id,lat,lon,beds,icu\nH1,0.0,0.01,100,10\nH2,0.0,0.49,200,\nH3,0.0,0.51,50,5\n")
    code, out = _cli(["access", "--demand", str(tmp_path / "d.csv"), "--supply", str(tmp_path / "s.csv"),
                      "--method", "2sfca", "--max-km", "100", "--supply-value", "beds", "--supply-value", "icu",
                      "--out", str(tmp_path / "a.csv")], capsys)
    assert code == 0, out
    t = pd.read_csv(tmp_path / "a.csv")
    assert t["2sfca_beds"].tolist() == pytest.approx([350 / 30000] * 2)  # H2's beds count
    assert t["2sfca_icu"].tolist() == pytest.approx([15 / 30000] * 2)    # its ICU is left out
    assert "s.csv, row 3, column 'icu': blank, so H2's icu is unknown" in out
    (tmp_path / "s.csv").write_text("id,lat,lon,beds,icu\nH1,0.0,0.01,100,10\nH2,0.0,0.49,200,x\n")
    code, out = _cli(["access", "--demand", str(tmp_path / "d.csv"), "--supply", str(tmp_path / "s.csv"),
                      "--method", "2sfca", "--max-km", "100", "--supply-value", "icu"], capsys)
    assert code == 2 and "s.csv, row 3, column 'icu': value is missing or not a number" in out, out


def test_load_keeps_a_facility_with_one_blank_resource_cell(tmp_path):
    from equicare.data.load import load_table

    (tmp_path / "f.csv").write_text("id,name,region,lat,lon,cap_beds,cap_icu_beds,staff\n"
                                    "H1,One,A,0,0,100,10,50\nH2,Two,A,0,0.4,200,,\nH3,Three,A,0,0.5,50,5,20\n")
    t, rep = load_table(tmp_path / "f.csv", "facilities", id_format="text")
    assert t["id"].tolist() == ["H1", "H2", "H3"]
    assert t["cap_beds"].sum() == 350 and t["cap_icu_beds"].sum() == 15 and t["staff"].sum() == 70
    steps = rep.to_frame()
    kept = steps[steps["step"] == "missing: kept and flagged"].set_index("column")["detail"]
    assert "row 3" in kept["cap_icu_beds"] and "row 3" in kept["staff"]
    t, rep = load_table(tmp_path / "f.csv", "facilities", id_format="text", missing={"*": "drop"})
    assert t["id"].tolist() == ["H1", "H3"]  # asked for: the whole row is left out, and the report says which
    assert "row 3" in " ".join(rep.to_frame()["detail"])


# --- 2. a measure that does not apply is said, not left as an empty cell -------------------------------------

def test_empty_measures_have_a_note(tmp_path, capsys):
    p = _project(tmp_path, "")
    # B: population blank; C: no people and no need given; a region far from every hospital (D)
    (tmp_path / "regions.csv").write_text("Code,Name,Pop,lat,lon,need\nA,Alpha,10000,0.0,0.0,5\nB,Beta,,0.0,0.5,8\n"
                                          "C,Gamma,0,0.0,0.6,\nD,Delta,3000,40.0,40.0,2\n")
    code, out = _cli(["run", str(p), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, out
    a = pd.read_csv(tmp_path / "out" / "access.csv", keep_default_na=False, dtype=str).set_index("region")
    assert a.loc["A", "note"] == ""  # every figure applies
    assert a.loc["B", "beds_per_1000"] == "" and "population unknown (blank)" in a.loc["B", "note"]
    assert "icu unknown at 1 facility (H2)" in a.loc["B", "note"]
    assert a.loc["C", "beds_per_1000"] == "" and "no population" in a.loc["C", "note"]
    # D: no hospital within 100 km: 2SFCA access is 0 (a value: nothing in reach), not undefined
    assert float(a.loc["D", "2sfca_beds_per_1000"]) == 0 and a.loc["D", "beds"] == "0" and a.loc["D", "note"] == ""
    for name in ("access", "allocation", "descriptive_stats", "inequality"):  # never Infinity or NaN written
        text = (tmp_path / "out" / f"{name}.csv").read_text()
        assert "inf" not in text.lower() and "nan" not in text.lower(), name
    al = pd.read_csv(tmp_path / "out" / "allocation.csv", keep_default_na=False, dtype=str).set_index("region")
    assert "C" not in al.index  # a blank need is unknown: left out (reported), never read as zero
    rep = pd.read_csv(tmp_path / "out" / "cleaning_report.csv")
    assert (rep["step"] == "need unknown (blank): left out of the allocation").any()
    assert (al["peak_icu_occupancy"] == "").all()
    assert al["note"].str.contains("no forecast").all()


def test_allocation_note_for_a_region_without_capacity():
    from equicare.project.allocation import allocation_notes

    a = pd.DataFrame({"region": ["A", "B"], "icu_capacity": [10.0, 0.0], "peak_icu_occupancy": [0.9, np.nan],
                      "share_met": [0.5, 1.0]})
    notes = allocation_notes(a, "icu", None)
    assert notes[0] == "" and "no icu capacity: the peak occupancy does not apply" in notes[1]


def test_describe_says_why_a_statistic_is_empty():
    from equicare.analyze.describe import describe

    df = pd.DataFrame({"population": [10.0, np.nan], "one": [1.0, np.nan], "none": [np.nan, np.nan]})
    t = describe(df, ["one", "none"]).set_index("column")
    assert np.isnan(t.loc["one", "sd"]) and t.loc["one", "note"] == "one value: the sd is undefined"
    assert t.loc["none", "note"].startswith("no value")


# --- 4. dates: ISO always; another format only when declared; never guessed ---------------------------------

@pytest.mark.parametrize("fmt", ["%d/%m/%Y", "%m/%d/%Y"])
def test_forecast_series_dates_other_than_iso_need_a_declared_format(tmp_path, capsys, fmt):
    _weekly(tmp_path / "w.csv", date_format=fmt)
    base = ["forecast", "--series", str(tmp_path / "w.csv"), "--region", "district", "--date", "week", "--value",
            "cases", "--model", "damped_trend", "--out", str(tmp_path / "f.csv")]
    code, out = _cli(base, capsys)
    assert code == 2 and not (tmp_path / "f.csv").exists(), out
    assert "w.csv, row 2, column 'week': not a date (YYYY-MM-DD expected)" in out and "--date-format" in out
    assert "never guessed" in out and "Traceback" not in out
    code, out = _cli(base + ["--date-format", fmt], capsys)
    assert code == 0, out
    iso = pd.read_csv(tmp_path / "f.csv")
    _weekly(tmp_path / "w.csv")  # the same series written YYYY-MM-DD gives the same forecast
    code, out = _cli(base, capsys)
    assert code == 0, out
    pd.testing.assert_frame_equal(iso, pd.read_csv(tmp_path / "f.csv"))


def test_forecast_series_ambiguous_date_is_an_error_not_a_guess(tmp_path, capsys):
    (tmp_path / "w.csv").write_text("district,week,cases\nD1,01/07/2024,3\nD1,08/07/2024,4\nD1,15/07/2024,5\n")
    code, out = _cli(["forecast", "--series", str(tmp_path / "w.csv"), "--region", "district", "--date", "week",
                      "--value", "cases", "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 2, out
    assert "w.csv, row 2, column 'week'" in out and "(value: '01/07/2024')" in out
    assert "w.csv, row 4, column 'week'" in out  # 15/07/2024 is not read day-first behind the planner's back
    code, out = _cli(["forecast", "--series", str(tmp_path / "w.csv"), "--region", "district", "--date", "week",
                      "--value", "cases", "--date-format", "%d/%m", "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 2 and "--date-format '%d/%m': not a date format with a year, a month and a day" in out, out


def test_project_date_format_for_the_demand_file_and_the_date_keys(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("Code,Name,Pop,lat,lon\nD1,One,1000,0,0\nD2,Two,2000,0,1\n")
    _weekly(tmp_path / "d.csv", date_format="%d/%m/%Y")
    doc = ("name: T\nregions:\n  file: r.csv\n  id: Code\n  name: Name\n  population: Pop\n  lat: lat\n  lon: lon\n"
           "demand:\n  file: d.csv\n  region: district\n  date: week\n  value: cases\n"
           "forecast:\n  model: damped_trend\n  holdout: 0\n")
    (tmp_path / "p.yaml").write_text(doc)
    code, out = _cli(["run", "--check", str(tmp_path / "p.yaml")], capsys)
    assert code == 2 and "d.csv, row 2, column 'week': not a date (YYYY-MM-DD expected)" in out, out
    assert "date_format" in out
    (tmp_path / "p.yaml").write_text('date_format: "%d/%m/%Y"\n' + doc + "  as_of: 09/10/2023\n")
    from equicare.project import check_project

    project, inp, _ = check_project(tmp_path / "p.yaml")
    assert project.forecast.as_of == "2023-10-09"  # 9 October, as declared (a Monday, on the series' grid)
    assert inp.demand.frame["date"].min() == pd.Timestamp("2023-01-02")
    (tmp_path / "p.yaml").write_text(doc + "  as_of: 09/10/2023\n")  # no format declared: the key is refused
    code, out = _cli(["run", "--check", str(tmp_path / "p.yaml")], capsys)
    assert code == 2 and "forecast.as_of" in out and "YYYY-MM-DD" in out, out


def test_load_demand_dates(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("region,date,value\nA,13/07/2024,5\nA,20/07/2024,6\n")
    store = str(tmp_path / "s.duckdb")
    code, out = _cli(["load", str(tmp_path / "d.csv"), "--kind", "demand", "--store", store], capsys)
    assert code == 2 and "d.csv, row 2, column 'date': not a date (YYYY-MM-DD expected)" in out, out
    assert "--date-format" in out
    code, out = _cli(["load", str(tmp_path / "d.csv"), "--kind", "demand", "--store", store, "--date-format",
                      "%d/%m/%Y"], capsys)
    assert code == 0, out
    code, out = _cli(["export", "1", "--out", str(tmp_path / "e.csv"), "--store", store], capsys)
    assert code == 0 and (tmp_path / "e.csv").read_text().splitlines()[1].startswith("A,2024-07-13"), out


def test_one_date_rule():
    from equicare.data.dates import parse_date, parse_dates

    s = pd.Series(["2024-07-13", "2024-07-13 00:00:00", "13/07/2024", "01/07/2024", ""])
    got = parse_dates(s)
    assert got.iloc[0] == got.iloc[1] == pd.Timestamp("2024-07-13") and got.iloc[2:].isna().all()
    got = parse_dates(s, "%d/%m/%Y")
    assert got.iloc[2] == pd.Timestamp("2024-07-13") and got.iloc[3] == pd.Timestamp("2024-07-01")
    assert parse_date("01/07/2024", "x", "%m/%d/%Y") == pd.Timestamp("2024-01-07")
    with pytest.raises(Exception, match="never guessed"):
        parse_date("01/07/2024", "x")


def test_many_blank_cells_are_one_warning_line(tmp_path, capsys):
    p = _project(tmp_path, "")
    (tmp_path / "h.csv").write_text("id,lat,lon,beds,icu\nH1,0.0,0.01,100,\nH2,0.0,0.49,200,\nH3,0.0,0.51,50,5\n")
    code, out = _cli(["run", str(p), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, out
    lines = [ln for ln in out.splitlines() if "blank" in ln and "h.csv" in ln]
    assert lines == ["warning: h.csv, column 'icu': 2 blank cells (rows 2, 3), so the icu of those facilities is unknown: "
                     "they are left out of the icu measures only (their other capacities count)"], out
    a = pd.read_csv(tmp_path / "out" / "access.csv").set_index("region")
    assert a.loc["A", "beds"] == 100 and a.loc["B", "beds"] == 250 and a.loc["B", "icu"] == 5
    # A's only hospital has no ICU figure: A's ICU total is unknown (not 0), and said
    assert np.isnan(a.loc["A", "icu"]) and np.isnan(a.loc["A", "icu_per_1000"])
    assert "icu unknown at 1 facility (H1): no icu total or rate" in a.loc["A", "note"]
    al = pd.read_csv(tmp_path / "out" / "allocation.csv").set_index("region")
    assert "A" not in al.index  # its ICU capacity is unknown: left out of the ICU allocation (reported)
    rep = pd.read_csv(tmp_path / "out" / "cleaning_report.csv")
    assert (rep["step"] == "capacity unknown: left out of the allocation").any()


def test_nearest_facility_out_of_reach_is_said(tmp_path, capsys):
    p = _project(tmp_path, "20")
    (tmp_path / "regions.csv").write_text("Code,Name,Pop,lat,lon,need\nA,Alpha,10000,0.0,0.0,5\n"
                                          "D,Delta,3000,40.0,40.0,2\n")
    p.write_text(p.read_text().replace("method: 2sfca", "method: nearest"))
    code, out = _cli(["run", str(p), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, out
    a = pd.read_csv(tmp_path / "out" / "access.csv", keep_default_na=False, dtype=str).set_index("region")
    # by hand: H1 is 0.01 degrees of longitude (1.112 km) from A; nothing within 100 km of D
    assert float(a.loc["A", "nearest_beds_km"]) == pytest.approx(1.112, abs=1e-3) and a.loc["A", "note"] == ""
    assert a.loc["D", "nearest_beds_km"] == ""
    assert a.loc["D", "note"] == "nearest_beds_km: no facility with beds within reach"


def test_dashboard_rates_say_why_a_rate_is_empty():
    from equicare.analyze.describe import capacity_by_region, per_capita

    regions = pd.DataFrame({"id": ["A", "B", "C"], "population": [1000.0, 0.0, 500.0],
                            "pop_65plus": [100.0, 0.0, np.nan]})
    fac = pd.DataFrame({"region": ["A", "A", "C"], "cap_beds": [10.0, np.nan, 5.0]})
    df = per_capita(regions, capacity_by_region(fac, regions, columns=["cap_beds"]), ["cap_beds"]).set_index("id")
    assert df.loc["A", "cap_beds_per_1000"] == 10
    assert "1 facility with an unknown value counted as 0" in df.loc["A", "note"]
    assert np.isnan(df.loc["B", "cap_beds_per_1000"])
    assert "no people: the rates per 1000 do not apply" in df.loc["B", "note"]
    assert np.isnan(df.loc["C", "cap_beds_per_1000_65plus"])
    assert "unknown number of people aged 65+" in df.loc["C", "note"]
