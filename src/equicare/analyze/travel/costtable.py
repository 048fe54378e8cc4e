"""The origin-destination travel-cost table: network travel times, or the stated great-circle fallback.

:func:`travel_costs` is what ``equicare costs`` and the project file's ``travel:`` section call:

1. origins and destinations are projected to the network's metric CRS and snapped to the nearest
   point of the network (:mod:`.snap`); a point farther than ``max_snap_m`` from every road is
   reported and its pairs are absent;
2. the fastest paths run on the network with the points inserted as nodes (:mod:`.paths`), cut
   off at ``max_minutes`` (and at the time bound implied by ``max_km``);
3. each pair's ``cost`` is the path time plus both snap distances walked at ``walk_kmh``, in
   minutes; ``distance_m`` is the path length plus both snap distances, in metres; pairs above
   ``max_minutes`` or ``max_km`` are dropped.

Without a network, ``cost`` is the great-circle distance times :data:`DETOUR_FACTOR` at
:data:`FALLBACK_KMH` (drive) or the walking speed (walk), and the summary says so. The detour
factor 1.4 is the mean ratio of road to straight-line distance to US hospitals in Boscoe, Henry &
Zdeb (2012), "A nationwide comparison of driving distance versus straight-line distance to
hospitals", The Professional Geographer 64(2):188-196.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.analyze.travel.graph import MODES, ComponentReport, Network, check_mode, max_speed_m_per_min
from equicare.analyze.travel.lines import read_lines
from equicare.analyze.travel.osm import WALK_KMH, read_osm
from equicare.analyze.travel.paths import fastest_paths
from equicare.analyze.travel.points import Points, points_from_frame, read_points
from equicare.analyze.travel.snap import DEFAULT_MAX_SNAP_M, snap_points, split_network
from equicare.errors import EquicareError, plain_text

__all__ = ["TravelCosts", "travel_costs", "load_network", "DETOUR_FACTOR", "FALLBACK_KMH", "MODES"]

#: Road distance / great-circle distance in the fallback (Boscoe et al. 2012, see the module docstring).
DETOUR_FACTOR = 1.4
#: Assumed driving speed in the fallback, km/h.
FALLBACK_KMH = 50.0


@dataclass
class TravelCosts:
    """Result of :func:`travel_costs`.

    ``table`` has one row per reached pair: ``origin``, ``destination``, ``cost`` (minutes) and
    ``distance_m`` (metres), sorted by origin then destination in input order. ``n_absent`` counts
    the pairs not in the table (unreachable, beyond a cut-off, or with a point not joined to the
    network; ``n_absent_unjoined`` of them the last kind). ``snaps`` has per point ``role``
    (origin/destination), ``id``, ``snap_m`` and ``joined``. ``method`` is ``"network"`` or
    ``"great-circle"``; ``assumptions`` states the speeds, detour factor and cut-offs used.
    """

    table: pd.DataFrame
    method: str
    mode: str
    n_origins: int
    n_destinations: int
    n_absent: int
    n_absent_unjoined: int
    snaps: pd.DataFrame
    assumptions: list[str] = field(default_factory=list)
    components: ComponentReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """Plain-text lines for the command's output."""
        lines = [f"{len(self.table)} of {self.n_origins * self.n_destinations} origin-destination pairs reached "
                 f"({self.method}, {self.mode}); {self.n_absent} pairs absent (no route, beyond the cut-off, or a "
                 f"point not joined to the network)"]
        if self.method == "network":
            far = self.snaps[~self.snaps["joined"]]
            joined = self.snaps[self.snaps["joined"]]
            if len(joined):
                lines.append(f"snap distance to the road: median {joined['snap_m'].median():.1f} m, "
                             f"max {joined['snap_m'].max():.1f} m (walked)")
            if len(far):
                shown = ", ".join(f"{r.role} {r.id} ({r.snap_m:.0f} m)" for r in far.head(10).itertuples())
                more = f" and {len(far) - 10} more" if len(far) > 10 else ""
                lines.append(f"{len(far)} point{'s' if len(far) != 1 else ''} farther than the snap limit from any road, "
                             f"not joined "
                             f"({self.n_absent_unjoined} pairs): {shown}{more}")
            if self.components is not None:
                lines.append(self.components.describe())
        lines += self.assumptions
        return "\n".join(lines)


