"""Every reader reports the row a spreadsheet shows (header = row 1, blank rows count) and plain values (issue 11,
item 14).  Each case puts a bad value on spreadsheet row 4, after a blank row 3, and runs the command."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

BLANK = "\n"


def _w(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _case_load(d: Path) -> tuple[list, str]:
    f = _w(d / "regions.csv", "id,name,population,lat,lon\nD1,A,10,1,1\n" + BLANK + "D2,B,-5,1,1\n")
    return ["load", f, "--kind", "regions", "--store", d / "s.duckdb"], "regions.csv, row 4, column 'population'"


def _access_files(d: Path) -> dict[str, Path]:
    return {"demand": _w(d / "D.csv", "id,population\no1,100\n" + BLANK + "o2,200\n"),
            "supply": _w(d / "S.csv", "id,capacity\ns1,5\n" + BLANK + "s2,3\n"),
            "cost": _w(d / "C.csv", "origin,destination,cost\no1,s1,1\n" + BLANK + "o2,s2,2\no1,s2,3\no2,s1,4\n")}


def _access_args(f: dict[str, Path]) -> list:
    return ["access", "--demand", f["demand"], "--supply", f["supply"], "--cost", f["cost"], "--method", "2sfca",
            "--max-cost", "10"]


def _case_access_demand(d: Path):
    f = _access_files(d)
    _w(f["demand"], "id,population\no1,100\n" + BLANK + "o2,abc\n")
    return _access_args(f), "D.csv, row 4, column 'population'"


def _case_access_supply(d: Path):
    f = _access_files(d)
    _w(f["supply"], "id,capacity\ns1,5\n" + BLANK + "s2,-3\n")
    return _access_args(f), "S.csv, row 4, column 'capacity'"


def _case_access_cost(d: Path):
    f = _access_files(d)
    _w(f["cost"], "origin,destination,cost\no1,s1,1\n" + BLANK + "o2,s2,-2\no1,s2,3\no2,s1,4\n")
    return _access_args(f), "C.csv, row 4, column 'cost'"


def _locate_files(d: Path) -> tuple[Path, Path]:
    return (_w(d / "cost.csv", "origin,destination,cost\nA,S1,10\n" + BLANK + "B,S1,5\n"),
            _w(d / "demand.csv", "id,demand\nA,1\n" + BLANK + "B,2\n"))


def _case_locate_cost(d: Path):
    c, m = _locate_files(d)
    _w(c, "origin,destination,cost\nA,S1,10\n" + BLANK + "B,S1,-5\n")
    return ["locate", "--cost", c, "--demand", m, "--model", "pmedian", "--p", "1", "--out", d / "o.json"], \
        "cost.csv, row 4, column 'cost'"


def _case_locate_demand(d: Path):
    c, m = _locate_files(d)
    _w(m, "id,demand\nA,1\n" + BLANK + "B,-2\n")
    return ["locate", "--cost", c, "--demand", m, "--model", "pmedian", "--p", "1", "--out", d / "o.json"], \
        "demand.csv, row 4, column 'demand'"


def _case_inequality_regions(d: Path):
    f = _w(d / "r.csv", "id,rate,pop\na,1,10\n" + BLANK + "b,-2,20\nc,3,5\n")
    return ["inequality", "--regions", f, "--value", "rate", "--weight", "pop"], "r.csv, row 4, column 'rate'"


def _case_inequality_heat(d: Path):
    head = "setting,date,indicator_abbr,dimension,subgroup,estimate,population\n"
    f = _w(d / "h.csv", head + "X,2020,sba,Sex,Female,40,100\n" + BLANK + "X,2020,sba,Sex,Male,abc,100\n")
    return ["inequality", "--data", f], "h.csv, row 4, column 'estimate'"


_TRUTH_HEAD = "date,location,location_name,value,weekly_rate\n"


def _case_forecast_truth(d: Path):
    f = _w(d / "t.csv", _TRUTH_HEAD + "2024-01-06,01,A,5,0.1\n" + BLANK + "2024-01-13,01,A,-1,0.1\n")
    return ["forecast", "--truth", f, "--reference-date", "2024-01-20", "--out", d / "f.csv", "--no-extras"], \
        "t.csv, row 4, column 'value'"


def _case_backtest_truth(d: Path):
    f = _w(d / "t.csv", _TRUTH_HEAD + "2024-01-06,01,A,5,0.1\n" + BLANK + "2024-01-12,01,A,1,0.1\n")
    return ["backtest", "--truth", f, "--start", "2024-01-20", "--end", "2024-01-20", "--out", d / "f.csv",
            "--no-extras"], "t.csv, row 4, column 'date'"


def _case_score_forecasts(d: Path):
    head = "reference_date,horizon,target,target_end_date,location,output_type,output_type_id,value\n"
    row = "2024-01-13,0,wk inc flu hosp,2024-01-13,01,quantile,{lv},{v}\n"
    f = _w(d / "fc.csv", head + row.format(lv=0.5, v=3) + BLANK + row.format(lv=0.6, v="abc"))
    t = _w(d / "t.csv", _TRUTH_HEAD + "2024-01-13,01,A,5,0.1\n")
    return ["score", "--forecasts", f, "--truth", t], "fc.csv, row 4, column 'value'"


def _case_allocate_demand(d: Path):
    _w(d / "demand.csv", "region,resource,scenario,value\nA,beds,low,10\n" + BLANK + "B,beds,low,-3\n")
    spec = {"name": "rows", "regions": {"rows": [{"id": "A"}, {"id": "B"}]},
            "resources": {"beds": {"unit": "bed", "unit_cost": 1, "stock": 5}},
            "demand": {"file": "demand.csv"}}
    p = d / "s.yaml"
    p.write_text(yaml.safe_dump(spec))
    return ["allocate", p, "--out", d / "out"], "demand.csv, row 4, column 'value'"


CASES = {k.removeprefix("_case_"): v for k, v in globals().items() if k.startswith("_case_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reader_reports_spreadsheet_rows(name, tmp_path, run_cli):
    args, where = CASES[name](tmp_path)
    code, out, err = run_cli(*args)
    assert code == 2, (out, err)
    assert where in err, err
    assert "Traceback" not in err and "np." not in err


def test_every_command_that_reads_a_table_is_covered():
    covered = {n.split("_")[0] for n in CASES}
    assert {"load", "access", "locate", "inequality", "forecast", "backtest", "score", "allocate"} <= covered


@pytest.mark.parametrize("name,target", [("access_demand", "D.csv"), ("locate_demand", "demand.csv"),
                                         ("inequality_regions", "r.csv"), ("load", "regions.csv"),
                                         ("forecast_truth", "t.csv"), ("allocate_demand", "demand.csv")])
def test_shifted_rows_and_duplicate_columns_are_refused_by_every_command(name, target, tmp_path, run_cli):
    args, _ = CASES[name](tmp_path)
    path = tmp_path / target
    head, *rest = path.read_text().splitlines()
    path.write_text("\n".join([head, rest[0], rest[0] + ",1,5"]) + "\n")  # a row with two more fields
    code, _, err = run_cli(*args)
    assert code == 2 and f"{target}, row 3: row has" in err and "Traceback" not in err, err
    first = head.split(",")[-1]
    path.write_text("\n".join([head + "," + first.upper(), rest[0] + ",1"]) + "\n")
    code, _, err = run_cli(*args)
    assert code == 2 and "duplicate column name" in err and f"'{first.upper()}'" in err, err
