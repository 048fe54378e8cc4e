"""The planner's own geometry: GeoJSON, GeoPackage and Shapefile layers in any CRS, via pyogrio/GeoPandas.

Regions given as polygons get a point inside each polygon (``representative_point``, guaranteed inside,
unlike a centroid) for distances; facilities without a region column get one by point-in-polygon
(GeoPandas' spatial join on an R-tree, nearest polygon within ``snap_km`` for points just outside a
coastline).  Everything is transformed to WGS84 longitude/latitude (EPSG:4326) for great-circle distances
and maps; a layer that declares no CRS is taken as WGS84 when its coordinates fit, otherwise the project must
say ``crs:``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.errors import EquicareError, Problem, ValidationError

WGS84 = "EPSG:4326"


@dataclass
class Layer:
    """A spatial layer read into WGS84: attribute cells as text, the geometry, and its original CRS."""

    frame: pd.DataFrame
    geometry: object  # geopandas.GeoSeries in EPSG:4326
    source_crs: str
    kind: str  # "polygon" or "point"


def read_layer(path: str | Path, layer: str | None = None, crs: str | None = None) -> Layer:
    """Read a spatial file; attributes as text; geometry transformed to WGS84.

    Raises
    ------
    ValidationError
        The file cannot be read, has no CRS and coordinates that are not longitude/latitude (give ``crs:``),
        mixes points and polygons, or has empty geometries (rows named, header = row 1).
    """
    import geopandas as gpd

    path = Path(path)
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
        raise ValidationError([Problem(path.name, None, None, f"cannot be read as a spatial layer: {exc}")]) from exc
    if gdf.crs is None:
        if crs is None:
            b = gdf.total_bounds
            if not (np.all(np.isfinite(b)) and -180 <= b[0] <= b[2] <= 180 and -90 <= b[1] <= b[3] <= 90):
                raise ValidationError([Problem(path.name, None, None,
                                               "the layer has no coordinate reference system and its coordinates "
                                               "are not longitude/latitude; give the project key crs (e.g. "
                                               "EPSG:32633)")])
            crs = WGS84
        gdf = gdf.set_crs(crs)
    src = gdf.crs.to_string()
    empty = gdf.geometry.is_empty | gdf.geometry.isna()
    if empty.any():
        raise ValidationError([Problem(path.name, int(i) + 2, "geometry", "empty geometry")
                               for i in np.flatnonzero(empty.to_numpy())[:20]])
    types = set(gdf.geometry.geom_type.str.replace("Multi", ""))
    if types <= {"Polygon"}:
        kind = "polygon"
    elif types <= {"Point"}:
        kind = "point"
    else:
        raise ValidationError([Problem(path.name, None, "geometry", "a layer must hold only polygons or only "
                                                                    f"points, found {', '.join(sorted(types))}")])
    geom = gdf.geometry.to_crs(WGS84)
    frame = pd.DataFrame({c: gdf[c].map(_text) for c in gdf.columns if c != gdf.geometry.name})
    return Layer(frame.reset_index(drop=True), geom.reset_index(drop=True), src, kind)


def _text(v: object) -> object:
    """An attribute as text as written (whole floats without ``.0``), None when missing."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def points_of(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of each feature: the point itself, or a point inside the polygon."""
    pts = layer.geometry if layer.kind == "point" else layer.geometry.representative_point()
    return pts.y.to_numpy(float), pts.x.to_numpy(float)


def transform_points(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Projected ``x, y`` in ``crs`` to WGS84 latitude, longitude."""
    from pyproj import Transformer

    try:
        tr = Transformer.from_crs(crs, WGS84, always_xy=True)
    except Exception as exc:  # pyproj.exceptions.CRSError
        raise EquicareError(f"unknown coordinate reference system {crs!r}: {exc}") from exc
    lon, lat = tr.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lat), np.asarray(lon)


def region_of_points(lat: np.ndarray, lon: np.ndarray, polygons: Layer, ids: np.ndarray,
                     snap_km: float = 5.0) -> np.ndarray:
    """The id of the polygon each point lies in (object array; None when none within ``snap_km``).

    Uses GeoPandas' spatial join (R-tree); a point on no polygon takes the nearest one within ``snap_km``
    (distances in the World Equidistant Cylindrical projection, EPSG:4087, adequate for a few km).
    """
    import geopandas as gpd

    pts = gpd.GeoDataFrame({"k": np.arange(len(lat))}, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)
    polys = gpd.GeoDataFrame({"rid": np.asarray(ids, dtype=object)}, geometry=polygons.geometry, crs=WGS84)
    hit = gpd.sjoin(pts, polys, how="left", predicate="within").drop_duplicates("k").set_index("k")["rid"]
    out = hit.reindex(np.arange(len(lat))).to_numpy(dtype=object)
    miss = pd.isna(out)
    if miss.any() and snap_km > 0:
        near = gpd.sjoin_nearest(pts[miss].to_crs("EPSG:4087"), polys.to_crs("EPSG:4087"), how="left",
                                 max_distance=snap_km * 1000.0).drop_duplicates("k").set_index("k")["rid"]
        out[np.flatnonzero(miss)] = near.reindex(np.flatnonzero(miss)).to_numpy(dtype=object)
    return np.array([None if pd.isna(v) else v for v in out], dtype=object)


def geojson_features(layer: Layer, ids: list[str], names: list[str], tolerance_km: float | None = None) -> dict:
    """A GeoJSON FeatureCollection (WGS84) of the layer with ``id`` and ``name`` properties, simplified
    to about ``tolerance_km`` (default: 1/500 of the layer's extent) so a report stays small."""
    import geopandas as gpd

    geom = layer.geometry
    if layer.kind == "polygon":
        b = geom.total_bounds
        tol_deg = (tolerance_km / 111.0) if tolerance_km else max(b[2] - b[0], b[3] - b[1]) / 500.0
        geom = geom.simplify(tol_deg, preserve_topology=True)
    gdf = gpd.GeoDataFrame({"id": ids, "name": names}, geometry=geom.to_numpy(), crs=WGS84)
    import json

    return json.loads(gdf.to_json(drop_id=True, to_wgs84=True))


def regions_geojson(regions: pd.DataFrame, layer: Layer | None) -> dict:
    """The regions as a WGS84 FeatureCollection (``id``, ``name`` properties): the layer's polygons or points,
    else a point at each region's ``lat``/``lon``."""
    if layer is not None:
        return geojson_features(layer, regions["id"].tolist(), regions["name"].tolist())
    feats = [{"type": "Feature", "properties": {"id": i, "name": n},
              "geometry": {"type": "Point", "coordinates": [float(lo), float(la)]}}
             for i, n, la, lo in zip(regions["id"], regions["name"], regions["lat"], regions["lon"])
             if np.isfinite(la) and np.isfinite(lo)]
    return {"type": "FeatureCollection", "features": feats}


def shapes_table(geojson: dict) -> pd.DataFrame:
    """One row per feature: ``id, name, feature`` (the feature as JSON text), to store with a run."""
    import json

    f = geojson["features"]
    return pd.DataFrame({"id": [str(x["properties"]["id"]) for x in f], "name": [str(x["properties"]["name"]) for x in f],
                         "feature": [json.dumps(x, separators=(",", ":")) for x in f]})


def shapes_geojson(table: pd.DataFrame) -> dict:
    """The inverse of :func:`shapes_table`."""
    import json

    return {"type": "FeatureCollection", "features": [json.loads(x) for x in table["feature"]]}