def load_network(path: str | Path, mode: str = "drive", **options) -> Network:
    """A network from an OpenStreetMap extract (``.pbf``) or a line layer (anything else).

    ``options`` go to :func:`.osm.read_osm` (``speeds``, ``walk_kmh``) or :func:`.lines.read_lines`
    (``speed_col``, ``oneway_col``, ``default_kmh``, ``speeds``, ``walk_kmh``, ``node``); options
    that do not apply to the kind of file are ignored.
    """
    check_mode(mode)
    if str(path).lower().endswith(".pbf"):
        keep = {k: v for k, v in options.items() if k in ("speeds", "walk_kmh") and v is not None}
        return read_osm(path, mode, **keep)
    keep = {k: v for k, v in options.items()
            if k in ("speed_col", "oneway_col", "default_kmh", "speeds", "walk_kmh", "node") and v is not None}
    return read_lines(path, mode, **keep)


def _as_points(obj, id_col: str, name: str) -> Points:
    if isinstance(obj, Points):
        return obj
    if isinstance(obj, pd.DataFrame):
        return points_from_frame(obj, id_col, name)
    return read_points(obj, id_col)


def _check_limits(max_minutes, max_km) -> None:
    for name, val in (("--max-minutes", max_minutes), ("--max-km", max_km)):
        if val is not None and not (np.isfinite(val) and val >= 0):
            raise EquicareError(f"{name} must be a number >= 0 (value: {plain_text(val)})")


