"""What a newcomer outside the US met on a small project of their own (issue 13): no "-0" in CSVs or the
report, planner labels in every report table, unplaced stock said, cost files checked by ``--check`` with their
own rows and columns in messages, and ids dropped by the missing-value policy still known."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml


def _project(folder: Path, *, stock: int = 50, need=("3", "-0", "2", "0", "5", "1"), costs: str | None = None,
             missing: str = "impute_zero", beds=("40", "", "25", "60", "10", "30")) -> Path:
    """Six square districts ``001``..``006`` (digit ids with leading zeros), one hospital in each."""
    folder.mkdir(parents=True, exist_ok=True)
    feats = []
    for k in range(6):
        x, y = 36.0 + 0.2 * (k % 3), -1.0 - 0.2 * (k // 3)
        ring = [[x, y], [x + 0.2, y], [x + 0.2, y - 0.2], [x, y - 0.2], [x, y]]
        feats.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                      "properties": {"code": f"{k + 1:03d}", "name": f"Wilaya {k + 1}", "pop": 10_000 * (k + 1),
                                     "need": need[k]}})
    (folder / "d.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    pd.DataFrame({"id": [f"H{k}" for k in range(1, 7)], "lat": [-1.1 - 0.2 * (k // 3) for k in range(6)],
                  "lon": [36.1 + 0.2 * (k % 3) for k in range(6)], "beds": list(beds),
                  "icu": ["4", "2", "3", "6", "1", "3"]}).to_csv(folder / "h.csv", index=False)
    doc = {"name": "Newcomer", "missing": missing,
           "regions": {"file": "d.geojson", "id": "code", "name": "name", "population": "pop"},
           "facilities": {"file": "h.csv", "id": "id", "lat": "lat", "lon": "lon", "capacity": ["beds", "icu"]},
           "access": {"method": "2sfca", "supply": "beds", "max_km": 40},
           "allocate": {"resource": "icu", "stock": stock, "need": "need", "surge_cap_ratio": 1.0},
           "inequality": {"n_boot": 20}}
    if costs is not None:
        doc["access"] = {"method": "2sfca", "supply": "beds", "costs": costs, "max_cost": 60}
    path = folder / "p.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_no_minus_zero_raw_names_and_unplaced_stock_said(tmp_path: Path) -> None:
    from equicare.project.run import run_project

    res = run_project(_project(tmp_path / "p"), tmp_path / "out")
    alloc = (tmp_path / "out" / "allocation.csv").read_text(encoding="utf-8")
    assert not re.search(r"(^|,)-0(\.0+)?(,|$)", alloc, re.M), alloc
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    tables = re.findall(r"<table.*?</table>", html, re.S)
    heads = " | ".join(h for t in tables for h in re.findall(r"<th[^>]*>(.*?)</th>", t, re.S))
    assert "_" not in heads and "per 1000" not in heads and "2sfca" not in heads, heads
    cells = [c for t in tables for c in re.findall(r"<td[^>]*>(.*?)</td>", t, re.S)]
    assert not any(re.fullmatch(r"-0(\.0+)?%?", c.strip()) for c in cells)
    # stock 50 > need 11: the report says how much is left and why, not a shadow price of 0
    left = 50 - int(round(res.summary["total_allocated"]))
    assert left > 0 and f"{left:,} of the 50 units are not placed" in html
    # digit ids with leading zeros stay text in the CSVs
    assert pd.read_csv(tmp_path / "out" / "access.csv", dtype=str)["region"].tolist()[:2] == ["001", "002"]


def test_minus_zero_never_reaches_a_csv_or_a_table(tmp_path: Path) -> None:
    """A need rounded up from a small negative is -0.0 in IEEE arithmetic; planners must see 0."""
    from equicare.project.run import write_csv_atomic
    from equicare.report.project_html import readable

    df = pd.DataFrame({"region": ["001", "002"], "need": [-0.0, 3.0], "share_met": [-0.0, 1.0], "x": [-0.0001, 2.5]})
    write_csv_atomic(df, tmp_path / "a.csv")
    text = (tmp_path / "a.csv").read_text()
    assert "-0.0," not in text and text.splitlines()[1].startswith("001,0,0,")
    # whole-number columns (needs, beds, people) are written without decimals; others keep theirs
    assert text.splitlines()[2] == "002,3,1,2.5"
    df2 = pd.DataFrame({"beds": [310.0, np.nan, 12.0], "rate": [1.0, 2.5, np.nan], "big": [1e300, 0.0, 1.0]})
    write_csv_atomic(df2, tmp_path / "b.csv")
    assert (tmp_path / "b.csv").read_text().splitlines() == ["beds,rate,big", "310,1.0,1e+300", ",2.5,0.0",
                                                              "12,,1.0"]
    html = readable(df)
    assert not re.search(r">-0(\.0+)?%?<", html), html


def _wide(folder: Path, origins=None, dests=None) -> str:
    origins = origins or [f"{k:03d}" for k in range(1, 7)]
    dests = dests or [f"H{k}" for k in range(1, 7)]
    m = pd.DataFrame([[5.0 + 10 * abs(i - j) for j in range(6)] for i in range(6)], columns=dests)
    m.insert(0, "district", origins)
    folder.mkdir(parents=True, exist_ok=True)
    m.to_csv(folder / "costs.csv", index=False)
    return "costs.csv"


def test_check_reads_the_cost_matrix_and_names_its_own_rows_and_columns(tmp_path: Path) -> None:
    from equicare.errors import ValidationError
    from equicare.project.run import check_project

    bad = _project(tmp_path / "a", costs=_wide(tmp_path / "a", dests=["H1", "H2", "H3", "H4", "H5", "H9"]))
    with pytest.raises(ValidationError) as e:
        check_project(bad)  # --check reads the cost file too, not only the run
    msgs = [str(p) for p in e.value.problems]
    assert len(msgs) == 1 and "costs.csv, row 1, column 'H9': unknown destination id" in msgs[0]
    zeros = _project(tmp_path / "b", costs=_wide(tmp_path / "b", origins=["1", "2", "3", "4", "5", "6"]))
    with pytest.raises(ValidationError) as e:
        check_project(zeros)
    text = str(e.value)
    assert "costs.csv, row 2, column 'district': unknown origin id" in text and "lost their leading zeros" in text


def test_a_facility_left_out_by_the_missing_policy_is_not_an_unknown_id(tmp_path: Path) -> None:
    from equicare.project.run import check_project, run_project

    path = _project(tmp_path / "p", missing="drop", costs=_wide(tmp_path / "p"))  # H2 has no beds: dropped
    _, inp, lines = check_project(path)
    assert "H2" not in set(inp.facilities["id"]) and any(line.startswith("costs: ") for line in lines)
    run_project(path, tmp_path / "out")
    rep = pd.read_csv(tmp_path / "out" / "cleaning_report.csv")
    row = rep[rep["file"] == "costs.csv"]
    assert len(row) == 1 and row["count"].iloc[0] == 6 and "H2" in row["detail"].iloc[0]


def test_access_max_km_without_an_id_column_is_a_message_not_a_traceback(tmp_path: Path, run_cli) -> None:
    pd.DataFrame({"code": ["001", "002"], "population": [100, 200], "lat": [-1.0, -1.2], "lon": [36.0, 36.2]}).to_csv(
        tmp_path / "d.csv", index=False)
    pd.DataFrame({"id": ["H1"], "beds": [10], "lat": [-1.1], "lon": [36.1]}).to_csv(tmp_path / "h.csv", index=False)
    code, out, err = run_cli("access", "--demand", tmp_path / "d.csv", "--supply", tmp_path / "h.csv",
                             "--method", "2sfca", "--max-km", "60", "--supply-value", "beds")
    assert code == 2 and "Traceback" not in err
    assert "d.csv, row 1, column 'id': required column is missing" in err


def test_a_forecast_worse_than_its_baseline_is_said(tmp_path: Path) -> None:
    """The need rides on the chosen model's forecast: when the back-test scores it worse than the baseline
    (here the flat baseline on small daily counts, scored against the count ensemble; before issue #13 the damped
    trend's intervals blew up on such counts, which is fixed), the run and the report say so."""
    from equicare.project.run import forecast_stage, load_project
    from equicare.project.ingest import ingest

    path = _project(tmp_path / "p")
    import numpy as np

    dates = pd.date_range("2024-01-01", periods=120, freq="D").strftime("%Y-%m-%d")
    counts = np.random.default_rng(3).poisson(5, (len(dates), 6))  # small daily counts
    rows = [(d, f"{k + 1:03d}", int(counts[i, k])) for i, d in enumerate(dates) for k in range(6)]
    pd.DataFrame(rows, columns=["day", "district", "cases"]).to_csv(tmp_path / "p" / "c.csv", index=False)
    doc = yaml.safe_load(path.read_text())
    doc["demand"] = {"file": "c.csv", "region": "district", "date": "day", "value": "cases"}
    doc["forecast"] = {"model": "flat_baseline", "baseline": "ensemble", "holdout": 5, "horizons": [0, 1]}
    path.write_text(yaml.safe_dump(doc))
    project = load_project(path)
    tables, summary = forecast_stage(project, ingest(project))
    ratio = float(tables["forecast_scores"].set_index("model").loc["flat_baseline", "wis_ratio_vs_baseline"])
    assert ratio > 1
    assert any("scored worse than the baseline 'ensemble'" in w for w in summary["warnings"])


def test_load_missing_policy_covers_the_files_own_number_columns(tmp_path: Path, run_cli) -> None:
    """``load --missing drop`` (a policy for every column) also drops a facility whose ``beds`` (a column the
    schema does not name) is blank, so ``access --supply dataset:ID`` then runs; ``--missing error`` refuses it."""
    (tmp_path / "r.csv").write_text("id,name,population,lat,lon\n001,A,1000,-1.0,36.0\n002,B,2000,-1.2,36.2\n")
    (tmp_path / "f.csv").write_bytes("id;name;region;lat;lon;beds\nH1;Hôpital 1;001;-1,0;36,0;10\n"
                                     "H2;Hôpital 2;002;-1,2;36,2;\n".encode("latin-1"))
    store = tmp_path / "s.duckdb"
    assert run_cli("load", tmp_path / "r.csv", "--kind", "regions", "--store", store)[0] == 0
    code, out, err = run_cli("load", tmp_path / "f.csv", "--kind", "facilities", "--store", store, "--missing", "error")
    assert code == 2 and "row 3, column 'beds': missing value" in err
    code, out, err = run_cli("load", tmp_path / "f.csv", "--kind", "facilities", "--store", store, "--missing", "drop")
    assert code == 0, err
    code, out, err = run_cli("access", "--demand", "dataset:1", "--supply", "dataset:2", "--method", "2sfca",
                             "--max-km", "60", "--supply-value", "beds", "--store", store, "--out", tmp_path / "a.csv")
    assert code == 0, err
    a = pd.read_csv(tmp_path / "a.csv", dtype={"id": str})
    assert a["id"].tolist() == ["001", "002"]  # ids stay text through load, the store and access
    # by hand: H2 dropped; H1's 10 beds serve both regions (31 km apart, within 60 km): 10 / 3,000 people each
    assert a["2sfca_beds"].tolist() == pytest.approx([10 / 3000, 10 / 3000])


def test_share_map_legend_says_no_need_and_no_empty_class() -> None:
    """The share-of-need map: a region with no need is "no need" (legend and hover), and the top class reads
    "100%", not "100% – 100%"."""
    from equicare.report.maps_geo import svg_region_map

    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": i, "name": f"Wilaya {i}"},
         "geometry": {"type": "Polygon", "coordinates": [[[k, 0], [k + 1, 0], [k + 1, 1], [k, 1], [k, 0]]]}}
        for k, i in enumerate(["001", "002", "003"])]}
    svg = svg_region_map(gj, {"001": 0.4, "002": 1.0, "003": float("nan")}, breaks=[0, 0.25, 0.5, 0.75, 0.999, 1.0],
                         flag_outliers=False, percent=True, missing_label="no need")
    assert "no need (1)" in svg and "Wilaya 003: no need" in svg
    assert "100% – 100%" not in svg and ">100%<" in svg
