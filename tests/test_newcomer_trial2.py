"""A second newcomer trial (a planner outside the US, own small files): the faults found and fixed.

Each test runs the command line as a planner does (``equicare.cli.main``: exit code 2 and a message for a user
error, never a traceback) on small made-up files, and checks answers by hand or by brute force.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_run import cli as _cli


def _weekly_series(path: Path) -> None:
    """Three districts with text ids ('007', 'KE-047', Latin-1 'Région-3'), semicolons, a trailing blank line."""
    rng = np.random.default_rng(2)
    dates = pd.date_range("2023-01-02", periods=60, freq="7D")
    rows = [(reg, d.strftime("%Y-%m-%d"), int(v)) for reg in ("007", "KE-047", "Région-3")
            for d, v in zip(dates, rng.poisson(6, len(dates)))]
    text = pd.DataFrame(rows, columns=["District", "Week", "Cases"]).to_csv(sep=";", index=False) + "\n"
    path.write_bytes(text.encode("latin-1"))


# --- score: a forecast of the planner's own series gave a traceback ------------------------------------------

def test_score_of_a_series_forecast_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    _weekly_series(tmp_path / "weekly.csv")
    code, out = _cli(["forecast", "--series", str(tmp_path / "weekly.csv"), "--region", "District", "--date",
                      "Week", "--value", "Cases", "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 0, out
    assert (tmp_path / "f.csv").read_text().count("KE-047") > 0
    code, out = _cli(["score", "--forecasts", str(tmp_path / "f.csv")], capsys)
    assert code == 2, out
    assert "Traceback" not in out and "IndexError" not in out
    assert "f.csv, column 'target'" in out and "wk inc flu hosp" in out and "wk inc cases" in out


def test_check_forecasts_accepts_an_empty_table():
    from equicare.forecast.hub import COLUMNS, check_forecasts

    out = check_forecasts(pd.DataFrame(columns=list(COLUMNS)), "empty.csv")
    assert out.empty


# --- forecast --series silently ignored the flu-only options (--deadline-days, --vintages, ...) ---------------

@pytest.mark.parametrize("extra", [["--deadline-days", "2"], ["--nowcast"], ["--missing-weeks", "carry"],
                                   ["--adaptive-spread", "4:both"], ["--truth", "x.csv"]])
def test_forecast_series_refuses_flu_only_options(tmp_path, capsys, extra):
    _weekly_series(tmp_path / "weekly.csv")
    out_csv = tmp_path / "f.csv"
    code, out = _cli(["forecast", "--series", str(tmp_path / "weekly.csv"), "--region", "district", "--date",
                      "week", "--value", "cases", "--out", str(out_csv), *extra], capsys)
    assert code == 2, out
    assert extra[0] in out and "--series" in out and "Traceback" not in out
    assert not out_csv.exists()  # nothing written


def test_forecast_series_integer_gives_whole_quantiles(tmp_path, capsys):
    _weekly_series(tmp_path / "weekly.csv")
    code, out = _cli(["forecast", "--series", str(tmp_path / "weekly.csv"), "--region", "district", "--date",
                      "week", "--value", "cases", "--model", "damped_trend", "--integer",
                      "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 0, out
    v = pd.read_csv(tmp_path / "f.csv")["value"].to_numpy(float)
    assert np.all(v == np.round(v)) and np.all(v >= 0)


# --- locate: column names were matched case-sensitively (load and run ignore case) ----------------------------

def _locate_files(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """A sparse cost table (some pairs missing) with planner ids, semicolons, decimal commas, Latin-1 and a
    trailing blank line; headers in other cases; a capacity file with an extra site."""
    rng = np.random.default_rng(1)
    dem = [f"KE-{i:03d}" for i in range(1, 8)]
    sites = ["007", "010", "S3", "S4"]
    w = rng.integers(1, 20, len(dem))
    C = rng.integers(1, 50, (len(dem), len(sites))).astype(float)
    C[rng.random(C.shape) < 0.2] = np.inf
    C[:, 0] = np.where(np.isinf(C[:, 0]), 30.0, C[:, 0])  # every point reachable from site 007
    lines = ["Origin; Destination ;COST"] + [f"{d};{s};{str(C[i, j]).replace('.', ',')}" for i, d in enumerate(dem)
                                            for j, s in enumerate(sites) if np.isfinite(C[i, j])]
    (folder / "cost.csv").write_bytes(("\n".join(lines) + "\n\n").encode("latin-1"))
    (folder / "dem.csv").write_bytes(("ID;Demand;Nom\n" + "".join(f"{d};{x};Région é\n" for d, x in zip(dem, w))
                                      ).encode("latin-1"))
    cap = np.array([40, 35, 60, 25])
    (folder / "cap.csv").write_text("Id,Capacity\n" + "".join(f"{s},{q}\n" for s, q in zip(sites, cap)) + "S9,100\n")
    return C, w, cap, dem, sites


def _brute_cpmedian(C, w, cap, p) -> float:
    """Single-source capacitated p-median by enumeration of the sites and of every assignment."""
    best = np.inf
    n, m = C.shape
    for S in itertools.combinations(range(m), p):
        for a in itertools.product(S, repeat=n):
            cost = sum(w[i] * C[i, s] for i, s in enumerate(a))
            if np.isfinite(cost) and cost < best and all(w[[i for i in range(n) if a[i] == s]].sum() <= cap[s]
                                                         for s in S):
                best = cost
    return best


def test_locate_matches_column_names_ignoring_case(tmp_path, capsys):
    C, w, cap, dem, sites = _locate_files(tmp_path)
    out = tmp_path / "o.json"
    code, text = _cli(["locate", "--cost", str(tmp_path / "cost.csv"), "--demand", str(tmp_path / "dem.csv"),
                       "--model", "cpmedian", "--capacity", str(tmp_path / "cap.csv"), "--p", "2",
                       "--out", str(out)], capsys)
    assert code == 0, text
    res = json.loads(out.read_text())
    assert res["objective"] == pytest.approx(_brute_cpmedian(C, w, cap, 2))
    assert set(res["assignment"]) == set(dem) and set(res["selected_sites"]) <= set(sites)
    # a column that is not there at all: named, with the columns found, exit 2, nothing written
    out2 = tmp_path / "o2.json"
    code, text = _cli(["locate", "--cost", str(tmp_path / "cost.csv"), "--demand", str(tmp_path / "dem.csv"),
                       "--model", "pmedian", "--p", "2", "--demand-value", "population", "--out", str(out2)], capsys)
    assert code == 2 and "dem.csv" in text and "'population'" in text and "Demand" in text, text
    assert not out2.exists()


# --- locate: demand ids absent from the cost table (MCLP answered as if those points were out of reach) --------

def _cost_and_demand(folder: Path, demand_ids: list[str]) -> None:
    rows = [(d, s, c) for d, cs in (("KE-001", (5, 9)), ("KE-002", (12, 3)), ("KE-003", (7, 7)))
            for s, c in zip(("007", "010"), cs)]
    pd.DataFrame(rows, columns=["origin", "destination", "cost"]).to_csv(folder / "C.csv", index=False)
    pd.DataFrame({"id": demand_ids, "demand": [10] * len(demand_ids)}).to_csv(folder / "D.csv", index=False)


@pytest.mark.parametrize("model", [["mclp", "--p", "1", "--service-radius", "6"], ["pmedian", "--p", "1"],
                                   ["pcenter", "--p", "1"], ["lscp", "--service-radius", "10"]])
def test_demand_ids_written_otherwise_than_in_the_cost_table_are_named(tmp_path, capsys, model):
    _cost_and_demand(tmp_path, ["KE-001", "KE-2", "ke-003"])  # the planner's file lost zeros / changed case
    out = tmp_path / "o.json"
    code, text = _cli(["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                       "--model", *model, "--out", str(out)], capsys)
    assert code == 2, text
    assert "D.csv, row 3, column 'id'" in text and "which has 'KE-002'" in text
    assert "D.csv, row 4, column 'id'" in text and "which has 'KE-003'" in text
    assert not out.exists()


def test_mclp_says_which_demand_points_are_not_in_the_cost_table(tmp_path, capsys):
    _cost_and_demand(tmp_path, ["KE-001", "KE-002", "KE-003", "KE-099"])  # KE-099: no pair at all (far away)
    out = tmp_path / "o.json"
    code, text = _cli(["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                       "--model", "mclp", "--p", "1", "--service-radius", "7", "--out", str(out)], capsys)
    assert code == 0, text
    res = json.loads(out.read_text())
    assert res["objective"] == 20  # by hand: site 007 covers KE-001 (5) and KE-003 (7); 010 covers KE-002, KE-003
    assert "note:" in text and "KE-099" in text and any("KE-099" in n for n in res["details"]["notes"])
    # a demand file none of whose ids is in the cost table is refused, for MCLP too
    _cost_and_demand(tmp_path, ["A", "B"])
    code, text = _cli(["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                       "--model", "mclp", "--p", "1", "--service-radius", "7", "--out", str(tmp_path / "o2.json")],
                      capsys)
    assert code == 2 and "not an origin in the cost table" in text, text


def test_capacity_ids_that_lost_their_zeros_are_named(tmp_path, capsys):
    _cost_and_demand(tmp_path, ["KE-001", "KE-002", "KE-003"])
    (tmp_path / "Q.csv").write_text("id,capacity\n7,100\n10,100\n")
    code, text = _cli(["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                       "--model", "cpmedian", "--capacity", str(tmp_path / "Q.csv"), "--p", "1",
                       "--out", str(tmp_path / "o.json")], capsys)
    assert code == 2 and "'7' (not '007')" in text and "'10' (not '010')" in text, text


# --- cpmedian's progress lines showed the uncapacitated relaxation's "done" as its own incumbent -------------

def test_cpmedian_progress_lines_never_show_an_incumbent_below_the_answer():
    from equicare.optimize.location.capacitated import capacitated_p_median
    from equicare.optimize.location.progress import Progress

    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 100, (60, 2))
    sites = pts[rng.choice(60, 12, replace=False)]
    C = np.hypot(pts[:, None, 0] - sites[None, :, 0], pts[:, None, 1] - sites[None, :, 1])
    w = rng.integers(1, 100, 60).astype(float)
    Q = np.full(12, np.ceil(w.sum() * 1.1 / 3))  # tight: the capacities bind

    lines = []

    class Recorder(Progress):
        def report(self, phase, incumbent, bound, force=False):
            lines.append((self.label, phase, incumbent))

    prog = Recorder(False, None)
    res = capacitated_p_median(C, w, Q, 3, progress=prog)
    assert res.proven_optimal
    base = "capacitated p-median p=3"
    own = [(ph, inc) for lab, ph, inc in lines if lab == base and np.isfinite(inc)]
    assert all(inc >= res.objective - 1e-6 for ph, inc in own), own
    relaxed = [inc for lab, ph, inc in lines if lab != base and np.isfinite(inc)]
    assert relaxed and min(relaxed) < res.objective  # the relaxation's lines are there, under their own label


@pytest.mark.parametrize("which", ["C.csv", "D.csv"])
def test_locate_header_only_file_is_said_once(tmp_path, capsys, which):
    _cost_and_demand(tmp_path, ["KE-001", "KE-002", "KE-003"])
    head = (tmp_path / which).read_text().splitlines()[0]
    (tmp_path / which).write_text(head + "\n\n")  # a header, then a trailing empty line
    code, text = _cli(["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                       "--model", "pmedian", "--p", "1", "--out", str(tmp_path / "o.json")], capsys)
    assert code == 2 and f"{which}: file has a header but no rows" in text, text
    assert "1 problem found" in text


# --- run: a regions CSV with lat/lon columns but no lat/lon keys said "give lat and lon" -----------------------

def test_run_check_names_the_coordinate_columns_the_file_has(tmp_path, capsys):
    text = "Code;Name;Pop;Latitude;LON\n007;Nyeri;120000;-0,42;36,95\nKE-047;Kisumu;300000;-0,09;34,77\n\n"
    (tmp_path / "regions.csv").write_bytes(text.encode("latin-1"))
    (tmp_path / "p.yaml").write_text("name: Trial\nregions:\n  file: regions.csv\n  id: Code\n  name: Name\n"
                                     "  population: Pop\n")
    code, out = _cli(["run", "--check", str(tmp_path / "p.yaml")], capsys)
    assert code == 2, out
    assert "regions.csv: no coordinates" in out and "lat: Latitude and lon: LON" in out


# --- run: "minimum share of need met 0.0%" beside a stock larger than the need, with nothing said -------------

def test_run_says_when_stock_is_not_placed(tmp_path, capsys):
    (tmp_path / "regions.csv").write_text("Code,Name,Pop,lat,lon,need\n007,Nyeri,120000,-0.42,36.95,3\n"
                                          "KE-047,Kisumu,300000,-0.09,34.77,4\n")
    (tmp_path / "h.csv").write_text("id,lat,lon,beds,icu\nH1,-0.40,36.90,80,2\nH2,-0.10,34.70,120,3\n")
    (tmp_path / "p.yaml").write_text(
        "name: Trial\nregions:\n  file: regions.csv\n  id: Code\n  name: Name\n  population: Pop\n  lat: lat\n"
        "  lon: lon\nfacilities:\n  file: h.csv\n  id: id\n  lat: lat\n  lon: lon\n  capacity: [beds, icu]\n"
        "access:\n  method: 2sfca\n  supply: beds\n  max_km: 100\nallocate:\n  resource: icu\n  stock: 10\n"
        "  need: need\ninequality:\n  n_boot: 20\n")
    code, out = _cli(["run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, out
    a = pd.read_csv(tmp_path / "out" / "allocation.csv", dtype={"region": str})
    # by hand: a region can add at most floor(0.2 x its ICU beds) = 0, so nothing can be placed
    assert a["allocated"].sum() == 0 and list(a["region"]) == ["007", "KE-047"]
    assert "placed 0" in out and "note: 10 of the 10 units are not placed" in out


# --- locate: --p with lscp and --service-radius with the median/center models were silently ignored -----------

@pytest.mark.parametrize("model,extra,said", [
    ("lscp", ["--service-radius", "45", "--p", "1"], "--p is not for --model lscp"),
    ("pmedian", ["--p", "2", "--service-radius", "5"], "--service-radius is for --model mclp or lscp"),
    ("cpmedian", ["--p", "2", "--service-radius", "5", "--capacity", "Q"], "--service-radius is for"),
    ("pcenter", ["--p", "2", "--service-radius", "5"], "pcenter has no radius")])
def test_locate_refuses_options_its_model_would_ignore(tmp_path, capsys, model, extra, said):
    _cost_and_demand(tmp_path, ["KE-001", "KE-002", "KE-003"])
    (tmp_path / "Q.csv").write_text("id,capacity\n007,100\n010,100\n")
    extra = [str(tmp_path / "Q.csv") if e == "Q" else e for e in extra]
    out = tmp_path / "o.json"
    code, text = _cli(["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                       "--model", model, *extra, "--out", str(out)], capsys)
    assert code == 2 and said in text, text
    assert not out.exists()


# --- run: row numbers in the project's files counted blank rows as absent (row 7 for a value on row 9) ----------

def test_run_check_row_numbers_count_blank_rows(tmp_path, capsys):
    (tmp_path / "r.csv").write_bytes("Code;Name;Pop;lat;lon\n007;Nyeri;100;-0,4;36,9\n\n010;Embu;abc;-0,5;37\n"
                                     "010;Région;5;-0,5;37\n".encode("latin-1"))
    (tmp_path / "p.yaml").write_text("name: T\nregions:\n  file: r.csv\n  id: Code\n  name: Name\n  population: Pop\n"
                                     "  lat: lat\n  lon: lon\n")
    code, out = _cli(["run", "--check", str(tmp_path / "p.yaml")], capsys)
    assert code == 2, out
    assert "r.csv, row 4, column 'Pop'" in out and "r.csv, row 5, column 'Code': duplicate region id" in out
    # a demand file with a blank line and an all-blank row before an id that lost its zeros
    (tmp_path / "r.csv").write_text("Code,Name,Pop,lat,lon\n007,Nyeri,100,-0.4,36.9\n010,Embu,50,-0.5,37\n")
    (tmp_path / "d.csv").write_text("prov,week,adm\n007,2023-01-07,8\n\n,,\n010,2023-01-07,6\n7,2023-01-14,5\n")
    (tmp_path / "p.yaml").write_text("name: T\nregions:\n  file: r.csv\n  id: Code\n  name: Name\n  population: Pop\n"
                                     "  lat: lat\n  lon: lon\ndemand:\n  file: d.csv\n  region: prov\n  date: week\n"
                                     "  value: adm\n")
    code, out = _cli(["run", "--check", str(tmp_path / "p.yaml")], capsys)
    assert code == 2 and "d.csv, row 6, column 'prov'" in out and "lost their leading zeros" in out, out


def test_cleaning_report_names_the_series_own_step(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("Code,Name,Pop,lat,lon\n007,Nyeri,100,-0.4,36.9\n010,Embu,50,-0.5,37\n")
    months = pd.date_range("2021-01-01", periods=30, freq="MS").strftime("%Y-%m-%d")
    rows = [f"{r},{m},{'' if (r, k) == ('010', 3) else 20 + k % 5}" for r in ("007", "010")
            for k, m in enumerate(months)]
    (tmp_path / "d.csv").write_text("prov,month,adm\n" + "\n".join(rows) + "\n")
    (tmp_path / "p.yaml").write_text("name: T\nmissing: drop\nregions:\n  file: r.csv\n  id: Code\n  name: Name\n"
                                     "  population: Pop\n  lat: lat\n  lon: lon\ndemand:\n  file: d.csv\n"
                                     "  region: prov\n  date: month\n  value: adm\n")
    from equicare.project.ingest import ingest
    from equicare.project.spec import load_project

    inp = ingest(load_project(tmp_path / "p.yaml"))
    text = " ".join(inp.report.to_frame()["detail"].astype(str))
    assert "blank months as not reported" in text and "blank weeks" not in text


def test_forecast_series_says_blank_values_are_read_as_not_reported(tmp_path, capsys):
    _weekly_series(tmp_path / "weekly.csv")
    lines = (tmp_path / "weekly.csv").read_bytes().decode("latin-1").split("\n")
    lines[7] = lines[7].rsplit(";", 1)[0] + ";"  # one blank count
    (tmp_path / "weekly.csv").write_bytes("\n".join(lines).encode("latin-1"))
    code, out = _cli(["forecast", "--series", str(tmp_path / "weekly.csv"), "--region", "District", "--date", "Week",
                      "--value", "Cases", "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 0, out
    assert "note: 1 blank value in weekly.csv column 'Cases' read as not reported" in out


# --- locate: the id 'NA' (Namibia) was read as a missing value -------------------------------------------------

def test_locate_keeps_ids_that_look_like_missing_value_words(tmp_path, capsys):
    (tmp_path / "C.csv").write_text("origin,destination,cost\nNA,1E5,3\nNA,12.0,4\nZA,1E5,5\nZA,12.0,1\n"
                                    "None,1E5,2\nNone,12.0,9\n")
    (tmp_path / "D.csv").write_text("id,demand\nNA,10\nZA,5\nNone,1\n")
    out = tmp_path / "o.json"
    code, text = _cli(["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                       "--model", "pmedian", "--p", "1", "--out", str(out)], capsys)
    assert code == 0, text
    res = json.loads(out.read_text())
    # by hand: site '12.0' costs 10*4 + 5*1 + 1*9 = 54, site '1E5' 10*3 + 5*5 + 1*2 = 57
    assert res["selected_sites"] == ["12.0"] and res["objective"] == 54
    assert res["assignment"] == {"NA": "12.0", "ZA": "12.0", "None": "12.0"}
    # a blank id is still missing, and 'NA' as a cost is still not a number
    (tmp_path / "C.csv").write_text("origin,destination,cost\nNA,1E5,NA\n,12.0,4\nZA,1E5,5\n")
    (tmp_path / "D.csv").write_text("id,demand\nNA,10\nZA,5\n")
    code, text = _cli(["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                       "--model", "pmedian", "--p", "1", "--out", str(out)], capsys)
    assert code == 2 and "row 2, column 'cost'" in text and "row 3, column 'origin'" in text, text


def test_read_table_ids_keep_missing_value_words():
    from equicare.data.readers import read_table

    df = read_table(b"Code,name,pop\nNA,Namibia,NA\n-,dash,3\n ,blank,4\n", ids=["code"])
    assert df["Code"].tolist()[:2] == ["NA", "-"] and pd.isna(df["Code"].iloc[2])
    assert pd.isna(df["pop"].iloc[0])  # other columns: NA is still missing


@pytest.mark.parametrize("declared", ["", "  delimiter: ','\n"])
def test_run_keeps_the_region_id_na(tmp_path, capsys, declared):
    (tmp_path / "r.csv").write_text("Code,Name,Pop,lat,lon\nNA,Namibia,2500000,-22.5,17\nZA,South Africa,NA,-30,25\n"
                                    "BW,Botswana,2400000,-22,24\n")
    (tmp_path / "d.csv").write_text("prov,week,adm\n" + "".join(f"{r},{d},{5 + k % 3}\n" for r in ("NA", "BW")
                                    for k, d in enumerate(pd.date_range("2023-01-07", periods=20, freq="7D")
                                                          .strftime("%Y-%m-%d"))))
    (tmp_path / "p.yaml").write_text("name: T\nmissing: drop\nregions:\n  file: r.csv\n  id: Code\n  name: Name\n"
                                     "  population: Pop\n  lat: lat\n  lon: lon\n" + declared
                                     + "demand:\n  file: d.csv\n  region: prov\n  date: week\n  value: adm\n")
    from equicare.project.ingest import ingest
    from equicare.project.spec import load_project

    inp = ingest(load_project(tmp_path / "p.yaml"))
    assert sorted(inp.regions["id"]) == ["BW", "NA"]  # ZA's population 'NA' is still a missing value (dropped)
    assert sorted(inp.demand.frame["location"].unique()) == ["BW", "NA"]


def test_forecast_series_keeps_the_region_id_na(tmp_path, capsys):
    days = pd.date_range("2024-01-01", periods=60, freq="D").strftime("%Y-%m-%d")
    (tmp_path / "s.csv").write_text("region,date,value\n" + "".join(f"{r},{d},{3 + k % 4}\n" for r in ("NA", "ZA")
                                                                       for k, d in enumerate(days)))
    code, out = _cli(["forecast", "--series", str(tmp_path / "s.csv"), "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 0, out
    f = pd.read_csv(tmp_path / "f.csv", dtype={"location": str}, keep_default_na=False)
    assert sorted(f["location"].unique()) == ["NA", "ZA"]


def test_forecast_series_reference_date_too_far_ahead_is_said_so(tmp_path, capsys):
    _weekly_series(tmp_path / "weekly.csv")  # Mondays 2023-01-02 .. 2024-02-19
    base = ["forecast", "--series", str(tmp_path / "weekly.csv"), "--region", "District", "--date", "Week",
            "--value", "Cases", "--out", str(tmp_path / "f.csv")]
    code, out = _cli(base + ["--reference-date", "2030-01-07"], capsys)  # a Monday, 307 weeks on
    assert code == 2 and "307 steps after the last observation (2024-02-19)" in out, out
    code, out = _cli(base + ["--reference-date", "2024-03-02"], capsys)  # a Saturday: off the grid
    assert code == 2 and "not on the weekly grid" in out and "2024-02-26" in out, out
    assert not (tmp_path / "f.csv").exists()


def test_locate_time_limit_used_up_names_what_took_it(tmp_path, capsys):
    _cost_and_demand(tmp_path, ["KE-001", "KE-002", "KE-003"])
    out = tmp_path / "o.json"
    code, text = _cli(["locate", "--cost", str(tmp_path / "C.csv"), "--demand", str(tmp_path / "D.csv"),
                       "--model", "mclp", "--p", "1", "--service-radius", "6", "--time-limit", "0.001",
                       "--out", str(out)], capsys)
    assert code == 2 and "time limit was used up" in text and "give a larger --time-limit" in text, text
    assert "0.00097" not in text and not out.exists()
