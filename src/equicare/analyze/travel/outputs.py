"""The files ``equicare costs`` writes: the cost table, the snap report and, with a population
column, the catchments and nearest-facility tables (with lat/lon, ready to map)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from equicare.analyze.travel.catchments import facility_catchments, nearest_facility
from equicare.analyze.travel.costtable import TravelCosts, travel_costs
from equicare.analyze.travel.points import plain_value, read_points
from equicare.csvout import write_csv
from equicare.errors import EquicareError, Problem, ValidationError

__all__ = ["costs_to_files"]


def costs_to_files(origins: str, destinations: str, out: str, network: str | None = None, mode: str = "drive",
                   max_minutes: float | None = None, max_km: float | None = None, origin_id: str = "id",
                   destination_id: str = "id", population: str | None = None,
                   catchment_minutes: float | None = None, engine=None, **options) -> tuple[TravelCosts, list[Path]]:
    """Compute :func:`.costtable.travel_costs` and write ``OUT`` (``origin,destination,cost,distance_m``),
    ``OUT_snaps.csv`` and, when ``population`` names a column of the origins, ``OUT_catchments.csv``
    (population within ``catchment_minutes``, default ``max_minutes``, of each destination) and
    ``OUT_nearest.csv`` (each origin's fastest destination). Nothing is written when input is rejected.
    ``engine`` replaces ``travel_costs`` with a function of the same call (e.g. the computation by chunks
    of origins on a Dask cluster, :func:`equicare.scale.chunked_costs.costs_engine`).
    """
    O = read_points(origins, origin_id)
    D = read_points(destinations, destination_id)
    pop = None
    if population is not None:
        if population not in O.attrs.columns:
            raise ValidationError([Problem(O.file, None, population, "population column is missing")])
        pop = pd.to_numeric(O.attrs[population], errors="coerce")
        bad = pop.isna() | (pop < 0)
        if bad.any():
            raise ValidationError([Problem(O.file, int(k) + 2, population, "must be a number >= 0",
                                           plain_value(O.attrs[population].iloc[k])) for k in bad.to_numpy().nonzero()[0][:20]])
        catchment_minutes = max_minutes if catchment_minutes is None else catchment_minutes
        if catchment_minutes is None:
            raise EquicareError("--population needs --catchment-minutes or --max-minutes (the catchment's travel time)")
    res = (engine or travel_costs)(O, D, network=network, mode=mode, max_minutes=max_minutes, max_km=max_km,
                                   **options)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("")
    files = [path, Path(f"{stem}_snaps.csv")]
    write_csv(res.table, files[0])
    write_csv(res.snaps, files[1])
    if pop is not None:
        cat = facility_catchments(res.table, O.ids, pop.to_numpy(float), catchment_minutes, D.ids)
        cat.insert(1, "lat", D.lat)
        cat.insert(2, "lon", D.lon)
        cat.insert(3, "minutes", catchment_minutes)
        near = nearest_facility(res.table, O.ids)
        near.insert(1, "lat", O.lat)
        near.insert(2, "lon", O.lon)
        near.insert(3, population, pop.to_numpy(float))
        files += [Path(f"{stem}_catchments.csv"), Path(f"{stem}_nearest.csv")]
        write_csv(cat, files[2])
        write_csv(near, files[3])
    return res, files
