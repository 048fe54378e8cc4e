"""A non-US project built from real public geometry that a package ships: the municipalities of Ibaraki (08)
and Tokyo (13) prefectures from libpysal's Tokyo mortality example (Nakaya et al. 2005, 262 municipalities,
Japan Plane Rectangular zone 6 on the Tokyo datum).

The geometry, codes (``08203`` ... text with leading zeros) and names are real; population is a stand-in
proportional to the file's expected deaths at ages 25-64 (``eb2564 x 1000``); hospitals (sited at random points
inside each municipality, seed fixed) and the weekly admissions series are synthetic.  Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PREFECTURES = ("08", "13")


def tokyo_source() -> Path | None:
    """The shapefile shipped by libpysal, or None when libpysal is not installed."""
    try:
        import libpysal
    except ImportError:  # pragma: no cover
        return None
    p = Path(libpysal.__file__).parent / "examples" / "tokyo" / "tokyomet262.shp"
    return p if p.is_file() else None


def build_project(folder: Path, *, weeks: int = 130, holdout: int = 3, stock: int = 150) -> Path:
    """Write regions.gpkg, hospitals.xlsx, admissions.csv and project.yaml into ``folder``; return the YAML."""
    import geopandas as gpd
    import yaml

    src = tokyo_source()
    if src is None:
        raise FileNotFoundError("libpysal's Tokyo example is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    g = gpd.read_file(src)
    mort = pd.read_csv(src.parent / "Tokyomortality.csv")
    g = g.merge(mort[["IDnum0", "eb2564"]], left_on="AreaID", right_on="IDnum0")
    g = g[g["GEOCODE"].str[:2].isin(PREFECTURES)].reset_index(drop=True)
    g["population"] = np.round(g["eb2564"] * 1000).astype(int)
    regions = g[["GEOCODE", "AREANAME", "population", "geometry"]].rename(
        columns={"GEOCODE": "code", "AREANAME": "name"})
    regions.to_file(folder / "regions.gpkg", layer="municipalities", driver="GPKG")

    rng = np.random.default_rng(20240601)
    rows = []
    pop = g["population"].to_numpy()
    sizes = 1 + (pop > 150_000).astype(int) + (pop > 400_000).astype(int) + rng.integers(0, 2, len(g))
    samples = g.geometry.sample_points(size=sizes, rng=rng)
    for (_, r), mp in zip(g.iterrows(), samples):
        pts = [mp] if mp.geom_type == "Point" else list(mp.geoms)
        for p in pts:
            beds = int(rng.integers(80, 600) * max(0.3, r["population"] / 250_000))
            rows.append({"x": p.x, "y": p.y, "beds": beds, "icu": max(5, int(beds * rng.uniform(0.03, 0.08))),
                         "occ": round(float(rng.uniform(0.55, 0.85)), 3)})
    fac = gpd.GeoDataFrame(rows, geometry=gpd.points_from_xy([r["x"] for r in rows], [r["y"] for r in rows]),
                           crs=g.crs).to_crs("EPSG:4326")
    hosp = pd.DataFrame({"Hospital ID": [f"H{i:04d}" for i in range(1, len(fac) + 1)],
                         "Hospital name": [f"General hospital {i}" for i in range(1, len(fac) + 1)],
                         "Latitude": fac.geometry.y.round(6), "Longitude": fac.geometry.x.round(6),
                         "Beds": fac["beds"], "ICU beds": fac["icu"], "ICU occupancy": fac["occ"]})
    with pd.ExcelWriter(folder / "hospitals.xlsx", engine="openpyxl") as xw:
        pd.DataFrame({"about": ["synthetic hospitals for the equicare test project"]}).to_excel(
            xw, sheet_name="README", index=False)
        hosp.to_excel(xw, sheet_name="Hospitals", index=False)

    dates = pd.date_range("2021-09-04", periods=weeks, freq="7D")  # Saturdays
    t = np.arange(weeks)
    season = 1.0 + 2.5 * np.exp(-0.5 * ((t % 52 - 20) / 4.0) ** 2)
    lam = g["population"].to_numpy(float)[None, :] * 4e-5 * season[:, None]
    counts = rng.poisson(lam)
    adm = pd.DataFrame({"week_ending": np.repeat(dates.strftime("%Y-%m-%d"), len(g)),
                        "municipality": np.tile(g["GEOCODE"].to_numpy(), weeks),
                        "admissions": counts.reshape(-1)})
    adm.to_csv(folder / "admissions.csv", index=False)

    doc = {
        "name": "Surge ICU beds, Ibaraki and Tokyo",
        "regions": {"file": "regions.gpkg", "id": "code", "name": "name", "population": "population"},
        "facilities": {"file": "hospitals.xlsx", "sheet": "Hospitals", "id": "Hospital ID", "name": "Hospital name",
                       "lat": "latitude", "lon": "longitude", "capacity": ["Beds", "ICU beds"],
                       "occupancy": "ICU occupancy"},
        "demand": {"file": "admissions.csv", "region": "municipality", "date": "week_ending", "value": "admissions"},
        "access": {"method": "2sfca", "supply": "Beds", "max_km": 30},
        "forecast": {"model": "ensemble", "holdout": holdout},
        "allocate": {"resource": "ICU beds", "stock": stock, "need": "forecast_surge"},
        "inequality": {"n_boot": 100},
    }
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
