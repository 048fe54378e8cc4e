"""Fastest paths between sets of nodes: :func:`scipy.sparse.csgraph.dijkstra` with a cut-off.

Dijkstra runs from the smaller of the two node sets (on the transposed graph when that is the
destination side, so times stay origin -> destination), in chunks of sources so the dense
``(chunk, n_nodes)`` result stays within ``max_cells``; ``limit`` stops each search at the cut-off
and, given node coordinates, each group of nearby sources searches only the nodes within the reach
radius (see :func:`fastest_paths`), so work grows with the part of the network in reach, not with its size. The length of each
fastest path (metres) is summed along scipy's predecessor tree from each target back to its source.

pandana's contraction hierarchies were measured against this on the same graphs
(``bench/bench_travel.py``) and are not used: see docs/travel.md for the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

__all__ = ["PathPairs", "fastest_paths", "MAX_CELLS"]

#: Cells of the dense (sources x nodes) Dijkstra results held at once (x 20 bytes: times, predecessors,
#: arc lengths).
MAX_CELLS = 10_000_000


@dataclass(frozen=True)
class PathPairs:
    """Reached pairs: ``src[k]`` and ``dst[k]`` index the node lists given; ``minutes`` and
    ``metres`` are the time of the fastest path and its length."""

    src: np.ndarray
    dst: np.ndarray
    minutes: np.ndarray
    metres: np.ndarray


def _arc_keys(g: sp.csr_matrix) -> np.ndarray:
    n = g.shape[0]
    return np.repeat(np.arange(n, dtype=np.int64), np.diff(g.indptr)) * n + g.indices.astype(np.int64)


def fastest_paths(minutes: sp.csr_matrix, metres: sp.csr_matrix, src_nodes, dst_nodes,
                  limit: float | None = None, max_cells: int = MAX_CELLS, node_xy: np.ndarray | None = None,
                  max_m_per_min: float | None = None) -> PathPairs:
    """Times (minutes) and lengths (metres) of the fastest paths from each of ``src_nodes`` to each of
    ``dst_nodes``, for pairs within ``limit`` minutes.

    ``minutes`` and ``metres`` are CSR matrices of identical structure (one arc per ordered pair,
    canonical format). Nodes may repeat in either list. Pairs that cannot be reached (or not within
    ``limit``) are absent.

    With a ``limit``, node coordinates ``node_xy`` (metres) and the fastest speed on any arc
    ``max_m_per_min`` (arc length / arc time, arc lengths >= the straight line between its ends), the
    sources are grouped by square cells of side ``R = limit * max_m_per_min`` and each group searches
    only the nodes within ``R`` of its cell: no node farther than ``R`` can be reached within ``limit``,
    so the result is the same and the work per source follows the part of the network in reach.
    """
    src_nodes, dst_nodes = np.asarray(src_nodes, np.int64), np.asarray(dst_nodes, np.int64)
    us, src_inv = np.unique(src_nodes, return_inverse=True)
    ud, dst_inv = np.unique(dst_nodes, return_inverse=True)
    reverse = ud.size < us.size
    if reverse:
        g_min, g_met = minutes.T.tocsr(), metres.T.tocsr()
        g_min.sort_indices()
        g_met.sort_indices()
        roots, targets = ud, us
    else:
        g_min, g_met, roots, targets = minutes, metres, us, ud
    lim = np.inf if limit is None else float(limit)
    radius = lim * max_m_per_min if (np.isfinite(lim) and node_xy is not None and max_m_per_min) else np.inf
    out_r, out_t, out_min, out_met = [], [], [], []
    for grp in _spatial_groups(node_xy[roots] if np.isfinite(radius) else None, radius, roots.size):
        if np.isfinite(radius):
            xy = node_xy[roots[grp]]
            lo, hi = xy.min(0) - radius, xy.max(0) + radius
            sel = np.flatnonzero(np.all((node_xy >= lo) & (node_xy <= hi), axis=1))
            local = np.full(g_min.shape[0], -1, np.int64)
            local[sel] = np.arange(sel.size)
            s_min, s_met = g_min[sel][:, sel], g_met[sel][:, sel]
            s_min.sort_indices()
            s_met.sort_indices()
            t_pos = np.flatnonzero(local[targets] >= 0)
            s_roots, s_targets = local[roots[grp]], local[targets[t_pos]]
        else:
            s_min, s_met, t_pos, s_roots, s_targets = g_min, g_met, np.arange(targets.size), roots[grp], targets
        r, t, m, d = _search(s_min, s_met, s_roots, s_targets, lim, max_cells)
        out_r.append(grp[r])
        out_t.append(t_pos[t])
        out_min.append(m)
        out_met.append(d)
    root_k = np.concatenate(out_r) if out_r else np.zeros(0, np.int64)
    tgt_k = np.concatenate(out_t) if out_t else np.zeros(0, np.int64)
    mins = np.concatenate(out_min) if out_min else np.zeros(0)
    mets = np.concatenate(out_met) if out_met else np.zeros(0)
    u_src, u_dst = (tgt_k, root_k) if reverse else (root_k, tgt_k)
    return _expand(u_src, u_dst, mins, mets, src_inv.ravel(), dst_inv.ravel(), us.size, ud.size)


def _spatial_groups(xy: np.ndarray | None, radius: float, n: int) -> list[np.ndarray]:
    """Indices ``0..n-1`` grouped by square cells of side ``radius`` (one group without coordinates)."""
    if xy is None or n == 0:
        return [np.arange(n)]
    cell = np.floor((xy - xy.min(0)) / max(radius, 1.0)).astype(np.int64)
    key = cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1]
    order = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    return np.split(order, cuts)


def _search(g_min: sp.csr_matrix, g_met: sp.csr_matrix, roots: np.ndarray, targets: np.ndarray, lim: float,
            max_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dijkstra from ``roots`` in chunks: (root position, target position, minutes, metres) of reached pairs."""
    keys = _arc_keys(g_min)
    n = g_min.shape[0]
    chunk = max(1, min(roots.size, max_cells // max(n, 1)))
    out = []
    for start in range(0, roots.size, chunk):
        rows = roots[start:start + chunk]
        dist, pred = dijkstra(g_min, directed=True, indices=rows, limit=lim, return_predecessors=True)
        sub = dist[:, targets]
        r, tcol = np.nonzero(np.isfinite(sub))
        pos, acc = _tree_lengths(dist, pred, g_met, keys)
        out.append((r + start, tcol, sub[r, tcol], acc[pos[r * n + targets[tcol]]]))
        del dist, pred, pos, acc
    if not out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return tuple(np.concatenate(x) for x in zip(*out))


def _tree_lengths(dist: np.ndarray, pred: np.ndarray, g_met: sp.csr_matrix,
                  keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length (metres) of the tree path from each row's root to every reached node.

    Returns ``pos`` (flat cell ``row * n + node`` -> index, -1 when not reached) and ``acc``
    (metres per reached cell).

    The reached cells are compacted and their distances to the root summed by pointer doubling
    (``acc += acc[parent]; parent = parent[parent]``), ``ceil(log2(depth))`` vectorised passes.
    """
    c, n = dist.shape
    cells = np.flatnonzero(np.isfinite(dist.ravel()))
    pos = np.full(c * n, -1, np.int64 if cells.size >= 2**31 else np.int32)
    pos[cells] = np.arange(cells.size)
    row = cells // n
    node = cells - row * n
    p = pred.ravel()[cells].astype(np.int64)
    root = p < 0
    par = np.where(root, np.arange(cells.size), pos[row * n + np.maximum(p, 0)]).astype(np.int64)
    acc = np.zeros(cells.size)
    acc[~root] = g_met.data[np.searchsorted(keys, p[~root] * n + node[~root])]
    while True:
        grand = par[par]
        if np.array_equal(grand, par):
            break
        acc += acc[par]
        par = grand
    return pos, acc


def _expand(u_src, u_dst, mins, mets, src_inv, dst_inv, n_us, n_ud) -> PathPairs:
    """From pairs of distinct nodes to pairs of list positions (a node may stand for several points)."""
    # positions of each unique node in the input lists
    s_order = np.argsort(src_inv, kind="stable")
    s_ptr = np.zeros(n_us + 1, np.int64)
    np.cumsum(np.bincount(src_inv, minlength=n_us), out=s_ptr[1:])
    d_order = np.argsort(dst_inv, kind="stable")
    d_ptr = np.zeros(n_ud + 1, np.int64)
    np.cumsum(np.bincount(dst_inv, minlength=n_ud), out=d_ptr[1:])
    ns = s_ptr[u_src + 1] - s_ptr[u_src]
    nd = d_ptr[u_dst + 1] - d_ptr[u_dst]
    reps = ns * nd
    pair = np.repeat(np.arange(u_src.size), reps)
    within = np.arange(pair.size) - np.repeat(np.cumsum(reps) - reps, reps)
    si = s_order[s_ptr[u_src[pair]] + within // nd[pair]]
    di = d_order[d_ptr[u_dst[pair]] + within % nd[pair]]
    order = np.lexsort((di, si))
    return PathPairs(si[order], di[order], mins[pair][order], mets[pair][order])