def travel_costs(origins, destinations, network=None, mode: str = "drive", max_minutes: float | None = None,
                 max_km: float | None = None, *, origin_id: str = "id", destination_id: str = "id",
                 max_snap_m: float = DEFAULT_MAX_SNAP_M, walk_kmh: float = WALK_KMH,
                 detour: float = DETOUR_FACTOR, fallback_kmh: float = FALLBACK_KMH, **network_options) -> TravelCosts:
    """Travel costs (minutes) and distances (metres) from every origin to every destination.

    Parameters
    ----------
    origins, destinations : a file path (point layer, CSV or XLSX with ``lat``/``lon``), a
        DataFrame with ``id``, ``lat``, ``lon`` (degrees), or :class:`.points.Points`.
    network : path of a ``.osm.pbf`` extract or a line layer, a loaded :class:`.graph.Network`,
        or None for the great-circle fallback.
    mode : ``drive`` or ``walk``.
    max_minutes, max_km : cut-offs on the pair's cost and distance (snapping included).
    origin_id, destination_id : id columns.
    max_snap_m : points farther from every road are not joined (reported).
    walk_kmh : walking speed of the snap distances (and of the network in walk mode).
    detour, fallback_kmh : the fallback's detour factor and driving speed.
    network_options : passed to :func:`load_network`.

    Returns
    -------
    TravelCosts
    """
    import time

    check_mode(mode)
    _check_limits(max_minutes, max_km)
    t0 = time.perf_counter()
    O = _as_points(origins, origin_id, "origins")
    D = _as_points(destinations, destination_id, "destinations")
    if network is None:
        return _fallback(O, D, mode, max_minutes, max_km, detour, walk_kmh if mode == "walk" else fallback_kmh)
    net = network if isinstance(network, Network) else load_network(network, mode, walk_kmh=walk_kmh,
                                                                     **network_options)
    if net.mode != mode:
        raise EquicareError(f"the network was built for mode {net.mode!r}, not {mode!r}")
    t1 = time.perf_counter()
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, net.crs, always_xy=True)
    ox, oy = tr.transform(O.lon, O.lat)
    dx, dy = tr.transform(D.lon, D.lat)
    xy = np.column_stack([np.concatenate([ox, dx]), np.concatenate([oy, dy])])
    snaps = snap_points(net, xy, max_snap_m)
    graph = split_network(net, snaps)
    t2 = time.perf_counter()
    no, nd = len(O), len(D)
    onode, dnode = graph.point_node[:no], graph.point_node[no:]
    oi, di = np.flatnonzero(onode >= 0), np.flatnonzero(dnode >= 0)
    walk_m_per_min = walk_kmh * 1000.0 / 60.0
    limit = None if max_minutes is None else float(max_minutes)
    if max_km is not None:
        bound = max_km * 1000.0 / (net.min_speed_kmh() * 1000.0 / 60.0)
        limit = bound if limit is None else min(limit, bound)
    pairs = fastest_paths(graph.minutes, graph.metres, onode[oi], dnode[di], limit=limit, node_xy=graph.node_xy,
                          max_m_per_min=max_speed_m_per_min(net.length_m, net.minutes))
    t3 = time.perf_counter()
    o_idx, d_idx = oi[pairs.src], di[pairs.dst]
    snap_o, snap_d = snaps.snap_m[o_idx], snaps.snap_m[no + d_idx]
    cost = pairs.minutes + (snap_o + snap_d) / walk_m_per_min
    dist = pairs.metres + snap_o + snap_d
    keep = np.ones(cost.size, bool)
    if max_minutes is not None:
        keep &= cost <= max_minutes
    if max_km is not None:
        keep &= dist <= max_km * 1000.0
    table = pd.DataFrame({"origin": O.ids[o_idx[keep]], "destination": D.ids[d_idx[keep]],
                          "cost": cost[keep], "distance_m": dist[keep]})
    joined = snaps.joined
    snap_df = pd.DataFrame({"role": ["origin"] * no + ["destination"] * nd,
                            "id": np.concatenate([O.ids, D.ids]), "snap_m": snaps.snap_m, "joined": joined})
    n_unjoined = no * nd - oi.size * di.size
    assumptions = [f"network {net.source}: {net.n_nodes} nodes, {net.n_edges} edges"] + net.notes
    assumptions.append(f"snap distances walked at {walk_kmh:g} km/h; points farther than {max_snap_m:g} m "
                       f"from any road are not joined")
    if max_minutes is not None or max_km is not None:
        cut = " and ".join(s for s in (f"{max_minutes:g} minutes" if max_minutes is not None else "",
                                       f"{max_km:g} km" if max_km is not None else "") if s)
        assumptions.append(f"cut-off: {cut}")
    return TravelCosts(table=table, method="network", mode=mode, n_origins=no, n_destinations=nd,
                     n_absent=no * nd - len(table), n_absent_unjoined=n_unjoined, snaps=snap_df,
                     assumptions=assumptions, components=net.components,
                     seconds={"network": t1 - t0, "snap": t2 - t1, "paths": t3 - t2,
                              "total": time.perf_counter() - t0})


def _fallback(O: Points, D: Points, mode: str, max_minutes, max_km, detour: float, kmh: float) -> TravelCosts:
    from equicare.analyze.costs import great_circle_costs

    gc_cut = np.inf
    if max_km is not None:
        gc_cut = min(gc_cut, max_km / detour)
    if max_minutes is not None:
        gc_cut = min(gc_cut, max_minutes / 60.0 * kmh / detour)
    gc = great_circle_costs(O.lat, O.lon, D.lat, D.lon, max_km=min(gc_cut, 20_100.0))
    rows = np.repeat(np.arange(gc.shape[0]), np.diff(gc.indptr))
    km = gc.data * detour
    table = pd.DataFrame({"origin": O.ids[rows], "destination": D.ids[gc.indices],
                          "cost": km / kmh * 60.0, "distance_m": km * 1000.0})
    no, nd = len(O), len(D)
    snaps = pd.DataFrame({"role": ["origin"] * no + ["destination"] * nd, "id": np.concatenate([O.ids, D.ids]),
                          "snap_m": 0.0, "joined": True})
    note = (f"no network given: cost = great-circle distance x {detour:g} (detour factor, Boscoe et al. 2012) "
            f"at {kmh:g} km/h")
    return TravelCosts(table=table, method="great-circle", mode=mode, n_origins=no, n_destinations=nd,
                     n_absent=no * nd - len(table), n_absent_unjoined=0, snaps=snaps, assumptions=[note])
