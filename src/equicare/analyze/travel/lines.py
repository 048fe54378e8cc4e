"""Road networks from a street-centreline line layer (GeoJSON, GeoPackage, Shapefile; any CRS).

Columns (all optional):

* a speed in km/h (``speed_col``; by default the first of ``speed_kmh``, ``speed``, ``maxspeed``
  present), else the default speed of a ``highway`` class column (:data:`~.osm.DEFAULT_SPEEDS_KMH`),
  else ``default_kmh``;
* a one-way flag (``oneway_col``; by default ``oneway`` if present): ``yes/true/1/T/FT/F`` =
  along the digitised direction, ``-1/reverse/TF/R`` = against it, ``no/false/0/B``/empty = both.

Public line layers are often not *noded*: two streets cross without a shared vertex. With
``node=True`` (default) the lines are noded with shapely (:func:`shapely.unary_union` splits every
line where it crosses or touches another), each piece keeps the attributes of the line it came
from (found by an STRtree query on the piece's midpoint) and its digitised direction. Noding joins
every crossing, including bridges over roads; give ``node=False`` for a layer that is already noded
at junctions only. The parts that stay disconnected are reported (:class:`~.graph.ComponentReport`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from equicare.analyze.travel.graph import Network, build_network, metric_crs, network_source
from equicare.analyze.travel.osm import WALK_KMH, road_speeds
from equicare.analyze.travel.points import plain_value
from equicare.errors import EquicareError, Problem, ValidationError

__all__ = ["read_lines", "node_lines", "oneway_values", "DEFAULT_LINE_KMH"]

#: Driving speed (km/h) of a line without a speed or highway-class column.
DEFAULT_LINE_KMH = 40.0

_FWD = {"yes", "true", "1", "t", "ft", "f", "forward"}
_BWD = {"-1", "reverse", "tf", "r", "backward"}
_BOTH = {"", "no", "false", "0", "b", "both", "nan", "none"}


def oneway_values(values, file: str, column: str, rows=None) -> tuple[np.ndarray, np.ndarray]:
    """``(forward, backward)`` from one-way codes; an unknown code is a ValidationError naming the row
    (``rows[k]``, the feature number of value ``k``; default ``k + 1``)."""
    s = pd.Series(list(values), dtype=object).fillna("").astype(str).str.strip().str.lower()
    s = s.str.replace(r"\.0$", "", regex=True)
    bad = ~s.isin(_FWD | _BWD | _BOTH)
    if bad.any():
        raise ValidationError([Problem(file, int(k) + 1 if rows is None else int(rows[k]), column,
                                       "one-way must be yes/true/1/FT, -1/reverse/TF or no/false/0/B",
                                       plain_value(values[k]))
                               for k in np.flatnonzero(bad.to_numpy())[:20]])
    fwd_only = s.isin(_FWD).to_numpy()
    bwd_only = s.isin(_BWD).to_numpy()
    return ~bwd_only, ~fwd_only


def node_lines(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split lines at every crossing; returns the pieces and, per piece, the index of its source line.

    Each piece is oriented like its source line (reversed when :func:`shapely.unary_union` turned it round).
    """
    merged = shapely.unary_union(geoms)
    pieces = np.asarray(shapely.get_parts(merged), dtype=object)
    pieces = pieces[shapely.get_type_id(pieces) == 1]
    tree = shapely.STRtree(geoms)
    mid = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
    idx_piece, idx_src = tree.query_nearest(mid, all_matches=False)
    src = np.empty(pieces.size, np.int64)
    src[idx_piece] = idx_src
    a = shapely.line_locate_point(geoms[src], shapely.get_point(pieces, 0))
    b = shapely.line_locate_point(geoms[src], shapely.get_point(pieces, -1))
    flip = a > b
    pieces[flip] = shapely.reverse(pieces[flip])
    return pieces, src


def _explode(gdf):
    g = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    g = g.explode(index_parts=False)
    g = g[g.geometry.geom_type == "LineString"]
    return g.reset_index(drop=True)


