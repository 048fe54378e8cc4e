"""Scenario builders from the bundled data: the flu-surge demand of the worked example and state distances."""

from __future__ import annotations

import numpy as np
import pandas as pd

from functools import lru_cache
from pathlib import Path

from equicare import params
from equicare.errors import EquicareError


def flu_surge_tables(severity: float = params.SEVERITY.default, icu_fraction: float = params.ICU_FRACTION.default,
                     icu_los_days: float = params.ICU_LOS_DAYS.default, ventilator_fraction: float = 0.4,
                     target_occupancy: float = params.TARGET_OCCUPANCY.default,
                     surge_cap_ratio: float = params.SURGE_CAP_RATIO.default, season: str = "2023-24",
                     quantiles: list[float] | None = None, min_log_sd: float = 0.2, source: str = "season",
                     as_of: str = params.AS_OF, model: str | None = None) -> dict[str, pd.DataFrame]:
    """Capacity and demand scenarios for surge ICU beds and ventilators by state, from bundled data.

    Two sources of the peak weekly influenza admissions per state and scenario:

    * ``source="forecast"``: equicare's own quantile forecast (:func:`equicare.forecast.forecast`, model
      ``model``, default the ensemble) from the bundled FluSight target data as of the Saturday
      ``as_of`` (only data up to ``as_of - 7`` days are used); scenario *q* is the largest *q*-quantile
      over horizons 0-3 (:func:`equicare.forecast.demand_scenarios`) times ``severity``.
    * ``source="season"`` (default): a transparent stand-in. ``P_s`` is state *s*'s observed peak in
      ``season``; ``sigma`` is the standard deviation, pooled over states, of log(season peak / state's
      mean season peak) over the complete seasons in the data (at least ``min_log_sd``); scenario *q*
      (the 23 hubverse quantile levels, :data:`equicare.params.QUANTILES`) is ``P_s severity exp(sigma z_q)``.

    Then:

    * flu ICU
      patients ``F_sq = peak * icu_fraction * icu_los_days / 7``; ventilated patients
      ``ventilator_fraction * F_sq``.
    * Existing capacity for flu patients: ICU beds free below the target occupancy,
      ``max(0, (target - u_s) C_s)`` with staffed ICU beds ``C_s`` and usual occupancy ``u_s``;
      ventilators not in use, ``V_s (1 - u_s)`` (2010 ventilator estimates).
    * Surge ICU beds a state can staff: ``surge_cap_ratio C_s``.

    Returns
    -------
    dict with ``regions`` (id, name), ``capacity`` (region, resource, capacity), ``demand`` (region,
    resource, scenario, value) and ``max_alloc`` (region, resource, value).
    """
    from scipy.stats import norm

    from equicare.data.bundled import data_path

    qs = list(params.QUANTILES) if quantiles is None else list(quantiles)
    cap = pd.read_csv(data_path("capacity/state.csv"))
    adm = pd.read_csv(data_path("flusight/target-hospital-admissions.csv"), dtype={"location": str})
    loc = pd.read_csv(data_path("flusight/locations.csv"), dtype={"location": str})
    adm = adm[adm["location"] != "US"].merge(loc[["location", "abbreviation"]], on="location")
    d = pd.to_datetime(adm["date"])
    start = d.dt.year.where(d.dt.month >= 8, d.dt.year - 1)
    adm["season"] = start.astype(str) + "-" + ((start + 1) % 100).astype(str).str.zfill(2)
    counts = adm.groupby("season")["date"].nunique()
    full = counts[counts >= 45].index.tolist()
    peaks = adm.groupby(["abbreviation", "season"])["value"].max().unstack()
    if season not in peaks.columns:
        raise EquicareError(f"season {season!r} is not in the bundled admissions (have {', '.join(peaks.columns)})")
    fullp = peaks[full].clip(lower=1.0)
    rel = np.log(fullp.div(fullp.mean(axis=1), axis=0))
    sigma = max(min_log_sd, float(np.nanstd(rel.to_numpy(), ddof=1))) if len(full) > 1 else 0.5
    cap = cap.rename(columns={"State": "region", "State Name": "name"})
    cap = cap[cap["region"].isin(peaks.index)].copy()
    C = cap["Staffed ICU Beds"].astype(float).to_numpy()
    u = cap["ICU Bed Occupancy Rate"].astype(float).fillna(cap["ICU Bed Occupancy Rate"].astype(float).median()).to_numpy()
    V = pd.to_numeric(cap["Estimated No. Full-Featured Mechanical Ventilators (2010 study estimate)"],
                      errors="coerce").fillna(0).to_numpy()
    P = peaks.loc[cap["region"], season].fillna(0).to_numpy(float)
    if source not in ("season", "forecast"):
        raise EquicareError(f"flu_surge: source must be 'season' or 'forecast', not {source!r}")
    fpeak = None
    if source == "forecast":
        from equicare.forecast import demand_scenarios
        from equicare.forecast.run import DEFAULT_MODEL

        fc = bundled_forecast(str(as_of), model or DEFAULT_MODEL)
        sc = demand_scenarios(fc, tuple(qs))
        abbr = dict(zip(loc["location"], loc["abbreviation"]))
        sc["region"] = sc["location"].map(abbr)
        fpeak = sc.pivot_table(index="region", columns="level", values="value").reindex(cap["region"])
        if fpeak.isna().any().any():
            raise EquicareError("flu_surge: no forecast for " + ", ".join(fpeak.index[fpeak.isna().any(axis=1)]))
    regions = cap[["region", "name"]].rename(columns={"region": "id"}).reset_index(drop=True)
    capacity = pd.concat([
        pd.DataFrame({"region": cap["region"], "resource": "icu_beds",
                      "capacity": np.floor(np.maximum(0.0, (target_occupancy - u) * C))}),
        pd.DataFrame({"region": cap["region"], "resource": "ventilators", "capacity": np.floor(V * (1 - u))}),
    ], ignore_index=True)
    rows = []
    for q in qs:
        if fpeak is not None:
            peak = fpeak[round(float(q), 4)].to_numpy(float) * severity
        else:
            peak = P * severity * np.exp(sigma * norm.ppf(q))
        F = peak * icu_fraction * icu_los_days / 7.0
        name = f"q{q:g}"
        rows.append(pd.DataFrame({"region": cap["region"], "resource": "icu_beds", "scenario": name,
                                  "value": np.round(F, 1)}))
        rows.append(pd.DataFrame({"region": cap["region"], "resource": "ventilators", "scenario": name,
                                  "value": np.round(F * ventilator_fraction, 1)}))
    demand = pd.concat(rows, ignore_index=True)
    max_alloc = pd.DataFrame({"region": cap["region"], "resource": "icu_beds",
                              "value": np.floor(surge_cap_ratio * C)})
    return {"regions": regions, "capacity": capacity, "demand": demand, "max_alloc": max_alloc,
            "sigma": pd.DataFrame({"sigma": [sigma]})}


