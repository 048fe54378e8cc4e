"""The allocation scenario file (YAML): read, validate, solve, run what-ifs and write the outputs.

The format is documented with a worked example in ``docs/optimize.md``; ``examples/*.yaml`` are
complete scenarios.  Tables are given as ``{file: path.csv}`` (relative to the YAML file),
``{bundled: key/or/path}`` (a file shipped with equicare) or ``{rows: [...]}`` (inline), except the
demand of the worked example, which ``demand: {builder: flu_surge, ...}`` derives from the bundled
FluSight admissions and state ICU capacity (see :func:`flu_surge_tables`).

Every problem in the file is reported at once as a :class:`~equicare.errors.ValidationError` naming
the file, the table row and the key; an infeasible scenario raises
:class:`~equicare.errors.InfeasibleError` naming the conflicting constraints.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from equicare.errors import EquicareError, InfeasibleError, Problem, ValidationError
from equicare.optimize import AllocationProblem, AllocationResult, Pooling, allocate

TOP_KEYS = {"name", "description", "regions", "resources", "capacity", "demand", "budget", "objective",
            "fairness_weight", "uncertainty", "inequality", "pooling", "quality", "what_if", "budget_sweep",
            "cap_at_need", "facilities"}
RESOURCE_KEYS = {"unit", "unit_cost", "stock", "integer", "weight", "min_per_region", "max_per_region"}
HUBVERSE_QUANTILES = [0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65,
                      0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99]


class _Errors:
    def __init__(self, file: str):
        self.file = file
        self.items: list[Problem] = []

    def add(self, column: str | None, rule: str, value=None, row: int | None = None, file: str | None = None):
        self.items.append(Problem(file or self.file, row, column, rule, value))

    def raise_if_any(self):
        if self.items:
            raise ValidationError(self.items)


# ------------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------------
def _table(spec: Any, base: Path, where: str, err: _Errors) -> tuple[pd.DataFrame | None, str]:
    """A table given as {file: ...}, {bundled: ...} or {rows: [...]}; returns (frame, name for errors)."""
    if isinstance(spec, dict) and "rows" in spec:
        rows = spec["rows"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            err.add(where + ".rows", "must be a list of mappings")
            return None, where
        return pd.DataFrame(rows), f"{err.file}:{where}"
    if isinstance(spec, dict) and ("file" in spec or "bundled" in spec):
        if "file" in spec:
            path = Path(str(spec["file"]))
            path = path if path.is_absolute() else base / path
        else:
            from equicare.data.bundled import data_path

            path = data_path(str(spec["bundled"]))
        try:
            return pd.read_csv(path, dtype=str), str(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            err.add(where, f"cannot read table ({exc})", str(path))
            return None, str(path)
    err.add(where, "must be {file: path.csv}, {bundled: key} or {rows: [...]}", spec)
    return None, where


def _num(df: pd.DataFrame, col: str, fname: str, err: _Errors, allow_inf: bool = False) -> np.ndarray:
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    bad = np.isnan(v) | (v < 0) | (~np.isfinite(v) & (not allow_inf))
    for k in np.flatnonzero(bad)[:20]:
        err.add(col, "must be a non-negative number", df[col].iloc[k], row=int(k) + 1, file=fname)
    return v


def _need_cols(df, cols, fname, err) -> bool:
    ok = True
    for c in cols:
        if c not in df.columns:
            err.add(c, "required column is missing", file=fname)
            ok = False
    return ok


def _facilities(fspec: Any, base: Path, resources: list[str], err: _Errors):
    """``facilities: {table: {builder: hospitals, level: state} | {file: ...}, caps: {r: {column, ratio}}}``."""
    from equicare.optimize.facilities import bundled_hospitals, facility_caps

    if not fspec:
        return None, None
    if not isinstance(fspec, dict) or "table" not in fspec:
        err.add("facilities", "must be a mapping with a table (and optional caps)", fspec)
        return None, None
    tspec = fspec["table"]
    try:
        if isinstance(tspec, dict) and "builder" in tspec:
            if tspec["builder"] != "hospitals":
                err.add("facilities.table.builder", "unknown builder (available: hospitals)", tspec["builder"])
                return None, None
            fac, ffile = bundled_hospitals(str(tspec.get("level", "state"))), "hospitals"
        else:
            fac, ffile = _table(tspec, base, "facilities.table", err)
        if fac is None or not _need_cols(fac, ["facility", "region"], ffile, err):
            return None, None
        fac = fac.copy()
        if "quality" in fac.columns:
            fac["quality"] = pd.to_numeric(fac["quality"], errors="coerce")
        caps = {}
        for rname, c in (fspec.get("caps") or {}).items():
            if not isinstance(c, dict) or "column" not in c:
                err.add(f"facilities.caps.{rname}", "must be {column: name, ratio: number}", c)
                continue
            caps[str(rname)] = (str(c["column"]), float(c.get("ratio", 1.0)))
        return fac, facility_caps(fac, resources, caps)
    except (EquicareError, ValueError, TypeError) as exc:
        err.add("facilities", str(exc))
        return None, None


# ------------------------------------------------------------------------------------------------
# the worked example's demand builder (bundled data)
# ------------------------------------------------------------------------------------------------
def flu_surge_tables(severity: float = 3.0, icu_fraction: float = 0.15, icu_los_days: float = 7.0,
                     ventilator_fraction: float = 0.4, target_occupancy: float = 0.85,
                     surge_cap_ratio: float = 0.2, season: str = "2023-24",
                     quantiles: list[float] | None = None, min_log_sd: float = 0.2, source: str = "season",
                     as_of: str = "2023-12-30", model: str | None = None) -> dict[str, pd.DataFrame]:
    """Capacity and demand scenarios for surge ICU beds and ventilators by state, from bundled data.

    Two sources of the peak weekly influenza admissions per state and scenario:

    * ``source="forecast"``: equicare's own quantile forecast (:func:`equicare.forecast.forecast`, model
      ``model``, default the ensemble) from the bundled FluSight target data as of the Saturday
      ``as_of`` (only data up to ``as_of - 7`` days are used); scenario *q* is the largest *q*-quantile
      over horizons 0-3 (:func:`equicare.forecast.demand_scenarios`) times ``severity``.
    * ``source="season"`` (default): a transparent stand-in. ``P_s`` is state *s*'s observed peak in
      ``season``; ``sigma`` is the standard deviation, pooled over states, of log(season peak / state's
      mean season peak) over the complete seasons in the data (at least ``min_log_sd``); scenario *q*
      (the 23 hubverse quantile levels) is ``P_s severity exp(sigma z_q)``.

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

    qs = HUBVERSE_QUANTILES if quantiles is None else list(quantiles)
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
        from equicare.forecast import demand_scenarios, forecast, load_truth
        from equicare.forecast.extras import bundled_extras
        from equicare.forecast.run import DEFAULT_MODEL
        from equicare.forecast.truth import bundled_path

        fc = forecast(load_truth(bundled_path("target-hospital-admissions.csv")), as_of, model=model or DEFAULT_MODEL,
                      **bundled_extras().kwargs())
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


