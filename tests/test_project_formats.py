"""The project's inputs in other formats: GeoJSON and Shapefile layers in different CRSs, and regions as points in
a Latin-1 CSV with semicolons and decimal commas (declared), giving the same regions, points and results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from region_fixture import tokyo_source

pytestmark = pytest.mark.skipif(tokyo_source() is None, reason="libpysal's Tokyo example geometry is not installed")


@pytest.fixture(scope="module")
def regions():
    import geopandas as gpd

    g = gpd.read_file(tokyo_source())
    g = g[g["GEOCODE"].str.startswith("08")].reset_index(drop=True)  # 32 municipalities of Ibaraki
    g["pop"] = (np.arange(len(g)) + 1) * 1000
    return g[["GEOCODE", "AREANAME", "pop", "geometry"]]


def _project(tmp: Path, regions_spec: dict, facilities: pd.DataFrame) -> Path:
    facilities.to_csv(tmp / "fac.csv", index=False)
    doc = {"name": "formats", "regions": regions_spec,
           "facilities": {"file": "fac.csv", "id": "id", "lat": "lat", "lon": "lon", "capacity": ["beds"]},
           "access": {"method": "2sfca", "max_km": 25}, "inequality": {"n_boot": 20}}
    p = tmp / "p.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def test_same_results_from_geojson_shapefile_and_a_european_csv(regions, tmp_path) -> None:
    from equicare.project import run_project

    wgs = regions.to_crs("EPSG:4326")
    pts = wgs.geometry.representative_point()
    fac = pd.DataFrame({"id": [f"F{i}" for i in range(len(pts))], "lat": pts.y.round(6), "lon": pts.x.round(6),
                        "beds": np.arange(len(pts)) % 7 * 10 + 5})
    wgs.to_file(tmp_path / "r.geojson", driver="GeoJSON")
    regions.to_file(tmp_path / "r.shp")  # projected, Tokyo datum
    csv = pd.DataFrame({"Código": regions["GEOCODE"], "Nome": regions["AREANAME"] + " é",
                        "Habitantes": regions["pop"],
                        "lat": [f"{v:.6f}".replace(".", ",") for v in pts.y],
                        "lon": [f"{v:.6f}".replace(".", ",") for v in pts.x]})
    csv.to_csv(tmp_path / "r.csv", sep=";", index=False, encoding="latin-1")
    specs = {
        "geojson": {"file": "r.geojson", "id": "GEOCODE", "name": "AREANAME", "population": "pop"},
        "shapefile": {"file": "r.shp", "id": "geocode", "name": "areaname", "population": "POP"},
        "csv": {"file": "r.csv", "id": "Código", "name": "Nome", "population": "Habitantes", "lat": "lat",
                "lon": "lon", "delimiter": ";", "decimal": ",", "encoding": "latin-1"},
    }
    out = {}
    for k, spec in specs.items():
        d = tmp_path / k
        d.mkdir()
        for f in tmp_path.glob("r.*"):
            (d / f.name).write_bytes(f.read_bytes())
        res = run_project(_project(d, spec, fac), d / "out")
        out[k] = res.tables["access"].set_index("region")
    for k in ("shapefile", "csv"):
        assert out[k].index.tolist() == out["geojson"].index.tolist()
        assert out[k].index[0].startswith("08")
        np.testing.assert_allclose(out[k]["beds"], out["geojson"]["beds"])  # same point-in-polygon / nearest
        np.testing.assert_allclose(out[k]["2sfca_beds_per_1000"], out["geojson"]["2sfca_beds_per_1000"], rtol=1e-6)
    assert out["csv"]["name"].iloc[0].endswith(" é")
    html = (tmp_path / "csv" / "out" / "report.html").read_text()
    assert "<circle class=\"region\"" in html  # point regions: proportional symbols