def state_pairs() -> pd.DataFrame:
    """Great-circle km between states' population centres (population-weighted county centres, bundled)."""
    from equicare.data.bundled import data_path

    cc = pd.read_csv(data_path("geo/county_population_centers_2020.csv"), dtype={"STATEFP": str})
    loc = pd.read_csv(data_path("flusight/locations.csv"), dtype={"location": str})
    cc = cc.merge(loc[["location", "abbreviation"]], left_on="STATEFP", right_on="location")
    w = cc["POPULATION"].astype(float)
    lat = np.radians(cc["LATITUDE"].astype(float))
    lon = np.radians(cc["LONGITUDE"].astype(float))
    xyz = np.c_[np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)] * w.to_numpy()[:, None]
    g = pd.DataFrame(xyz, columns=["x", "y", "z"]).groupby(cc["abbreviation"].to_numpy()).sum()
    v = g.to_numpy().copy()
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ang = np.arccos(np.clip(v @ v.T, -1, 1))
    km = 6371.0088 * ang
    ids = g.index.to_numpy()
    a, b = np.meshgrid(np.arange(len(ids)), np.arange(len(ids)), indexing="ij")
    keep = a != b
    return pd.DataFrame({"origin": ids[a[keep]], "destination": ids[b[keep]], "distance": km[keep]})


#: Bundled files the scenario's forecast reads (truth and the training extras); their size and change time
#: are part of the cache key of :func:`bundled_forecast`.
_FORECAST_FILES = ("target-hospital-admissions.csv", "hhs-flu-admissions-2020-2023.csv.gz", "ilinet_state.csv.gz",
                   "ilinet_hhs.csv.gz")


def bundled_forecast(as_of: str, model: str) -> pd.DataFrame:
    """equicare's quantile forecast from the bundled admissions and extras, as ``flu_surge(source="forecast")``
    uses it: :func:`equicare.forecast.forecast` with the bundled history and ILINet pseudo-rates.

    Computed once per process for each (``as_of``, ``model``, bundled data files' size and change time): a
    scenario is loaded by the planner, again by the report and by every what-if; each call gets its own copy.
    """
    from equicare.forecast.truth import bundled_path

    stamp = tuple((f, *_stat(bundled_path(f))) for f in _FORECAST_FILES)
    return _cached_forecast(as_of, model, stamp).copy()


def _stat(path) -> tuple[int, int]:
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


@lru_cache(maxsize=8)
def _cached_forecast(as_of: str, model: str, stamp: tuple) -> pd.DataFrame:
    from equicare.forecast import forecast, load_truth
    from equicare.forecast.extras import bundled_extras
    from equicare.forecast.truth import bundled_path

    return forecast(load_truth(bundled_path(_FORECAST_FILES[0])), as_of, model=model, **bundled_extras().kwargs())
