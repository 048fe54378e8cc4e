"""Small areas inside the regions (`subregions`): rates, access, shortage areas and inequality by level, on a
hand-worked project with text ids (no US codes), and the checks on the project file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from equicare.errors import ValidationError
from equicare.project import check_project, run_project


def _project(tmp_path, **changes):
    pd.DataFrame({"code": ["P01", "P02"], "name": ["North", "South"], "pop": [3000, 1000],
                  "lat": [0.0, 0.0], "lon": [0.0, 1.0]}).to_csv(tmp_path / "provinces.csv", index=False)
    pd.DataFrame({"code": ["D1", "D2", "D3", "D4"], "province": ["P01", "P01", "P01", "P02"],
                  "name": ["a", "b", "c", "d"], "pop": [1000, 1000, 1000, 1000], "older": [100, 200, 0, 50],
                  "lat": [0.0, 0.0, 0.0, 0.0], "lon": [0.0, 0.05, 0.5, 1.0]}).to_csv(tmp_path / "districts.csv",
                                                                                      index=False)
    # h1 at D1 (10 beds), h2 at D2 (20 beds), h3 at D4 (5 beds); D3 is 50 km from every hospital
    pd.DataFrame({"id": ["h1", "h2", "h3"], "lat": [0.0, 0.0, 0.0], "lon": [0.001, 0.049, 0.999],
                  "beds": [10, 20, 5]}).to_csv(tmp_path / "hospitals.csv", index=False)
    pd.DataFrame({"file": ["census.xlsx"], "step": ["merged districts"], "column": ["code"], "count": [3],
                  "detail": ["split in 2019"]}).to_csv(tmp_path / "prepared.csv", index=False)
    doc = {"name": "districts", "prepared": "prepared.csv",
           "regions": {"file": "provinces.csv", "id": "code", "name": "name", "population": "pop", "lat": "lat",
                       "lon": "lon"},
           "subregions": {"file": "districts.csv", "id": "code", "parent": "province", "name": "name",
                          "population": "pop", "population_65plus": "older", "lat": "lat", "lon": "lon"},
           "facilities": {"file": "hospitals.csv", "id": "id", "lat": "lat", "lon": "lon", "capacity": ["beds"]},
           "access": {"method": "2sfca", "max_km": 20, "shortage_fraction": 0.5}}
    for key, value in changes.items():
        sec, _, k = key.partition(".")
        doc[sec][k] = value
    path = tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_small_area_rates_access_and_shortage_by_hand(tmp_path):
    res = run_project(_project(tmp_path), tmp_path / "out", write_report=True)
    sub = res.tables["subregion_access"].set_index("subregion")
    # each hospital lies within 20 km of its own district point only, except h1 and h2: both within 20 km of D1
    # and D2 (5.6 km apart).  2SFCA: h1, h2 serve 2,000 people each; D1 = D2 = (10 + 20) / 2000 per person.
    np.testing.assert_allclose(sub.loc[["D1", "D2", "D3", "D4"], "2sfca_beds_per_1000"], [15.0, 15.0, 0.0, 5.0])
    np.testing.assert_allclose(sub.loc[["D1", "D2", "D3", "D4"], "beds"], [10, 20, 0, 5])  # nearest district point
    np.testing.assert_allclose(sub.loc["D1", "beds_per_1000_65plus"], 100.0)
    assert np.isnan(sub.loc["D3", "beds_per_1000_65plus"])  # no older people: no rate, never infinite
    assert list(sub["region"]) == ["P01", "P01", "P01", "P02"]
    reg = res.tables["access"].set_index("region")
    np.testing.assert_allclose(reg.loc[["P01", "P02"], "beds"], [30, 5])  # nearest province point
    np.testing.assert_allclose(reg.loc[["P01", "P02"], "2sfca_beds_per_1000"], [10.0, 5.0])  # pop.-weighted means
    s = res.summary
    assert s["access_level"] == "small area" and s["population_without_access"] == 1000
    assert s["subregions_without_facility"] == 1
    # the line is half the population-weighted mean (35 / 4 = 8.75 per 1,000): only D3 (0) is below 4.375
    short = res.tables["shortage_areas"]
    assert list(short["id"]) == ["D3"] and short["line"].iloc[0] == pytest.approx(4.375)
    assert short["supply_gap"].iloc[0] == pytest.approx(4.375)  # 4.375 per 1,000 for 1,000 people
    assert s["shortage"]["regions"] == 1 and s["shortage"]["people"] == 1000
    ineq = res.tables["inequality"]
    assert set(ineq["level"]) == {"small area", "region"}
    g = ineq.query("level == 'region' and indicator == 'beds_per_1000' and measure == 'gini'").estimate.iloc[0]
    # two regions, rates 10 and 5 per 1,000, weights 3 and 1: Gini = 3*1*5*2 / (2 * 16 * 8.75)
    assert g == pytest.approx(30 / (2 * 16 * 8.75))
    clean = res.tables["cleaning_report"]
    assert clean.iloc[0]["file"] == "census.xlsx" and clean.iloc[0]["detail"] == "split in 2019"
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Shortage areas" in html and 'id="map-access"' in html and 'data-id="D3"' in html
    assert "data-fips=" not in html  # no US atlas for a project with text ids


def test_facility_small_area_column(tmp_path):
    path = _project(tmp_path, **{"facilities.subregion": "district"})
    hosp = pd.read_csv(tmp_path / "hospitals.csv").assign(district=["D2", "D2", "D9"])
    hosp.to_csv(tmp_path / "hospitals.csv", index=False)
    res = run_project(path, tmp_path / "out", write_report=False)
    sub = res.tables["subregion_access"].set_index("subregion")
    np.testing.assert_allclose(sub.loc[["D1", "D2", "D4"], "beds"], [0, 30, 0])  # D9 is no district: region only
    assert res.tables["access"].set_index("region").loc["P02", "beds"] == 5
    steps = res.tables["cleaning_report"]["step"].tolist()
    assert "small area unknown: counted in its region only" in steps


def test_parent_ids_are_checked_with_the_lost_zeros_hint(tmp_path):
    path = _project(tmp_path)
    d = pd.read_csv(tmp_path / "districts.csv", dtype=str)
    d.loc[3, "province"] = "P2"
    d.to_csv(tmp_path / "districts.csv", index=False)
    with pytest.raises(ValidationError, match="P2"):
        check_project(path)
    bad = _project(tmp_path, **{"access.shortage_fraction": 1.5})
    with pytest.raises(ValidationError, match="shortage_fraction"):
        check_project(bad)