# ------------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------------
def load_scenario(path: str | Path) -> tuple[AllocationProblem, dict]:
    """Read and validate a scenario YAML file.

    Returns
    -------
    problem : AllocationProblem
    spec : dict
        The parsed YAML (with ``what_if`` and ``budget_sweep`` for :func:`run_scenario`).

    Raises
    ------
    ValidationError
        Every problem found (file, row, key, rule, value).
    """
    path = Path(path)
    fname = str(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise EquicareError(f"{fname}: cannot read the scenario file ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ValidationError([Problem(fname, getattr(getattr(exc, "problem_mark", None), "line", None),
                                       None, f"not valid YAML: {exc}")]) from exc
    err = _Errors(fname)
    if not isinstance(spec, dict):
        raise ValidationError([Problem(fname, None, None, "the scenario must be a YAML mapping")])
    for k in spec:
        if k not in TOP_KEYS:
            err.add(str(k), f"unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
    base = path.parent
    built: dict[str, pd.DataFrame] = {}
    dem_spec = spec.get("demand")
    if isinstance(dem_spec, dict) and "builder" in dem_spec:
        b = dict(dem_spec)
        name = b.pop("builder")
        if name != "flu_surge":
            err.add("demand.builder", "unknown builder (available: flu_surge)", name)
        else:
            try:
                built = flu_surge_tables(**b)
            except TypeError as exc:
                err.add("demand", f"bad builder option ({exc})")
                err.raise_if_any()

    # regions
    if "regions" in spec:
        regions, rfile = _table(spec["regions"], base, "regions", err)
    elif built:
        regions, rfile = built["regions"], "flu_surge"
    else:
        regions, rfile = None, fname
        err.add("regions", "required: a table with column id (and optionally name, quality)")
    if regions is None:
        err.raise_if_any()
    if not _need_cols(regions, ["id"], rfile, err):
        err.raise_if_any()
    ids = regions["id"].astype(str).str.strip().tolist()
    for k in np.flatnonzero(pd.Series(ids).duplicated().to_numpy()):
        err.add("id", "duplicate region id", ids[k], row=int(k) + 1, file=rfile)
    names = regions["name"].astype(str).tolist() if "name" in regions.columns else ids
    ridx = {r: k for k, r in enumerate(ids)}
    n = len(ids)

    # resources
    rs = spec.get("resources")
    if not isinstance(rs, dict) or not rs:
        err.add("resources", "required: a mapping resource name -> {unit, unit_cost, stock, ...}")
        err.raise_if_any()
    resources = [str(r) for r in rs]
    for key in ("capacity", "demand", "max_alloc"):  # a builder's tables cover only the resources asked for
        if key in built and "resource" in built[key].columns:
            built[key] = built[key][built[key]["resource"].isin(resources)]
    m = len(resources)
    unit_cost, stock, integer, weight = np.ones(m), np.full(m, np.inf), np.zeros(m, bool), np.ones(m)
    units = {}
    min_alloc = np.zeros((n, m))
    max_alloc = np.full((n, m), np.inf)
    for j, r in enumerate(resources):
        o = rs[r] or {}
        if not isinstance(o, dict):
            err.add(f"resources.{r}", "must be a mapping", o)
            continue
        for k in o:
            if k not in RESOURCE_KEYS:
                err.add(f"resources.{r}.{k}", f"unknown key (allowed: {', '.join(sorted(RESOURCE_KEYS))})")
        units[r] = str(o.get("unit", "unit"))
        for key, arr in (("unit_cost", unit_cost), ("stock", stock), ("weight", weight)):
            if key in o:
                try:
                    arr[j] = float(o[key])
                    if not arr[j] >= 0:
                        raise ValueError
                except (TypeError, ValueError):
                    err.add(f"resources.{r}.{key}", "must be a non-negative number", o[key])
        integer[j] = bool(o.get("integer", False))
        for key, arr in (("min_per_region", min_alloc), ("max_per_region", max_alloc)):
            if key not in o:
                continue
            v = o[key]
            if isinstance(v, dict):
                for reg, val in v.items():
                    if str(reg) not in ridx:
                        err.add(f"resources.{r}.{key}.{reg}", "unknown region", reg)
                        continue
                    try:
                        arr[ridx[str(reg)], j] = float(val)
                    except (TypeError, ValueError):
                        err.add(f"resources.{r}.{key}.{reg}", "must be a number", val)
            else:
                try:
                    arr[:, j] = float(v)
                except (TypeError, ValueError):
                    err.add(f"resources.{r}.{key}", "must be a number or a mapping region -> number", v)
    if built and "max_alloc" in built:
        mx = built["max_alloc"]
        for reg, res, val in zip(mx["region"], mx["resource"], mx["value"]):
            if res in resources and reg in ridx:
                j = resources.index(res)
                if "max_per_region" not in (rs[res] or {}):
                    max_alloc[ridx[reg], j] = float(val)

    # capacity (region, resource, capacity); missing pairs are 0
    capacity = np.zeros((n, m))
    if "capacity" in spec or built:
        cdf, cfile = (_table(spec["capacity"], base, "capacity", err) if "capacity" in spec
                      else (built["capacity"], "flu_surge"))
        if cdf is not None and _need_cols(cdf, ["region", "resource", "capacity"], cfile, err):
            vals = _num(cdf, "capacity", cfile, err)
            for k, (reg, res) in enumerate(zip(cdf["region"].astype(str), cdf["resource"].astype(str))):
                if reg not in ridx:
                    err.add("region", "not one of the regions", reg, row=k + 1, file=cfile)
                elif res not in resources:
                    err.add("resource", "not one of the resources", res, row=k + 1, file=cfile)
                elif np.isfinite(vals[k]):
                    capacity[ridx[reg], resources.index(res)] = vals[k]

    # demand (region, resource, scenario, value)
    if built:
        ddf, dfile = built["demand"], "flu_surge"
    elif dem_spec is not None:
        ddf, dfile = _table(dem_spec, base, "demand", err)
    else:
        ddf, dfile = None, fname
        err.add("demand", "required: a table region, resource, scenario, value")
    if ddf is None:
        err.raise_if_any()
    ddf = ddf.copy()
    if "scenario" not in ddf.columns:
        ddf["scenario"] = "point"
    if "resource" not in ddf.columns and m == 1:
        ddf["resource"] = resources[0]
    if not _need_cols(ddf, ["region", "resource", "value"], dfile, err):
        err.raise_if_any()
    dvals = _num(ddf, "value", dfile, err)
    scen = list(dict.fromkeys(ddf["scenario"].astype(str)))
    S = len(scen)
    demand = np.zeros((S, n, m))
    seen = set()
    for k, (reg, res, sc) in enumerate(zip(ddf["region"].astype(str), ddf["resource"].astype(str),
                                            ddf["scenario"].astype(str))):
        if reg not in ridx:
            err.add("region", "not one of the regions", reg, row=k + 1, file=dfile)
            continue
        if res not in resources:
            err.add("resource", "not one of the resources", res, row=k + 1, file=dfile)
            continue
        if (reg, res, sc) in seen:
            err.add("region,resource,scenario", "duplicate row", f"{reg},{res},{sc}", row=k + 1, file=dfile)
            continue
        seen.add((reg, res, sc))
        if np.isfinite(dvals[k]):
            demand[scen.index(sc), ridx[reg], resources.index(res)] = dvals[k]
    sw = None
    if "weight" in ddf.columns:
        w = pd.to_numeric(ddf["weight"], errors="coerce")
        sw = w.groupby(ddf["scenario"].astype(str)).first().reindex(scen).to_numpy(float)
        if np.any(~np.isfinite(sw)) or np.any(sw < 0):
            err.add("weight", "scenario weights must be non-negative numbers", file=dfile)

    # options
    unc = spec.get("uncertainty", {}) or {}
    if isinstance(unc, str):
        unc = {"mode": unc}
    mode = str(unc.get("mode", "expected"))
    design = unc.get("scenario")
    if design is not None:
        design = str(design)
        if design not in scen and f"q{design}" in scen:
            design = f"q{design}"
    if mode not in ("expected", "quantile"):
        err.add("uncertainty.mode", "must be 'expected' or 'quantile'", mode)
    if mode == "quantile" and design not in scen:
        err.add("uncertainty.scenario", f"must name one of the scenarios ({', '.join(scen[:30])})", design)
    ineq = spec.get("inequality", {}) or {}
    for k in ineq:
        if k not in ("coverage_floor", "max_gap", "max_gini"):
            err.add(f"inequality.{k}", "unknown key (allowed: coverage_floor, max_gap, max_gini)")
    quality = None
    qw = 0.0
    if spec.get("quality"):
        qspec = spec["quality"]
        col = str(qspec.get("column", "quality"))
        if col not in regions.columns:
            err.add("quality.column", f"the regions table has no column {col!r}", col)
        else:
            quality = pd.to_numeric(regions[col], errors="coerce").to_numpy(float)
        qw = float(qspec.get("weight", 0.01))
    pooling = None
    if spec.get("pooling"):
        ps = spec["pooling"]
        pairs_spec = ps.get("pairs")
        if pairs_spec == "state_centroids" or (isinstance(pairs_spec, dict) and pairs_spec.get("builder") ==
                                               "state_centroids"):
            pairs, pfile = state_pairs(), "state_centroids"
        else:
            pairs, pfile = _table(pairs_spec, base, "pooling.pairs", err)
        if pairs is not None and _need_cols(pairs, ["origin", "destination", "distance"], pfile, err):
            pairs = pairs.copy()
            pairs["distance"] = _num(pairs, "distance", pfile, err)
            pooling = Pooling(pairs=pairs, max_distance=float(ps.get("max_distance", np.inf)),
                              resources=ps.get("resources"), cost_per_unit=float(ps.get("cost_per_unit", 0)),
                              cost_per_unit_distance=float(ps.get("cost_per_unit_distance", 0)),
                              no_worse_off=bool(ps.get("no_worse_off", True)))
    fac, fcaps = _facilities(spec.get("facilities"), base, resources, err)
    err.raise_if_any()
    try:
        P = AllocationProblem(
            regions=ids, resources=resources, capacity=capacity, demand=demand, scenario_names=scen,
            scenario_weights=sw, unit_cost=unit_cost, budget=None if spec.get("budget") is None else
            float(spec["budget"]), stock=stock, min_alloc=min_alloc, max_alloc=max_alloc, integer=integer,
            weight=weight, objective=str(spec.get("objective", "leximin")),
            fairness_weight=float(spec.get("fairness_weight", 0.5)), uncertainty=mode, design_scenario=design,
            coverage_floor=ineq.get("coverage_floor"), max_gap=ineq.get("max_gap"),
            max_gini=ineq.get("max_gini"), quality=quality,
            quality_weight=qw, pooling=pooling, facilities=fac, facility_caps=fcaps, cap_at_need=bool(spec.get("cap_at_need", True)),
            region_names=names, units=units)
    except EquicareError as exc:
        raise ValidationError([Problem(fname, None, None, str(exc))]) from exc
    return P, spec


# ------------------------------------------------------------------------------------------------
# what-ifs and the budget sweep
# ------------------------------------------------------------------------------------------------
def what_if(P: AllocationProblem, base: AllocationResult, change: dict) -> tuple[dict, pd.DataFrame]:
    """Re-solve with one change and show the difference.

    ``change`` keys: ``name``, ``budget``, ``fairness_weight`` (switches to the weighted objective),
    ``objective``, ``stock: {resource: units}``, ``region_min: [{region, resource, value}]``.

    Returns
    -------
    summary : dict
        Before/after minimum share, coverage, cost (or the infeasibility message).
    diff : DataFrame
        Regions whose allocation changed: ``what_if, region, resource, allocated_before,
        allocated_after, change, share_before, share_after``.
    """
    name = str(change.get("name", "what-if"))
    kw: dict[str, Any] = {}
    min_alloc, stock = P.min_alloc.copy(), P.stock.copy()
    desc = []
    for k, v in change.items():
        if k == "name":
            continue
        if k == "budget":
            kw["budget"] = float(v)
            desc.append(f"budget {'none' if P.budget is None else f'{P.budget:,.0f}'} -> {float(v):,.0f}")
        elif k == "fairness_weight":
            kw.update(fairness_weight=float(v), objective="weighted")
            desc.append(f"weighted objective with fairness weight {float(v):g}")
        elif k == "objective":
            kw["objective"] = str(v)
            desc.append(f"objective {P.objective} -> {v}")
        elif k == "stock":
            for res, val in dict(v).items():
                if res not in P.resources:
                    raise EquicareError(f"what-if {name!r}: unknown resource {res!r}")
                stock[P.resources.index(res)] = float(val)
                desc.append(f"{res} stock -> {float(val):,.0f}")
            kw["stock"] = stock
        elif k == "region_min":
            for item in (v if isinstance(v, list) else [v]):
                reg, res = str(item["region"]), str(item["resource"])
                if reg not in P.regions or res not in P.resources:
                    raise EquicareError(f"what-if {name!r}: unknown region {reg!r} or resource {res!r}")
                min_alloc[P.regions.index(reg), P.resources.index(res)] = float(item["value"])
                desc.append(f"minimum {res} for {reg} -> {float(item['value']):g}")
            kw["min_alloc"] = min_alloc
        else:
            raise EquicareError(f"what-if {name!r}: unknown change {k!r} (allowed: budget, fairness_weight, "
                                "objective, stock, region_min)")
    Q = replace(P, **kw)
    summary = {"name": name, "change": "; ".join(desc), "min_share_before": base.min_share,
               "total_covered_before": base.total_covered, "total_cost_before": base.total_cost}
    try:
        res = allocate(Q)
    except InfeasibleError as exc:
        summary.update({"status": "infeasible", "message": str(exc)})
        return summary, pd.DataFrame()
    summary.update({"status": res.status, "min_share_after": res.min_share, "total_covered_after": res.total_covered,
                    "total_cost_after": res.total_cost})
    a, b = base.allocation, res.allocation
    diff = pd.DataFrame({"what_if": name, "region": a["region"], "resource": a["resource"],
                         "allocated_before": a["allocated"], "allocated_after": b["allocated"].to_numpy(),
                         "share_before": a["share_met"], "share_after": b["share_met"].to_numpy()})
    diff["change"] = diff["allocated_after"] - diff["allocated_before"]
    diff = diff[diff["change"].abs() > 1e-6].reset_index(drop=True)
    summary["regions_changed"] = int(diff["region"].nunique())
    return summary, diff


def budget_sweep(P: AllocationProblem, factors: list[float]) -> pd.DataFrame:
    """Re-solve at ``budget * factor`` for each factor: minimum share, coverage and cost.

    ``marginal_covered_per_money`` is the slope of total covered need between consecutive budgets (the
    parametric marginal value of more budget).
    """
    if P.budget is None:
        raise EquicareError("budget_sweep needs a budget in the scenario")
    rows = []
    for f in sorted({float(x) for x in factors} | {1.0}):
        Q = replace(P, budget=P.budget * f)
        try:
            r = allocate(Q)
            rows.append({"factor": f, "budget": Q.budget, "min_share": r.min_share, "total_covered": r.total_covered,
                         "total_cost": r.total_cost, "status": r.status})
        except InfeasibleError as exc:
            rows.append({"factor": f, "budget": Q.budget, "min_share": np.nan, "total_covered": np.nan,
                         "total_cost": np.nan, "status": f"infeasible: {exc}"})
    df = pd.DataFrame(rows)
    df["marginal_covered_per_money"] = df["total_covered"].diff() / df["budget"].diff()
    df["marginal_min_share_per_money"] = df["min_share"].diff() / df["budget"].diff()
    return df


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------
def run_scenario(path: str | Path, out_dir: str | Path, store_path: str | Path | None = None) -> dict:
    """Solve a scenario file, run its what-ifs and budget sweep, write CSV/JSON and store the run.

    Files written to ``out_dir``: ``allocation.csv`` (one row per region and resource, with the binding
    constraints and the plain-words explanation), ``transfers.csv``, ``coverage.csv`` (every scenario),
    ``scenarios.csv``, ``what_if.csv``, ``budget_sweep.csv`` and ``explanations.json`` (summary, shadow
    prices, what-ifs, sweep and the allocation records).  The run is recorded in the DuckDB store
    (default ``out_dir/equicare.duckdb``) with its parameters and input fingerprints.

    Returns
    -------
    dict
        The JSON summary (also in ``explanations.json``), with ``run_id``.
    """
    from equicare.store import Store

    path = Path(path)
    out = Path(out_dir)
    P, spec = load_scenario(path)
    res = allocate(P)
    wi_rows, wi_diffs = [], []
    for ch in spec.get("what_if") or []:
        if not isinstance(ch, dict):
            raise ValidationError([Problem(str(path), None, "what_if", "each what-if must be a mapping", ch)])
        s, d = what_if(P, res, ch)
        wi_rows.append(s)
        wi_diffs.append(d)
    sweep = budget_sweep(P, spec["budget_sweep"]) if spec.get("budget_sweep") else pd.DataFrame()
    out.mkdir(parents=True, exist_ok=True)
    res.allocation.to_csv(out / "allocation.csv", index=False)
    res.transfers.to_csv(out / "transfers.csv", index=False)
    res.coverage.to_csv(out / "coverage.csv", index=False)
    res.scenario_summary.to_csv(out / "scenarios.csv", index=False)
    if P.facilities is not None:
        res.facilities.to_csv(out / "facilities.csv", index=False)
    wdf = pd.concat(wi_diffs, ignore_index=True) if wi_diffs else pd.DataFrame(
        columns=["what_if", "region", "resource", "allocated_before", "allocated_after", "share_before",
                 "share_after", "change"])
    wdf.to_csv(out / "what_if.csv", index=False)
    sweep.to_csv(out / "budget_sweep.csv", index=False)
    doc = res.to_dict()
    doc["name"] = spec.get("name", path.stem)
    doc["what_if"] = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                      for r in wi_rows]
    doc["budget_sweep"] = json.loads(sweep.to_json(orient="records")) if len(sweep) else []
    fp = {"scenario": hashlib.sha256(path.read_bytes()).hexdigest()}
    for key in ("regions", "capacity", "demand"):
        v = spec.get(key)
        if isinstance(v, dict) and "file" in v:
            f = Path(str(v["file"]))
            f = f if f.is_absolute() else path.parent / f
            if f.exists():
                fp[key] = hashlib.sha256(f.read_bytes()).hexdigest()
    with Store(store_path or out / "equicare.duckdb") as st:
        run_id = st.start_run("allocate", {"scenario": str(path), **{k: v for k, v in spec.items()
                                                                     if k not in ("what_if",)}}, fp)
        tables = {"allocation": res.allocation, "coverage": res.coverage, "scenarios": res.scenario_summary}
        if len(res.transfers):
            tables["transfers"] = res.transfers
        if len(res.facilities):
            tables["facilities"] = res.facilities
        if len(wdf):
            tables["what_if"] = wdf
        if len(sweep):
            tables["budget_sweep"] = sweep
        summary = {k: doc[k] for k in ("name", "status", "min_share", "total_allocated", "total_cost",
                                       "total_covered", "shadow_prices", "solve_seconds")}
        st.finish_run(run_id, tables, summary)
    doc["run_id"] = run_id
    (out / "explanations.json").write_text(json.dumps(doc, indent=1, default=_json_default))
    return doc


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
