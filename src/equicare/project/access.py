"""The access and inequality stages of a project: capacity per 1,000 people, spatial access, shortage areas,
descriptive statistics and inequality, by region and (with ``subregions``) by small area.

Capacity per region is the facilities' capacity summed into it (a facility with an unknown value is left out of
that capacity's sum, and the region's ``note`` says so; a region whose facilities' values are all unknown has an
unknown capacity, not 0); rates are per 1,000 people and, when ``population_65plus`` is
given, per 1,000 people aged 65+.  Access is computed on the finest level given (small areas when present,
else regions) by :func:`equicare.analyze.access.compute_access`; a region's access is then the population-
weighted mean of its small areas'.  Shortage areas are those whose access per 1,000 is below
``access.shortage_fraction`` times the population-weighted mean (:func:`equicare.analyze.shortage.shortage_areas`,
as HRSA's relative shortage designation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from equicare.errors import EquicareError
from equicare.project.ingest import Inputs
from equicare.project.spec import Project

#: Level names in the inequality and descriptive-statistics tables.
LEVELS = ("region", "small area")


@dataclass
class AccessResult:
    """Tables and summary of the access stage.

    ``regions``: ``region, name, population, n_facilities``, per capacity column ``<cap>``, ``<cap>_per_1000``
    (and ``<cap>_per_1000_65plus``), and the access measure; ``subregions`` the same per small area with
    ``subregion`` (its id) and ``region`` (its region's); ``shortage`` the shortage areas, worst first."""

    regions: pd.DataFrame
    subregions: pd.DataFrame | None = None
    shortage: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)


