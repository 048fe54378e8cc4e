"""Catchments a planner can map: the population within M minutes of each facility, and each
region's travel time to its nearest facility.

Both read a long cost table (``origin,destination,cost[,distance_m]``, cost in minutes) such as
:func:`.costtable.travel_costs` returns. A pair that is absent from the table is out of reach.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.errors import EquicareError, plain_text

__all__ = ["facility_catchments", "nearest_facility"]


def facility_catchments(costs: pd.DataFrame, origin_ids, population, minutes: float,
                        destination_ids) -> pd.DataFrame:
    """Population within ``minutes`` of each facility.

    Parameters
    ----------
    costs : long table with ``origin``, ``destination``, ``cost`` (minutes).
    origin_ids, population : the regions (origins) and their population (same length, >= 0).
    minutes : the catchment's travel time (pairs with ``cost <= minutes`` count).
    destination_ids : every facility, so facilities with nobody in reach get 0.

    Returns
    -------
    DataFrame with ``destination``, ``population_within`` (people), ``origins_within`` (count).
    """
    if not (np.isfinite(minutes) and minutes >= 0):
        raise EquicareError(f"catchment minutes must be a number >= 0 (value: {plain_text(minutes)})")
    pop = pd.Series(np.asarray(population, float), index=pd.Index(np.asarray(origin_ids).astype(str)))
    within = costs[costs["cost"] <= minutes]
    w = within["origin"].astype(str).map(pop).fillna(0.0)
    agg = pd.DataFrame({"destination": within["destination"].astype(str), "p": w.to_numpy()}) \
        .groupby("destination")["p"].agg(["sum", "size"])
    dest = pd.Index(np.asarray(destination_ids).astype(str))
    return pd.DataFrame({"destination": dest,
                         "population_within": agg["sum"].reindex(dest).fillna(0.0).to_numpy(),
                         "origins_within": agg["size"].reindex(dest).fillna(0).astype(int).to_numpy()})


def nearest_facility(costs: pd.DataFrame, origin_ids) -> pd.DataFrame:
    """Each origin's fastest facility: ``origin``, ``nearest``, ``minutes``, ``distance_m``, ``note``.

    An origin with no facility in the table (none reachable, or none within the cut-off used to
    build it) gets empty values and a ``note`` saying so. Ties go to the first facility in the table.
    """
    oid = pd.Index(np.asarray(origin_ids).astype(str))
    c = costs.assign(origin=costs["origin"].astype(str))
    best = c.loc[c.groupby("origin", sort=False)["cost"].idxmin()] if len(c) else c
    best = best.set_index("origin").reindex(oid)
    out = pd.DataFrame({"origin": oid, "nearest": best["destination"].to_numpy(),
                        "minutes": best["cost"].to_numpy(float)})
    out["distance_m"] = best["distance_m"].to_numpy(float) if "distance_m" in best else np.nan
    out["note"] = np.where(out["minutes"].isna(), "no facility in reach (no route, beyond the cut-off, or the point is "
                           "not joined to the network)", "")
    return out
