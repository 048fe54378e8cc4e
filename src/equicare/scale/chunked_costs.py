"""Travel costs by chunks of origins on a Dask cluster, with the same table as one process.

The road network is read once (on the client) and sent to every worker; the destinations too. Each task
computes :func:`equicare.analyze.travel.travel_costs` for one chunk of origins against every destination,
so a national origin set never has to fit one process's shortest-path search. Snapping is per point and
the shortest paths between snapped points do not depend on which other points were snapped, so the pairs,
minutes and metres equal the one-process table (up to the order of floating-point additions along split
edges, relative differences of order 1e-12); the chunks come back in origin order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from equicare.analyze.travel import travel_costs
from equicare.analyze.travel.costtable import TravelCosts, load_network
from equicare.analyze.travel.graph import Network
from equicare.analyze.travel.points import Points
from equicare.errors import EquicareError
from equicare.scale.cluster import ClusterSpec, dask_client

DEFAULT_CHUNK_ORIGINS = 2_000
_NETWORK_OPTIONS = ("speeds", "walk_kmh", "speed_col", "oneway_col", "default_kmh", "node")


def _rows(points: Points, lo: int, hi: int) -> Points:
    return replace(points, ids=points.ids[lo:hi], lon=points.lon[lo:hi], lat=points.lat[lo:hi],
                   attrs=points.attrs.iloc[lo:hi].reset_index(drop=True))


def chunked_travel_costs(origins: Points, destinations: Points, network: str | Network | None = None,
                         mode: str = "drive", max_minutes: float | None = None, max_km: float | None = None, *,
                         client=None, cluster: ClusterSpec | None = None, chunk_rows: int = DEFAULT_CHUNK_ORIGINS,
                         progress: Callable[[int, int], None] | None = None, **options) -> TravelCosts:
    """:func:`~equicare.analyze.travel.travel_costs` split by origins on a Dask cluster.

    Parameters
    ----------
    origins, destinations : :class:`~equicare.analyze.travel.points.Points`.
    network : a path (read once here), a loaded network, or None (the great-circle fallback, which is
        cheap and computed here in one piece).
    client : an open ``distributed.Client``; else one is opened on ``cluster`` (default: local).
    chunk_rows : origins per task.
    options : as for ``travel_costs`` (``max_snap_m``, ``walk_kmh``, ``speeds``, ...).

    Returns
    -------
    TravelCosts
        The combined table, counts and snap report; ``assumptions`` says how it was split.
    """
    if not int(chunk_rows) >= 1:
        raise EquicareError(f"--chunk-rows must be at least 1 (got {chunk_rows})")
    if network is None:
        return travel_costs(origins, destinations, None, mode, max_minutes, max_km, **options)
    if client is None:
        with dask_client(cluster or ClusterSpec()) as c:
            return chunked_travel_costs(origins, destinations, network, mode, max_minutes, max_km, client=c,
                                        chunk_rows=chunk_rows, progress=progress, **options)
    net_opts = {k: options.pop(k) for k in _NETWORK_OPTIONS if k in options}
    net = network if isinstance(network, Network) else load_network(network, mode, **net_opts)
    if "walk_kmh" in net_opts:
        options["walk_kmh"] = net_opts["walk_kmh"]
    n = len(origins)
    bounds = [(lo, min(lo + int(chunk_rows), n)) for lo in range(0, n, int(chunk_rows))] or [(0, 0)]
    net_f = client.scatter(net, broadcast=True, hash=False)
    dest_f = client.scatter(destinations, broadcast=True, hash=False)
    futures = [client.submit(travel_costs, _rows(origins, lo, hi), dest_f, network=net_f, mode=mode,
                             max_minutes=max_minutes, max_km=max_km, pure=False, **options) for lo, hi in bounds]
    parts: list[TravelCosts] = []
    for k, fut in enumerate(futures):
        parts.append(fut.result())
        if progress:
            progress(k + 1, len(futures))
    first = parts[0]
    snaps = pd.concat([p.snaps[p.snaps["role"] == "origin"] for p in parts]
                      + [first.snaps[first.snaps["role"] == "destination"]], ignore_index=True)
    seconds = {k: float(np.sum([p.seconds.get(k, 0.0) for p in parts])) for k in first.seconds}
    return replace(first, table=pd.concat([p.table for p in parts], ignore_index=True), n_origins=n,
                   n_absent=int(sum(p.n_absent for p in parts)),
                   n_absent_unjoined=int(sum(p.n_absent_unjoined for p in parts)), snaps=snaps, seconds=seconds,
                   assumptions=[*first.assumptions, f"computed in {len(parts)} chunks of up to {int(chunk_rows):,} "
                                                    "origins on a Dask cluster (task seconds summed)"])


def costs_engine(cluster: ClusterSpec, chunk_rows: int = DEFAULT_CHUNK_ORIGINS,
                 progress: Callable[[int, int], None] | None = None) -> Callable[..., TravelCosts]:
    """A drop-in for ``travel_costs`` (same call) that splits the origins on ``cluster``."""

    def engine(origins: Points, destinations: Points, network=None, mode: str = "drive",
               max_minutes: float | None = None, max_km: float | None = None, **options) -> TravelCosts:
        return chunked_travel_costs(origins, destinations, network, mode, max_minutes, max_km, cluster=cluster,
                                    chunk_rows=chunk_rows, progress=progress, **options)

    return engine


__all__ = ["DEFAULT_CHUNK_ORIGINS", "chunked_travel_costs", "costs_engine"]
