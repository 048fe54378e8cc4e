"""Stored datasets used by the analysis commands by id, the missing-value policy from the command line, and
the export of a cleaned table."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from equicare.cli import app

REGIONS = """id,name,population,lat,lon
D001,North,12000,-1.20,36.80
D002,South,8000,-1.40,36.90
D003,East,,-1.30,37.20
"""
FACILITIES = """id,name,region,lat,lon,cap_beds
h1,A,D001,-1.21,36.81,40
h2,B,D002,-1.41,36.88,10
h3,C,D003,-1.31,37.19,
"""


def test_load_with_policy_then_access_by_dataset_id(tmp_path) -> None:
    (tmp_path / "r.csv").write_text(REGIONS)
    (tmp_path / "f.csv").write_text(FACILITIES)
    store = str(tmp_path / "s.duckdb")
    r = CliRunner()
    a = r.invoke(app, ["load", str(tmp_path / "r.csv"), "--kind", "regions", "--store", store,
                       "--missing", "population=impute_median"])
    assert a.exit_code == 0, a.output
    assert "impute_median (median 10000)" in a.output
    b = r.invoke(app, ["load", str(tmp_path / "f.csv"), "--kind", "facilities", "--store", store,
                       "--missing", "impute_zero"])
    assert b.exit_code == 0, b.output
    c = r.invoke(app, ["access", "--demand", "dataset:1", "--supply", "dataset:2", "--method", "2sfca",
                       "--max-km", "5", "--supply-value", "beds", "--store", store, "--out", str(tmp_path / "a.csv")])
    assert c.exit_code == 0, c.output
    acc = pd.read_csv(tmp_path / "a.csv", dtype={"id": str}).set_index("id")["2sfca_beds"]
    # each district reaches only its own hospital within 5 km: beds / population (D003 imputed to 10,000 people)
    assert acc.to_dict() == {"D001": 40 / 12000, "D002": 10 / 8000, "D003": 0.0}
    d = r.invoke(app, ["export", "1", "--store", store, "--out", str(tmp_path / "clean.csv")])
    assert d.exit_code == 0, d.output
    clean = pd.read_csv(tmp_path / "clean.csv", dtype={"id": str})
    assert clean["id"].tolist() == ["D001", "D002", "D003"] and clean["population"].tolist() == [12000, 8000, 10000]


def test_load_keeps_ids_as_written_and_names_lost_zeros(tmp_path) -> None:
    from equicare.store import Store

    (tmp_path / "r.csv").write_text("id,name,population,lat,lon\n001,A,10,1,36\n002,B,20,1.1,36.1\n")
    (tmp_path / "f.csv").write_text("id,name,region,lat,lon,cap_beds\nh1,X,1,1,36,5\n")
    store = str(tmp_path / "s.duckdb")
    r = CliRunner()
    a = r.invoke(app, ["load", str(tmp_path / "r.csv"), "--kind", "regions", "--store", store, "--name", "regions"])
    assert a.exit_code == 0, a.output
    with Store(store, read_only=True) as st:
        assert st.get_dataset(1)["id"].tolist() == ["001", "002"]  # not rewritten as FIPS 00001
    b = r.invoke(app, ["load", str(tmp_path / "f.csv"), "--kind", "facilities", "--store", store,
                       "--regions", "regions"])
    assert b.exit_code != 0
    assert "lost their leading zeros ('1' beside '001'" in str(b.exception)