def read_lines(path: str | Path, mode: str = "drive", speed_col: str | None = None, oneway_col: str | None = None,
               default_kmh: float = DEFAULT_LINE_KMH, speeds: dict[str, float] | None = None,
               walk_kmh: float = WALK_KMH, node: bool = True) -> Network:
    """Routable network from a line layer (see the module docstring for columns and noding).

    Raises
    ------
    EquicareError / ValidationError
        Unreadable file, no CRS, no line geometries, a named column that is missing, a speed that
        is not a positive number (row and column named), an unknown one-way code.
    """
    import geopandas as gpd

    p = network_source(path, mode, folder_ok=True)  # a shapefile's folder reads too
    try:
        gdf = gpd.read_file(p)
    except Exception as exc:  # pyogrio raises its own errors for unreadable data
        raise EquicareError(f"{path}: cannot read the line layer ({type(exc).__name__}: {exc})") from exc
    file = p.name
    if gdf.crs is None:
        raise EquicareError(f"{path}: the layer has no coordinate reference system; set one (e.g. EPSG:4326)")
    for col in (speed_col, oneway_col):
        if col is not None and col not in gdf.columns:
            raise ValidationError([Problem(file, None, col, "column named in the options is missing")])
    gdf = gdf.reset_index(drop=True)
    gdf["_row"] = np.arange(len(gdf)) + 1
    gdf = _explode(gdf)
    if len(gdf) == 0:
        raise EquicareError(f"{path}: the layer holds no line geometries")
    crs = metric_crs(gdf.crs, shapely.get_coordinates(gdf.geometry.to_numpy()[:1000])[:1000])
    geoms = gdf.geometry.to_crs(crs).to_numpy()
    geoms = shapely.force_2d(geoms)
    notes: list[str] = []
    speed_col = speed_col or next((c for c in ("speed_kmh", "speed", "maxspeed") if c in gdf.columns), None)
    oneway_col = oneway_col or ("oneway" if "oneway" in gdf.columns else None)
    if mode == "walk":
        speed = np.full(len(gdf), float(walk_kmh))
        fwd = bwd = np.ones(len(gdf), bool)
        notes.append(f"walking at {walk_kmh:g} km/h in both directions")
    else:
        speed = _speeds(gdf, file, speed_col, default_kmh, speeds, notes)
        if oneway_col:
            fwd, bwd = oneway_values(gdf[oneway_col].to_numpy(), file, oneway_col, gdf["_row"].to_numpy())
            notes.append(f"{int((fwd ^ bwd).sum())} one-way lines (column '{oneway_col}')")
        else:
            fwd = bwd = np.ones(len(gdf), bool)
            notes.append("no one-way column: every line is two-way")
    if node:
        n_before = len(geoms)
        pieces, src = node_lines(geoms)
        notes.append(f"noded {n_before} lines into {pieces.size} pieces at crossings")
        geoms, speed, fwd, bwd = pieces, speed[src], fwd[src], bwd[src]
    return build_network(geoms, speed, fwd, bwd, crs=crs, mode=mode, source=str(path), notes=notes)


def _speeds(gdf, file: str, speed_col: str | None, default_kmh: float, speeds, notes: list[str]) -> np.ndarray:
    if speed_col:
        raw = gdf[speed_col]
        val = pd.to_numeric(raw, errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(val) & (val > 0))
        if "highway" in gdf.columns and bad.any():
            fill, _ = road_speeds(gdf["highway"], [None] * len(gdf), speeds)
            notes.append(f"{int(bad.sum())} lines without a speed use the default of their highway class")
            return np.where(bad, fill, val)
        if bad.any():
            raise ValidationError([Problem(file, int(gdf["_row"].iloc[k]), speed_col,
                                           "speed must be a positive number of km/h", plain_value(raw.iloc[k]))
                                   for k in np.flatnonzero(bad)[:20]])
        notes.append(f"speeds from column '{speed_col}' (km/h)")
        return val
    if "highway" in gdf.columns:
        notes.append("speeds from the highway class of each line (default speeds per class)")
        return road_speeds(gdf["highway"], [None] * len(gdf), speeds)[0]
    notes.append(f"no speed column: every line at {default_kmh:g} km/h")
    return np.full(len(gdf), float(default_kmh))
