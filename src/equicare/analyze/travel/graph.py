"""The road network as equicare routes on it: straight-through edges between nodes, in a metric CRS.

Both readers (:mod:`.osm` for OpenStreetMap PBF extracts, :mod:`.lines` for street-centreline line
layers) end in :func:`build_network`, which turns a set of oriented line pieces with a speed and a
direction flag into a :class:`Network`:

* ``node_xy`` — ``(n_nodes, 2)`` metres in ``crs`` (a projected CRS with metre units);
* per edge: ``geoms`` (shapely LineStrings from node ``u`` to node ``v``), ``length_m`` (the planar
  length of the geometry, metres), ``minutes`` (``length_m / speed``), ``forward``/``backward``
  (travel allowed ``u -> v`` / ``v -> u``).

Components are the weakly connected components of the undirected graph (scipy.sparse.csgraph);
everything outside the largest one is reported (:class:`ComponentReport`), because a point snapped
onto a detached piece reaches almost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components

from equicare.errors import EquicareError, plain_text

__all__ = ["Network", "ComponentReport", "build_network", "metric_crs", "directed_arrays", "max_speed_m_per_min",
           "MODES", "check_mode", "network_source"]

#: Travel modes: ``drive`` on the roads cars may use, ``walk`` on those people may walk.
MODES = ("drive", "walk")


def check_mode(mode: str) -> None:
    """Raise :class:`~equicare.errors.EquicareError` naming ``--mode`` unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise EquicareError(f"--mode must be drive or walk (value: {plain_text(mode)})")


def network_source(path: str | Path, mode: str, folder_ok: bool = False) -> Path:
    """The network file ``path`` for ``mode``, checked before it is read (a folder too with ``folder_ok``).

    Raises
    ------
    EquicareError
        ``mode`` is not one of :data:`MODES`, or there is no such file: ``{path}: network file not found``.
    """
    check_mode(mode)
    p = Path(path)
    if not (p.exists() if folder_ok else p.is_file()):
        raise EquicareError(f"{path}: network file not found")
    return p


@dataclass(frozen=True)
class ComponentReport:
    """Weakly connected parts of a network.

    ``n_components`` counts them; ``largest_nodes`` is the size of the largest; ``detached_nodes``
    and ``detached_km`` measure everything else (nodes, km of road), ``sizes`` the node count of
    each component, largest first.
    """

    n_components: int
    largest_nodes: int
    detached_nodes: int
    detached_km: float
    sizes: tuple[int, ...]

    def describe(self) -> str:
        if self.n_components <= 1:
            return "network is connected (1 component)"
        return (f"network has {self.n_components} disconnected components: the largest has "
                f"{self.largest_nodes} nodes; {self.detached_nodes} nodes and {self.detached_km:.3f} km of road "
                f"lie in the other {self.n_components - 1}")


@dataclass
class Network:
    """A routable road network (see the module docstring for the arrays).

    ``mode`` is ``"drive"`` or ``"walk"``; ``source`` names the file; ``notes`` lists what the
    reader assumed (default speeds used, pieces noded, ...), for the output summary.
    """

    node_xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    geoms: np.ndarray
    length_m: np.ndarray
    minutes: np.ndarray
    forward: np.ndarray
    backward: np.ndarray
    crs: CRS
    mode: str
    source: str = ""
    notes: list[str] = field(default_factory=list)
    components: ComponentReport | None = None

    @property
    def n_nodes(self) -> int:
        return int(self.node_xy.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.u.size)

    def min_speed_kmh(self) -> float:
        """Slowest speed on any edge of positive length (km/h); bounds times from distances."""
        ok = self.length_m > 0
        if not ok.any():
            return float("inf")
        return float(np.min(self.length_m[ok] / 1000.0 / (self.minutes[ok] / 60.0)))


def max_speed_m_per_min(length_m: np.ndarray, minutes: np.ndarray) -> float:
    """Fastest speed on any edge, metres per minute (0 when no edge takes time)."""
    ok = minutes > 0
    return float(np.max(length_m[ok] / minutes[ok])) if ok.any() else 0.0


