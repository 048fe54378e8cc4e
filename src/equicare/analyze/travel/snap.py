"""Snap points to the nearest point of the network and split the edges there.

Each point goes to the nearest point on the nearest edge geometry (:meth:`shapely.STRtree.query_nearest`
and :func:`shapely.line_locate_point`; not the nearest vertex). The edge is split at that point into
pieces whose lengths and times are the edge's, shared in proportion to the distance along it, so a
route may start in the middle of a street and leave it at either end (or at one end only on a
one-way street). The snap distance (point to road) is walked at walking speed and reported. A point
farther than ``max_snap_m`` from every road is not joined: it is reported, and its pairs are absent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely

from equicare.analyze.travel.graph import Network, directed_arrays

__all__ = ["Snaps", "RoutingGraph", "snap_points", "split_network", "DEFAULT_MAX_SNAP_M"]

#: Points farther than this from every road (metres) are reported and not joined.
DEFAULT_MAX_SNAP_M = 1000.0

_TOL_M = 1e-6


@dataclass(frozen=True)
class Snaps:
    """Where points meet the network: per point, ``edge`` (-1 when beyond ``max_snap_m``),
    ``pos_m`` (metres along the edge from its node ``u``), ``snap_m`` (metres from the point to the
    nearest road, also for points that were not joined) and ``xy`` (the snapped location)."""

    edge: np.ndarray
    pos_m: np.ndarray
    snap_m: np.ndarray
    xy: np.ndarray
    max_snap_m: float

    @property
    def joined(self) -> np.ndarray:
        return self.edge >= 0


@dataclass(frozen=True)
class RoutingGraph:
    """Directed graph with the snapped points as nodes.

    ``minutes`` and ``metres`` are CSR matrices ``(n_nodes, n_nodes)`` with identical structure
    (one arc per ordered node pair: the fastest of parallel edges); ``point_node[k]`` is the node
    of point ``k`` (-1 when it was not joined); ``node_xy`` the coordinates of every node (metres).
    """

    minutes: sp.csr_matrix
    metres: sp.csr_matrix
    point_node: np.ndarray
    node_xy: np.ndarray


def snap_points(net: Network, xy: np.ndarray, max_snap_m: float = DEFAULT_MAX_SNAP_M) -> Snaps:
    """Nearest point of the network for each of ``xy`` (``(n, 2)`` metres in ``net.crs``)."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    n = xy.shape[0]
    edge = np.full(n, -1, np.int64)
    pos = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    snapped = np.full((n, 2), np.nan)
    if n == 0:
        return Snaps(edge, pos, dist, snapped, float(max_snap_m))
    pts = shapely.points(xy)
    tree = shapely.STRtree(net.geoms)
    (ip, ie), d = tree.query_nearest(pts, all_matches=False, return_distance=True)
    dist[ip] = d
    near = d <= max_snap_m
    ip, ie = ip[near], ie[near]
    edge[ip] = ie
    pos[ip] = shapely.line_locate_point(net.geoms[ie], pts[ip])
    pos[ip] = np.clip(pos[ip], 0.0, net.length_m[ie])
    snapped[ip] = shapely.get_coordinates(shapely.line_interpolate_point(net.geoms[ie], pos[ip]))
    return Snaps(edge, pos, dist, snapped, float(max_snap_m))


def split_network(net: Network, snaps: Snaps) -> RoutingGraph:
    """The network with every joined point inserted as a node on its edge (see the module docstring)."""
    n = net.n_nodes
    ok = snaps.joined
    e = snaps.edge[ok]
    t = snaps.pos_m[ok]
    L = net.length_m[e]
    point_node = np.full(snaps.edge.size, -1, np.int64)
    node_ok = np.where(t <= _TOL_M, net.u[e], np.where(t >= L - _TOL_M, net.v[e], -1))
    inner = node_ok < 0
    # one new node per distinct (edge, position) strictly inside an edge
    key = np.rec.fromarrays([e[inner], t[inner]], names="e,t")
    uniq, inv = np.unique(key, return_inverse=True)
    new_ids = n + np.arange(uniq.size)
    node_ok[inner] = new_ids[inv.ravel()]
    point_node[ok] = node_ok
    ue, ut = uniq["e"].astype(np.int64), uniq["t"].astype(float)
    first = np.ones(ue.size, bool)
    first[1:] = ue[1:] != ue[:-1]
    last = np.ones(ue.size, bool)
    last[:-1] = ue[1:] != ue[:-1]
    prev_node = np.where(first, net.u[ue], np.roll(new_ids, 1))
    prev_t = np.where(first, 0.0, np.roll(ut, 1))
    # pieces: previous split (or u) -> this split, and last split -> v
    pu = np.concatenate([prev_node, new_ids[last]])
    pv = np.concatenate([new_ids, net.v[ue[last]]])
    pe = np.concatenate([ue, ue[last]])
    plen = np.concatenate([ut - prev_t, net.length_m[ue[last]] - ut[last]])
    rate = np.divide(net.minutes, net.length_m, out=np.zeros_like(net.minutes), where=net.length_m > 0)
    keep = np.ones(net.n_edges, bool)
    keep[ue] = False
    u = np.concatenate([net.u[keep], pu])
    v = np.concatenate([net.v[keep], pv])
    metres = np.concatenate([net.length_m[keep], plen])
    minutes = np.concatenate([net.minutes[keep], plen * rate[pe]])
    fwd = np.concatenate([net.forward[keep], net.forward[pe]])
    bwd = np.concatenate([net.backward[keep], net.backward[pe]])
    tail, head, mins, mets = directed_arrays(u, v, minutes, metres, fwd, bwd)
    size = n + uniq.size
    order = np.lexsort((mins, head, tail))
    tail, head, mins, mets = tail[order], head[order], mins[order], mets[order]
    one = np.ones(tail.size, bool)
    one[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    tail, head, mins, mets = tail[one], head[one], mins[one], mets[one]
    indptr = np.zeros(size + 1, np.int64)
    np.cumsum(np.bincount(tail, minlength=size), out=indptr[1:])
    m_min = sp.csr_matrix((mins, head.astype(np.int32), indptr), shape=(size, size))
    m_met = sp.csr_matrix((mets, head.astype(np.int32), indptr.copy()), shape=(size, size))
    m_min.has_canonical_format = m_met.has_canonical_format = True
    new_xy = shapely.get_coordinates(shapely.line_interpolate_point(net.geoms[ue], ut)).reshape(-1, 2)
    return RoutingGraph(m_min, m_met, point_node, np.vstack([net.node_xy, new_xy]))
