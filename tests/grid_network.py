"""Random street grids for the travel-time tests: jittered n x n grids (300 m apart, UTM zone 35N) with random
speeds and one-way streets, some streets optionally missing."""

from __future__ import annotations

import numpy as np


def grid_network(rng: np.random.Generator, n: int, *, p_oneway: float, speeds, p_drop: float | None = None):
    """A drive network on the grid and its node coordinates ``xy`` (metres); ``(None, xy)`` when every street
    was dropped. Each street is one-way with probability ``p_oneway`` (either direction), missing with
    probability ``p_drop`` (no street is dropped, and no draw made for it, when None), and has a speed drawn
    from ``speeds`` (km/h)."""
    import shapely

    from equicare.analyze.travel.graph import build_network

    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    xy = np.column_stack([jj.ravel() * 300.0, ii.ravel() * 300.0]) + rng.uniform(-60, 60, (n * n, 2)) + [5e5, 6.6e6]
    ids = np.arange(n * n).reshape(n, n)
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    if p_drop is not None:
        keep = rng.uniform(size=u.size) >= p_drop
        u, v = u[keep], v[keep]
        if u.size == 0:
            return None, xy
    one = rng.uniform(size=u.size) < p_oneway
    fwd = ~(one & (rng.uniform(size=u.size) < 0.5))
    bwd = ~one | ~fwd
    net = build_network(shapely.linestrings(np.stack([xy[u], xy[v]], axis=1)), rng.choice(speeds, u.size),
                        fwd, bwd, crs="EPSG:32635", mode="drive", u_keys=u, v_keys=v)
    return net, xy