def capacity_rates(units: pd.DataFrame, fac: pd.DataFrame | None, key: str, caps: list[str]) -> pd.DataFrame:
    """Facilities (``fac[key]`` = the unit's id) summed into ``units`` and divided by their population.

    Returns ``population, n_facilities, <cap>, <cap>_per_1000`` (``<cap>_per_1000_65plus`` when ``units`` has
    ``population_65plus``) in the order of ``units``; a rate of a unit without people is missing, never infinite.
    """
    out = pd.DataFrame({"name": units["name"].to_numpy(), "population": units["population"].to_numpy(float)})
    if fac is None:
        return out
    ids = units["id"]
    g = fac.groupby(key)
    out["n_facilities"] = ids.map(g.size()).fillna(0).astype(int).to_numpy()
    older = units["population_65plus"].to_numpy(float) if "population_65plus" in units else None
    pop = out["population"].to_numpy(float)
    for c in caps:
        # no facility: 0; facilities whose values are all unknown: unknown (never 0); else the known ones summed
        has = ids.map(g.size()).fillna(0).to_numpy() > 0
        out[c] = np.where(has, ids.map(g[c].sum(min_count=1)).to_numpy(float), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{c}_per_1000"] = np.where(pop > 0, 1000.0 * out[c] / pop, np.nan)
            if older is not None:
                out[f"{c}_per_1000_65plus"] = np.where(older > 0, 1000.0 * out[c] / older, np.nan)
    return out


def access_stage(project: Project, inp: Inputs) -> AccessResult:
    """Capacity rates by region (and small area), the access measure on the finest level, shortage areas."""
    from equicare.analyze.access import compute_access

    fac = inp.facilities
    caps = list(project.facilities.capacity) if project.facilities else []
    reg = capacity_rates(inp.regions, fac, "region", caps)
    reg.insert(0, "region", inp.regions["id"].to_numpy())
    sub = None
    if inp.subregions is not None:
        sub = capacity_rates(inp.subregions, fac, "subregion", caps)
        sub.insert(0, "region", inp.subregions["parent"].to_numpy())
        sub.insert(0, "subregion", inp.subregions["id"].to_numpy())
    summary: dict = {}
    if fac is not None:
        summary["facilities_with_unknown_capacity"] = {c: int(fac[c].isna().sum()) for c in caps}
        summary["regions_without_facility"] = int((reg["n_facilities"] == 0).sum())
        if sub is not None:
            summary["subregions_without_facility"] = int((sub["n_facilities"] == 0).sum())
    a = project.access
    if a is None or fac is None:
        for t, key, u in ((reg, "region", inp.regions), (sub, "subregion", inp.subregions)):
            if t is not None:
                t["note"] = unit_notes(t, u, fac, key, caps)
        return AccessResult(reg, sub, None, summary)
    units = inp.subregions if sub is not None else inp.regions
    table = sub if sub is not None else reg
    cost = cost_matrix(project, inp, units)
    supply_cols = a.supply or caps[:1]
    for s in supply_cols:
        if s not in fac.columns:
            raise EquicareError(f"access.supply {s!r} is not one of facilities.capacity ({', '.join(caps)})")
    sup = fac[supply_cols].fillna(0.0).to_numpy(float)
    dem = units["population"].fillna(0.0).to_numpy(float)
    t = project.travel
    max_cost = a.max_cost if a.max_cost is not None else (t.max_minutes if t is not None else a.max_km)
    vals = compute_access(a.method, cost, dem, sup, max_cost=max_cost, weights=a.weights, scale=a.scale,
                          alpha=a.alpha, min_dist=a.min_dist, sigma=a.sigma, tau=a.tau, rho=a.rho,
                          normalize=a.normalize)
    vals = np.asarray(vals, float).reshape(len(units), -1)
    m = a.method.lower()
    measures = []
    for k, s in enumerate(supply_cols):
        if m == "nearest":
            unit = "minutes" if t is not None and a.costs is None else "km"
            col, v = f"nearest_{s}_{unit}", np.where(np.isfinite(vals[:, k]), vals[:, k], np.nan)
        elif a.normalize or m == "gravity":
            col, v = f"{m}_{s}", vals[:, k]
        else:
            col, v = f"{m}_{s}_per_1000", vals[:, k] * 1000.0
        table[col] = v
        measures.append(col)
    first = measures[0]
    summary["access_measure"] = first
    summary["access_level"] = LEVELS[1] if sub is not None else LEVELS[0]
    summary["population_without_access"] = float(table.loc[(table[first].fillna(0) == 0), "population"].sum())
    summary["pairs_within_catchment"] = int(cost.nnz)
    if sub is not None:  # a region's access: the population-weighted mean of its small areas'
        for col in measures:
            w = sub["population"].fillna(0.0)
            num = (sub[col] * w).groupby(sub["region"]).sum(min_count=1)
            den = w.where(sub[col].notna()).groupby(sub["region"]).sum()
            reg[col] = reg["region"].map(num / den.replace(0, np.nan)).to_numpy(float)
    shortage = None
    if a.shortage_fraction is not None and first.endswith("_per_1000"):
        from equicare.analyze.shortage import shortage_areas, shortage_summary

        idc = "subregion" if sub is not None else "region"
        shortage = shortage_areas(table[idc].to_numpy(), table[first].to_numpy(float),
                                  table["population"].fillna(0.0).to_numpy(float), a.shortage_fraction,
                                  names=table["name"].to_numpy(), relative_to_mean=True, per=1000)
        summary["shortage"] = shortage_summary(shortage, float(table["population"].sum()))
        summary["shortage"]["line"] = float(shortage["line"].iloc[0]) if len(shortage) else None
        summary["shortage"]["fraction"] = a.shortage_fraction
    for t, key, u in ((reg, "region", inp.regions), (sub, "subregion", inp.subregions)):
        if t is not None:
            t["note"] = unit_notes(t, u, fac, key, caps, measures, supply_cols)
    return AccessResult(reg, sub, shortage, summary)


def unit_notes(table: pd.DataFrame, units: pd.DataFrame, fac: pd.DataFrame | None, key: str, caps: list[str],
               measures: list[str] | None = None, supplies: list[str] | None = None) -> np.ndarray:
    """Why a region's (or small area's) rate or access cell is empty, or counts only part of its facilities:
    population unknown or zero (no rate per 1,000), a capacity unknown at some of its facilities (the known ones
    are summed), no facility within reach (no access value), no facilities at all.  "" where every figure applies
    in full."""
    n = len(table)
    parts: list[list[str]] = [[] for _ in range(n)]
    if fac is None:  # the project has no facilities section: every capacity and access figure is absent
        for p in parts:
            p.append("no facilities in the project: no capacity, rate or access is measured")
    pop = table["population"].to_numpy(float)
    access = ", and its people are not counted as demand in the access measure" if measures else ""
    for i in np.flatnonzero(np.isnan(pop)):
        parts[i].append("population unknown (blank): the rates per 1,000 do not apply" + access)
    for i in np.flatnonzero(pop == 0):
        parts[i].append("no population: the rates per 1,000 do not apply")
    if "population_65plus" in units and any(c.endswith("_65plus") for c in table.columns):
        older = units["population_65plus"].to_numpy(float)
        for i in np.flatnonzero(np.isnan(older)):
            parts[i].append("people aged 65+ unknown: the rates per 1,000 aged 65+ do not apply")
        for i in np.flatnonzero(older == 0):
            parts[i].append("no people aged 65+: the rates per 1,000 aged 65+ do not apply")
    ids = table[key].astype(str).to_numpy()
    if fac is not None and key in fac.columns:
        for c in caps:
            un = fac[fac[c].isna()]
            if len(un):
                who = un.groupby(un[key].astype(str))["id"].apply(lambda s: ", ".join(s.astype(str).head(5))
                                                                  + (", ..." if len(s) > 5 else ""))
                cnt = un.groupby(un[key].astype(str)).size()
                for i in np.flatnonzero(np.isin(ids, list(cnt.index))):
                    k = int(cnt[ids[i]])
                    rest = (f"no {c} total or rate" if np.isnan(float(table[c].iloc[i]))
                            else f"{c} counts the known ones only")
                    parts[i].append(f"{c} unknown at {k} facilit{'y' if k == 1 else 'ies'} ({who[ids[i]]}): {rest}")
    for col, s in zip(measures or [], supplies or []):
        v = table[col].to_numpy(float)
        for i in np.flatnonzero(np.isnan(v) & ~np.isnan(pop) & (pop > 0)):
            parts[i].append(f"{col}: no facility with {s} within reach")
    return np.array(["; ".join(p) for p in parts], dtype=object)


def cost_matrix(project: Project, inp: Inputs, units: pd.DataFrame):
    """``units`` (regions or small areas: ``id, lat, lon``) to facilities: great-circle km within ``max_km``
    (k-d tree), projected Euclidean km, travel minutes, or a cost file (long or wide)."""
    from equicare.analyze.costs import cost_matrix_from_long, euclidean_costs, great_circle_costs

    a, fac = project.access, inp.facilities
    spec = project.subregions if units is inp.subregions else project.regions
    if a.costs is not None:
        from equicare.project.tables import read_costs

        long = read_costs(a.costs)
        # pairs of regions or facilities that are in their files but left out by the cleaning (missing values,
        # outside every region) are dropped and reported, not refused as unknown ids
        gone_o = set(units.attrs.get("dropped_ids", [])) - set(units["id"])
        gone_d = set(fac.attrs.get("dropped_ids", [])) - set(fac["id"])
        o, d = long["origin"].astype(str).str.strip(), long["destination"].astype(str).str.strip()
        off = (o.isin(gone_o) | d.isin(gone_d)).to_numpy()
        if off.any():
            left = sorted(set(o[off]) & gone_o) + sorted(set(d[off]) & gone_d)
            inp.report.add(a.costs.name, "pairs of regions/facilities left out by the cleaning: left out",
                           "origin/destination", int(off.sum()), ", ".join(left[:10]))
            attrs = dict(long.attrs)
            if "sheet_rows" in attrs:
                attrs["sheet_rows"] = np.asarray(getattr(attrs["sheet_rows"], "rows", attrs["sheet_rows"]))[~off]
            long = long[~off].reset_index(drop=True)
            long.attrs.update(attrs)
        return cost_matrix_from_long(long, units["id"], fac["id"], file=a.costs.name)
    bad = units["lat"].isna() | units["lon"].isna()
    if bad.any():
        raise EquicareError(f"{spec.file.name}: {int(bad.sum())} region(s) without coordinates, e.g. "
                            f"{units.loc[bad, 'id'].iloc[0]!r}; access needs a point per region")
    if project.travel is not None:
        return _travel_matrix(project, inp, units)
    limit = a.max_km if a.max_km is not None else 20037.5  # half the Earth's circumference: every pair
    if a.distance == "euclidean":
        from pyproj import CRS, Transformer

        from equicare.project.geo import WGS84

        layer = inp.sublayer if units is inp.subregions else inp.layer
        crs = spec.crs or (layer.source_crs if layer is not None else None)
        if crs is None:
            raise EquicareError("distance: euclidean needs a projected CRS (regions.crs or a projected layer)")
        if not CRS.from_user_input(crs).is_projected:
            raise EquicareError(f"distance: euclidean needs a projected CRS; {crs} is geographic")
        tr = Transformer.from_crs(WGS84, crs, always_xy=True)
        ox, oy = tr.transform(units["lon"].to_numpy(float), units["lat"].to_numpy(float))
        dx, dy = tr.transform(fac["lon"].to_numpy(float), fac["lat"].to_numpy(float))
        return euclidean_costs(np.column_stack([ox, oy]) / 1000.0, np.column_stack([dx, dy]) / 1000.0, limit)
    return great_circle_costs(units["lat"].to_numpy(float), units["lon"].to_numpy(float),
                              fac["lat"].to_numpy(float), fac["lon"].to_numpy(float), limit)


def _travel_matrix(project: Project, inp: Inputs, units: pd.DataFrame):
    """``units`` to facilities in minutes along the ``travel`` network (or its stated fallback)."""
    from equicare.analyze.costs import cost_matrix_from_long
    from equicare.analyze.travel import travel_costs

    t, fac = project.travel, inp.facilities
    res = travel_costs(units[["id", "lat", "lon"]], fac[["id", "lat", "lon"]],
                       network=None if t.network is None else str(t.network), mode=t.mode,
                       max_minutes=t.max_minutes, max_km=t.max_km, max_snap_m=t.max_snap_m)
    inp.report.add("travel", "travel times", "cost", len(res.table), "; ".join(res.summary().splitlines()))
    return cost_matrix_from_long(res.table[["origin", "destination", "cost"]], units["id"], fac["id"],
                                 file="travel")


# --------------------------------------------------------------------------------------- inequality
_LABELS = {"gini": "Gini coefficient", "theil": "Theil index", "mld": "mean log deviation",
           "atkinson": "Atkinson index", "cov": "coefficient of variation", "quintile_ratio": "quintile ratio"}


def _indicators(project: Project, table: pd.DataFrame) -> list[str]:
    cols = [c for c in table.columns if c.endswith("_per_1000")]
    if project.access is not None:
        m = project.access.method.lower() + "_"
        cols += [c for c in table.columns if c.startswith(m) and c not in cols]
    return cols


#: The inequality table's one row when the project has nothing to compare.
NO_INDICATOR_NOTE = ("no inequality measured: the project has no facilities section (capacity per 1,000) and no "
                     "access measure to compare across regions; add facilities: (and access:) to measure them")


def inequality_stage(project: Project, acc: AccessResult) -> pd.DataFrame:
    """Population-weighted inequality across small areas (when given) and regions of each per-1,000 rate and
    access measure (:func:`equicare.analyze.inequality.region_inequality`, bootstrap intervals); a measure
    undefined for the data has an empty estimate and a note saying why.  Columns ``level, indicator, measure,
    measure_label, estimate, lowerci, upperci, regions, note``.  An indicator with fewer than 2 usable areas is
    one row with a note (no estimate), and a project with no indicator (no facilities, no access) one row
    :data:`NO_INDICATOR_NOTE`: the table is never empty without saying why."""
    from equicare.analyze.inequality import region_inequality

    frames, skipped = [], []
    levels = [(LEVELS[1], acc.subregions), (LEVELS[0], acc.regions)] if acc.subregions is not None \
        else [(LEVELS[0], acc.regions)]
    cols_out = ["level", "indicator", "measure", "measure_label", "estimate", "lowerci", "upperci", "regions", "note"]
    for level, table in levels:
        w = table["population"].to_numpy(float)
        ok = np.isfinite(w) & (w > 0)
        for c in _indicators(project, table):
            v = table[c].to_numpy(float)
            keep = ok & np.isfinite(v)
            if keep.sum() < 2:  # said, not left out silently
                skipped.append({"level": level, "indicator": c, "regions": int(keep.sum()),
                                "note": f"not measured: {int(keep.sum())} {level}"
                                        f"{'s' if keep.sum() != 1 else ''} with a population and a value; "
                                        "inequality needs at least 2"})
                continue
            t = region_inequality(v[keep], w[keep], epsilon=project.inequality.epsilon,
                                  n_boot=project.inequality.n_boot)
            t.insert(0, "indicator", c)
            t.insert(0, "level", level)
            t["measure_label"] = t["measure"].map(_LABELS)
            t["note"] = np.where(t["estimate"].isna(), "undefined for these values (e.g. a region with zero)", "")
            t["regions"] = int(keep.sum())
            frames.append(t)
    if not frames and not skipped:  # nothing to compare: one row saying why, never an unexplained empty table
        skipped.append({"level": LEVELS[0], "indicator": "", "regions": len(acc.regions),
                        "note": NO_INDICATOR_NOTE})
    if skipped:
        frames.append(pd.DataFrame(skipped))
    return pd.concat(frames, ignore_index=True).reindex(columns=cols_out)


def descriptive_stage(project: Project, acc: AccessResult) -> pd.DataFrame:
    """Count, missing, mean, sd, quartiles and population-weighted mean of every rate and access measure,
    per level (:func:`equicare.analyze.describe.describe`)."""
    from equicare.analyze.describe import describe

    frames = []
    for level, table in ((LEVELS[1], acc.subregions), (LEVELS[0], acc.regions)):
        if table is None:
            continue
        cols = [c for c in table.columns if "_per_1000" in c or c in _indicators(project, table)]
        cols = list(dict.fromkeys(cols))
        if cols:
            frames.append(describe(table, cols).assign(level=level))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
