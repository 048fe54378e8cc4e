"""The project file's travel section: access on road travel times instead of great-circle distance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from equicare.analyze.access import two_step_fca
from equicare.analyze.costs import cost_matrix_from_long
from equicare.analyze.travel import travel_costs
from equicare.errors import ValidationError
from equicare.project import load_project, run_project


def _fixture(tmp_path: Path, travel: dict) -> Path:
    import geopandas as gpd
    import shapely

    n = 6
    x, y = np.meshgrid(np.arange(n) * 500.0 + 5e5, np.arange(n) * 500.0 + 6.6e6)
    lines = [shapely.LineString([(x[i, 0], y[i, 0]), (x[i, -1], y[i, -1])]) for i in range(n)]
    lines += [shapely.LineString([(x[0, j], y[0, j]), (x[-1, j], y[-1, j])]) for j in range(n)]
    gpd.GeoDataFrame({"speed": [30.0] * len(lines)}, geometry=lines, crs="EPSG:32635").to_file(
        tmp_path / "roads.geojson", driver="GeoJSON")
    rng = np.random.default_rng(4)
    pts = gpd.GeoSeries(gpd.points_from_xy(rng.uniform(5e5, 5e5 + 2500, 12), rng.uniform(6.6e6, 6.6e6 + 2500, 12)),
                        crs="EPSG:32635").to_crs(4326)
    pd.DataFrame({"code": [f"R{i:02d}" for i in range(9)], "name": [f"Region {i}" for i in range(9)],
                  "population": rng.integers(100, 5000, 9), "lat": pts.y[:9], "lon": pts.x[:9]}
                 ).to_csv(tmp_path / "regions.csv", index=False)
    pd.DataFrame({"id": ["h1", "h2", "h3"], "lat": pts.y[9:].to_numpy(), "lon": pts.x[9:].to_numpy(),
                  "beds": [10, 20, 30]}).to_csv(tmp_path / "hospitals.csv", index=False)
    doc = {"name": "roads", "regions": {"file": "regions.csv", "id": "code", "name": "name",
                                         "population": "population", "lat": "lat", "lon": "lon"},
           "facilities": {"file": "hospitals.csv", "id": "id", "lat": "lat", "lon": "lon", "capacity": ["beds"]},
           "access": {"method": "2sfca", "supply": ["beds"]}, "travel": travel}
    p = tmp_path / "project.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def test_access_on_travel_times_equals_2sfca_on_the_travel_table(tmp_path):
    p = _fixture(tmp_path, {"network": "roads.geojson", "mode": "drive", "max_minutes": 6})
    run_project(p, tmp_path / "out")
    got = pd.read_csv(tmp_path / "out" / "access.csv", dtype={"region": str}).set_index("region")
    reg = pd.read_csv(tmp_path / "regions.csv").rename(columns={"code": "id"})
    fac = pd.read_csv(tmp_path / "hospitals.csv")
    tc = travel_costs(reg[["id", "lat", "lon"]], fac[["id", "lat", "lon"]], network=str(tmp_path / "roads.geojson"),
                      max_minutes=6)
    C = cost_matrix_from_long(tc.table[["origin", "destination", "cost"]], reg["id"], fac["id"])
    ref = two_step_fca(C, reg["population"].to_numpy(float), fac["beds"].to_numpy(float), max_cost=6) * 1000
    np.testing.assert_allclose(got.loc[reg["id"], "2sfca_beds_per_1000"].to_numpy(), ref, rtol=1e-12)
    assert len(tc.table) < 27  # the cut-off matters on this network


def test_travel_fallback_and_bad_network(tmp_path):
    p = _fixture(tmp_path, {"max_minutes": 10})
    run_project(p, tmp_path / "out")
    assert (tmp_path / "out" / "access.csv").exists()
    bad = _fixture(tmp_path, {"network": "nowhere.pbf"})
    with pytest.raises(ValidationError, match="travel.network.*file not found"):
        load_project(bad)
    unknown = _fixture(tmp_path, {"networks": "roads.geojson"})
    with pytest.raises(ValidationError, match="did you mean 'network'"):
        load_project(unknown)
