"""Origins and destinations: point layers (GeoJSON, GeoPackage, Shapefile; any CRS) or tables
(CSV, XLSX, or a DataFrame) with ``lat``/``lon`` columns in decimal degrees (WGS84).

Rows in messages count the header as row 1 for tables (as a spreadsheet shows them) and are
feature numbers (first feature = 1) for point layers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.errors import EquicareError, Problem, ValidationError

__all__ = ["Points", "read_points", "points_from_frame", "plain_value", "GEO_SUFFIXES"]

GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb")


def plain_value(v):
    """A cell value for an error message: numpy scalars as plain Python numbers."""
    return v.item() if isinstance(v, np.generic) else v


@dataclass(frozen=True)
class Points:
    """``ids`` (text), ``lon``/``lat`` (WGS84 degrees) and the other columns as ``attrs``."""

    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    attrs: pd.DataFrame
    file: str

    def __len__(self) -> int:
        return int(self.ids.size)


def _ids(values, file: str, id_col: str, base: int) -> tuple[np.ndarray, list[Problem]]:
    s = pd.Series(list(values), dtype=object)
    text = s.map(lambda x: "" if x is None or (isinstance(x, float) and np.isnan(x)) else
                 (str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)).strip())
    probs = [Problem(file, int(k) + base, id_col, "id is missing") for k in np.flatnonzero((text == "").to_numpy())[:20]]
    dup = text.duplicated() & (text != "")
    probs += [Problem(file, int(k) + base, id_col, "duplicate id", plain_value(text.iloc[k])) for k in np.flatnonzero(dup.to_numpy())[:20]]
    return text.to_numpy(dtype=object), probs


def points_from_frame(df: pd.DataFrame, id_col: str = "id", file: str = "points") -> Points:
    """Points from a table with ``id_col``, ``lat`` and ``lon`` (degrees)."""
    missing = [c for c in (id_col, "lat", "lon") if c not in df.columns]
    if missing:
        raise ValidationError([Problem(file, None, c, "required column is missing") for c in missing])
    ids, probs = _ids(df[id_col], file, id_col, 2)
    coords = {}
    for col, lim in (("lat", 90.0), ("lon", 180.0)):
        val = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(val) | (np.abs(val) > lim)
        probs += [Problem(file, int(k) + 2, col, f"must be a number between -{lim:g} and {lim:g}",
                           plain_value(df[col].iloc[k]))
                  for k in np.flatnonzero(bad)[:20]]
        coords[col] = val
    if probs:
        raise ValidationError(probs)
    attrs = df.drop(columns=[id_col]).reset_index(drop=True)
    return Points(ids, coords["lon"], coords["lat"], attrs, file)


def read_points(path: str | Path, id_col: str = "id") -> Points:
    """Read origins or destinations from a file (see the module docstring).

    Raises
    ------
    ValidationError
        A missing id/lat/lon column, a missing or duplicate id, a coordinate out of range, a
        geometry that is not a point; each names file, row (header = row 1) and column.
    EquicareError
        The file is missing or unreadable, or a point layer has no CRS.
    """
    p = Path(path)
    file = p.name
    if not p.exists():
        raise EquicareError(f"{path}: file not found")
    suffix = p.suffix.lower()
    if suffix in GEO_SUFFIXES:
        return _read_layer(p, id_col)
    try:
        if suffix in (".xlsx", ".xls"):
            df = pd.read_excel(p, dtype={id_col: str})
        else:
            df = pd.read_csv(p, dtype={id_col: str})
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EquicareError(f"{path}: cannot read the file ({exc})") from exc
    return points_from_frame(df, id_col, file)


def _read_layer(p: Path, id_col: str) -> Points:
    import geopandas as gpd
    import shapely

    try:
        gdf = gpd.read_file(p)
    except Exception as exc:  # pyogrio raises its own errors for unreadable data
        raise EquicareError(f"{p}: cannot read the point layer ({type(exc).__name__}: {exc})") from exc
    file = p.name
    if id_col not in gdf.columns:
        raise ValidationError([Problem(file, None, id_col, "required column is missing")])
    if gdf.crs is None:
        raise EquicareError(f"{p}: the layer has no coordinate reference system; set one (e.g. EPSG:4326)")
    ids, probs = _ids(gdf[id_col], file, id_col, 1)
    geom = gdf.geometry.to_numpy()
    bad = shapely.is_missing(geom) | (shapely.get_type_id(geom) != 0)
    probs += [Problem(file, int(k) + 1, "geometry", "must be a point", str(gdf.geometry.iloc[k])[:40])
              for k in np.flatnonzero(bad)[:20]]
    if probs:
        raise ValidationError(probs)
    ll = gdf.geometry.to_crs(4326)
    attrs = pd.DataFrame(gdf.drop(columns=[id_col, gdf.geometry.name])).reset_index(drop=True)
    return Points(ids, ll.x.to_numpy(float), ll.y.to_numpy(float), attrs, file)