def metric_crs(crs, sample_xy: np.ndarray | None = None) -> CRS:
    """The CRS to measure in: ``crs`` itself when it is projected in metres (and not a Mercator
    projection such as Web Mercator, whose metres stretch with latitude), else the UTM zone of the
    data (``sample_xy`` in ``crs``, via :meth:`geopandas.GeoSeries.estimate_utm_crs`)."""
    import geopandas as gpd

    c = CRS.from_user_input(crs)
    method = (c.coordinate_operation.method_name if c.coordinate_operation else "").lower()
    mercator = "mercator" in method and "transverse" not in method  # Web Mercator: metres grow with latitude
    if c.is_projected and not mercator and c.axis_info and all((a.unit_name or "").lower() in ("metre", "meter")
                                                               for a in c.axis_info[:2]):
        return c
    if sample_xy is None or len(sample_xy) == 0:
        raise EquicareError("cannot choose a metric CRS for an empty network")
    pts = gpd.GeoSeries(shapely.points(np.asarray(sample_xy, float)), crs=c).to_crs(4326)
    return CRS.from_user_input(pts.estimate_utm_crs())


def build_network(geoms, speed_kmh, forward, backward, *, crs, mode: str, source: str = "",
                  u_keys=None, v_keys=None, notes: list[str] | None = None) -> Network:
    """Graph from oriented line pieces.

    Parameters
    ----------
    geoms : array of shapely LineStrings, metres in ``crs``; each is an edge from its first to
        its last coordinate (pieces must already be split at junctions).
    speed_kmh : array, km/h per piece (> 0).
    forward, backward : bool arrays: travel allowed along / against the digitised direction.
    u_keys, v_keys : optional node identities of the two ends (OSM node ids); by default the ends
        are matched by coordinates rounded to the millimetre.

    Pieces of zero length that join a node to itself, and pieces open in neither direction, are dropped.
    """
    geoms = np.asarray(geoms, dtype=object)
    speed = np.asarray(speed_kmh, float)
    fwd, bwd = np.asarray(forward, bool), np.asarray(backward, bool)
    if geoms.size == 0:
        raise EquicareError(f"{source or 'network'}: no roads for mode {mode!r}")
    if not np.all(np.isfinite(speed) & (speed > 0)):
        k = int(np.flatnonzero(~(np.isfinite(speed) & (speed > 0)))[0])
        raise EquicareError(f"{source}: speed must be a positive number of km/h (piece {k + 1}, value: {speed[k]!r})")
    start = shapely.get_coordinates(shapely.get_point(geoms, 0))
    end = shapely.get_coordinates(shapely.get_point(geoms, -1))
    if u_keys is None:
        ends = np.round(np.vstack([start, end]) * 1000.0).astype(np.int64)
        _, inv = np.unique(ends, axis=0, return_inverse=True)
    else:
        _, inv = np.unique(np.concatenate([np.asarray(u_keys), np.asarray(v_keys)]), return_inverse=True)
    inv = inv.ravel()
    n = geoms.size
    u, v = inv[:n], inv[n:]
    node_xy = np.zeros((int(inv.max()) + 1, 2))
    node_xy[inv] = np.vstack([start, end])
    length = shapely.length(geoms)
    keep = (fwd | bwd) & ~((u == v) & (length == 0))
    geoms, speed, fwd, bwd, u, v, length = (a[keep] for a in (geoms, speed, fwd, bwd, u, v, length))
    minutes = length / (speed * 1000.0 / 60.0)
    net = Network(node_xy=node_xy, u=u.astype(np.int64), v=v.astype(np.int64), geoms=geoms, length_m=length,
                  minutes=minutes, forward=fwd, backward=bwd, crs=CRS.from_user_input(crs), mode=mode,
                  source=source, notes=list(notes or []))
    net.components = _components(net)
    return net


def _components(net: Network) -> ComponentReport:
    n = net.n_nodes
    adj = sp.coo_matrix((np.ones(net.n_edges), (net.u, net.v)), shape=(n, n)).tocsr()
    k, labels = connected_components(adj, directed=False)
    used = np.zeros(n, bool)
    used[net.u] = used[net.v] = True
    sizes = np.bincount(labels[used], minlength=k)
    big = int(np.argmax(sizes))
    detached_km = float(net.length_m[labels[net.u] != big].sum() / 1000.0)
    order = np.sort(sizes[sizes > 0])[::-1]
    return ComponentReport(n_components=int((sizes > 0).sum()), largest_nodes=int(sizes[big]),
                           detached_nodes=int(sizes.sum() - sizes[big]), detached_km=detached_km,
                           sizes=tuple(int(s) for s in order))


def directed_arrays(u, v, minutes, length_m, forward, backward):
    """Directed arcs ``(tail, head, minutes, metres)`` of edges open in each direction."""
    f, b = np.asarray(forward, bool), np.asarray(backward, bool)
    tail = np.concatenate([u[f], v[b]])
    head = np.concatenate([v[f], u[b]])
    return tail, head, np.concatenate([minutes[f], minutes[b]]), np.concatenate([length_m[f], length_m[b]])
