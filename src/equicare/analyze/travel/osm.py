"""Road networks from an OpenStreetMap PBF extract (read with pyrosm).

``drive`` takes pyrosm's ``driving`` network (roads open to motor vehicles), with a speed per edge
from its ``maxspeed`` tag (``"50"``, ``"30 mph"``; the lowest of ``"30;50"``) or, when the tag is
missing or not a number (``"FI:urban"``, ``"walk"``), from :data:`DEFAULT_SPEEDS_KMH` for its
``highway`` class; ``oneway=yes/true/1`` allows travel only along the way, ``oneway=-1/reverse``
only against it, and motorways and roundabouts are one-way unless tagged ``oneway=no``.
``walk`` takes pyrosm's ``walking`` network (footways, paths, steps, pedestrian streets and the
roads people may walk on), every edge both ways at :data:`WALK_KMH`.

pyrosm splits ways at every OSM node, so edges are straight segments between consecutive nodes and
topology comes from shared OSM node ids (a bridge over a road is not joined to it).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.analyze.travel.graph import Network, build_network, metric_crs, network_source
from equicare.errors import EquicareError

__all__ = ["DEFAULT_SPEEDS_KMH", "FALLBACK_SPEED_KMH", "WALK_KMH", "read_osm", "parse_maxspeed", "parse_speed_overrides",
           "road_speeds", "oneway_flags"]

#: Walking speed, km/h (also the speed at which snap distances are walked): 5 km/h, the usual
#: planning value (e.g. r5py's default 3.6 km/h is for slow walkers; AccessMod and OSRM's foot profile use 5).
WALK_KMH = 5.0

#: Driving speed per OSM ``highway`` class (km/h) when ``maxspeed`` is missing or not a number.
#: Values are typical free-flow urban/rural speeds used by routing engines (cf. OSRM car profile).
DEFAULT_SPEEDS_KMH: dict[str, float] = {
    "motorway": 100.0, "motorway_link": 60.0,
    "trunk": 80.0, "trunk_link": 50.0,
    "primary": 60.0, "primary_link": 40.0,
    "secondary": 50.0, "secondary_link": 40.0,
    "tertiary": 40.0, "tertiary_link": 30.0,
    "unclassified": 30.0, "residential": 30.0, "road": 30.0,
    "living_street": 10.0, "service": 20.0,
}
#: Speed of any other highway class, km/h.
FALLBACK_SPEED_KMH = 20.0

_MPH = 1.609344
_YES = {"yes", "true", "1"}
_REV = {"-1", "reverse"}


def parse_maxspeed(values) -> np.ndarray:
    """km/h from OSM ``maxspeed`` strings; NaN where it is missing or not a number.

    ``"50"`` -> 50, ``"30 mph"`` -> 48.28, ``"30;50"`` -> 30 (the lowest), ``"FI:urban"`` -> NaN.
    """
    out = np.full(len(values), np.nan)
    for k, raw in enumerate(values):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)):
            continue
        best = np.nan
        for part in str(raw).split(";"):
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*", part.strip().lower())
            if m:
                val = float(m.group(1)) * (_MPH if m.group(2) == "mph" else 1.0)
                if val > 0:
                    best = val if np.isnan(best) else min(best, val)
        out[k] = best
    return out


def road_speeds(highway, maxspeed, speeds: dict[str, float] | None = None) -> tuple[np.ndarray, int]:
    """Speed per edge (km/h): ``maxspeed`` where it is a number, else the class default.

    ``speeds`` overrides entries of :data:`DEFAULT_SPEEDS_KMH` (and, under the key ``"other"``,
    :data:`FALLBACK_SPEED_KMH`). Returns the speeds and how many edges used a default.
    """
    table = {**DEFAULT_SPEEDS_KMH, **(speeds or {})}
    other = float(table.pop("other", FALLBACK_SPEED_KMH))
    tagged = parse_maxspeed(list(maxspeed))
    hw = pd.Series(list(highway), dtype=object).astype(str)
    default = hw.map(table).astype(float).fillna(other).to_numpy()
    use_default = np.isnan(tagged)
    return np.where(use_default, default, tagged), int(use_default.sum())


def oneway_flags(highway, oneway, junction=None) -> tuple[np.ndarray, np.ndarray]:
    """``(forward, backward)`` for driving from the ``oneway`` (and ``junction``) tags."""
    ow = pd.Series(list(oneway), dtype=object).fillna("").astype(str).str.strip().str.lower().to_numpy()
    hw = pd.Series(list(highway), dtype=object).astype(str).to_numpy()
    jn = (pd.Series(list(junction), dtype=object).fillna("").astype(str).str.lower().to_numpy()
          if junction is not None else np.full(ow.size, ""))
    implied = ((hw == "motorway") | np.isin(jn, ["roundabout", "circular"])) & (ow == "")
    fwd_only = np.isin(ow, list(_YES)) | implied
    bwd_only = np.isin(ow, list(_REV))
    return ~bwd_only, ~fwd_only


def _junction(edges: pd.DataFrame):
    if "junction" in edges.columns:
        return edges["junction"]
    if "tags" not in edges.columns:
        return None
    tags = edges["tags"].fillna("").astype(str)
    return tags.str.extract(r'"junction"\s*:\s*"([^"]*)"')[0]


def read_osm(path: str | Path, mode: str = "drive", speeds: dict[str, float] | None = None,
             walk_kmh: float = WALK_KMH, bounding_box=None) -> Network:
    """Routable network of ``mode`` (``drive`` or ``walk``) from an ``.osm.pbf`` extract.

    Parameters
    ----------
    path : the PBF file (e.g. a Geofabrik extract; ``pyrosm.get_data("helsinki_pbf")`` ships with pyrosm).
    speeds : overrides of :data:`DEFAULT_SPEEDS_KMH` by highway class (drive).
    walk_kmh : walking speed (walk).
    bounding_box : optional ``[minx, miny, maxx, maxy]`` (degrees) passed to pyrosm.

    Raises
    ------
    EquicareError
        The file is missing, is not a PBF pyrosm can read, or holds no roads for the mode.
    """
    import pyrosm

    p = network_source(path, mode)
    try:
        osm = pyrosm.OSM(str(p), bounding_box=bounding_box)
        got = osm.get_network(network_type="driving" if mode == "drive" else "walking", nodes=True)
        edges = None if got is None else got[1]
    except Exception as exc:  # pyrosm raises assorted errors on a file that is not a PBF
        raise EquicareError(f"{path}: cannot read the OpenStreetMap extract ({type(exc).__name__}: {exc})") from exc
    if edges is None or len(edges) == 0:
        raise EquicareError(f"{path}: the extract holds no roads for mode {mode!r}")
    edges = edges[edges.geometry.notna() & ~edges.geometry.is_empty]
    crs = metric_crs(edges.crs or 4326, _sample(edges))
    geoms = edges.geometry.to_crs(crs).to_numpy()
    notes = []
    if mode == "drive":
        speed, n_default = road_speeds(edges["highway"], edges.get("maxspeed", pd.Series([None] * len(edges))), speeds)
        fwd, bwd = oneway_flags(edges["highway"], edges.get("oneway", pd.Series([None] * len(edges))),
                                _junction(edges))
        notes.append(f"{n_default} of {len(edges)} road segments had no numeric maxspeed and use the default "
                     f"speed of their highway class")
        notes.append(f"{int((fwd ^ bwd).sum())} one-way segments")
    else:
        speed = np.full(len(edges), float(walk_kmh))
        fwd = bwd = np.ones(len(edges), bool)
        notes.append(f"walking at {walk_kmh:g} km/h on {len(edges)} segments (footways, paths, streets)")
    return build_network(geoms, speed, fwd, bwd, crs=crs, mode=mode, source=str(path),
                         u_keys=edges["u"].to_numpy(), v_keys=edges["v"].to_numpy(), notes=notes)


def _sample(edges) -> np.ndarray:
    import shapely

    pts = shapely.get_coordinates(shapely.get_point(edges.geometry.to_numpy()[:1000], 0))
    return pts


def parse_speed_overrides(text: str) -> dict[str, float]:
    """``"residential=25,primary=50"`` -> ``{"residential": 25.0, "primary": 50.0}`` (km/h)."""
    out: dict[str, float] = {}
    for item in str(text).split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        try:
            speed = float(val)
        except ValueError:
            speed = float("nan")
        if not sep or not key.strip() or not (speed > 0):
            raise EquicareError(f"--speeds: expected class=km/h pairs such as 'residential=25' (value: {item.strip()!r})")
        out[key.strip()] = speed
    return out
