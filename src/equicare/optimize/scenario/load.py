"""Reading a scenario file into an :class:`~equicare.optimize.AllocationProblem`.

The keys are checked declaratively (:mod:`.spec`); this module reads the tables (``{file: ...}``,
``{bundled: ...}``, ``{rows: [...]}`` or a builder) and checks their rows: every problem in the file is
reported at once as a :class:`~equicare.errors.ValidationError` naming the file, the table row (1 = the first
data row) and the column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from equicare.data import readers
from equicare.data.readers import SheetRows, sheet_row
from equicare.errors import EquicareError, Problem, ValidationError
from equicare.optimize.allocation import AllocationProblem, Pooling
from equicare.optimize.scenario.builders import flu_surge_tables, state_pairs
from equicare.optimize.scenario.spec import FluSurgeSpec, ScenarioSpec, TableSpec, parse_spec


class Errors:
    """Problems found so far in one scenario file."""

    def __init__(self, file: str, items: list[Problem] | None = None):
        self.file = file
        self.items: list[Problem] = list(items or [])

    def add(self, column: str | None, rule: str, value=None, row: int | None = None, file: str | None = None):
        self.items.append(Problem(file or self.file, row, column, rule, value))

    def raise_if_any(self):
        if self.items:
            raise ValidationError(self.items)


def read_table(spec: TableSpec, base: Path, where: str, err: Errors) -> tuple[pd.DataFrame | None, str]:
    """The table ``spec`` as text columns, and the name to use in messages (None if unreadable)."""
    if spec.rows is not None:
        frame = pd.DataFrame(spec.rows)
        frame.attrs["sheet_rows"] = SheetRows(np.arange(1, len(frame) + 1))  # inline rows: the item's number
        return frame, f"{err.file}:{where}"
    if spec.file is not None:
        path = Path(spec.file)
        path = path if path.is_absolute() else base / path
    else:
        from equicare.data.bundled import data_path

        path = data_path(str(spec.bundled))
    options = {k: getattr(spec, k) for k in ("sheet", "delimiter", "decimal", "encoding")
               if getattr(spec, k) is not None}
    try:
        return readers.read_table(path, **options), str(path)
    except ValidationError as exc:
        err.items.extend(exc.problems)
        return None, str(path)
    except EquicareError as exc:
        err.add(where, f"cannot read table ({exc})", str(path))
        return None, str(path)


def numbers(df: pd.DataFrame, col: str, fname: str, err: Errors) -> np.ndarray:
    """Column ``col`` as non-negative finite floats; each bad row is a problem (NaN in its place)."""
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    bad = np.isnan(v) | (v < 0) | ~np.isfinite(v)
    for k in np.flatnonzero(bad)[:20]:
        err.add(col, "must be a non-negative number", df[col].iloc[k], row=sheet_row(df, k), file=fname)
    return np.where(bad, np.nan, v)


def need_columns(df: pd.DataFrame, cols: list[str], fname: str, err: Errors) -> bool:
    missing = [c for c in cols if c not in df.columns]
    for c in missing:
        err.add(c, "required column is missing", file=fname)
    return not missing


def _facilities(spec: ScenarioSpec, base: Path, resources: list[str], err: Errors):
    from equicare.optimize.facilities import bundled_hospitals, facility_caps

    f = spec.facilities
    if f is None:
        return None, None
    try:
        if isinstance(f.table, TableSpec):
            fac, ffile = read_table(f.table, base, "facilities.table", err)
        else:
            fac, ffile = bundled_hospitals(f.table.level), "hospitals"
        if fac is None or not need_columns(fac, ["facility", "region"], ffile, err):
            return None, None
        fac = fac.copy()
        if "quality" in fac.columns:
            fac["quality"] = pd.to_numeric(fac["quality"], errors="coerce")
        caps = {str(r): (c.column, float(c.ratio)) for r, c in f.caps.items()}
        return fac, facility_caps(fac, resources, caps)
    except EquicareError as exc:
        err.add("facilities", str(exc))
        return None, None


def _per_region(v, where: str, ridx: dict[str, int], out: np.ndarray, j: int, err: Errors) -> None:
    """``min_per_region``/``max_per_region``: one number for all, or region -> number."""
    if v is None:
        return
    if isinstance(v, dict):
        for reg, val in v.items():
            if str(reg) not in ridx:
                err.add(f"{where}.{reg}", "unknown region", reg)
            else:
                out[ridx[str(reg)], j] = float(val)
    else:
        out[:, j] = float(v)


def _long_table(df: pd.DataFrame, fname: str, value: str, ridx: dict[str, int], resources: list[str],
                err: Errors, scenarios: list[str] | None = None) -> np.ndarray:
    """``region, resource[, scenario], value`` rows into an array ``(S, n, m)`` (or ``(n, m)``)."""
    vals = numbers(df, value, fname, err)
    S = 1 if scenarios is None else len(scenarios)
    out = np.zeros((S, len(ridx), len(resources)))
    scen = (np.zeros(len(df), int) if scenarios is None else
            df["scenario"].astype(str).map({s: k for k, s in enumerate(scenarios)}).to_numpy())
    seen = set()
    for k, (reg, res) in enumerate(zip(df["region"].astype(str), df["resource"].astype(str))):
        if reg not in ridx:
            err.add("region", "not one of the regions", reg, row=sheet_row(df, k), file=fname)
        elif res not in resources:
            err.add("resource", "not one of the resources", res, row=sheet_row(df, k), file=fname)
        elif scenarios is not None and (reg, res, scen[k]) in seen:
            err.add("region,resource,scenario", "duplicate row", f"{reg},{res},{scenarios[scen[k]]}", row=sheet_row(df, k),
                    file=fname)
        else:
            seen.add((reg, res, scen[k]))
            if np.isfinite(vals[k]):
                out[scen[k], ridx[reg], resources.index(res)] = vals[k]
    return out if scenarios is not None else out[0]


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
    raw = read_scenario_yaml(path)
    return problem_from_mapping(raw, path), raw


def read_scenario_yaml(path: str | Path) -> dict:
    """The scenario file as a mapping (not yet checked); unreadable or non-mapping files are refused."""
    path = Path(path)
    fname = str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise EquicareError(f"{fname}: cannot read the scenario file ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ValidationError([Problem(fname, getattr(getattr(exc, "problem_mark", None), "line", None),
                                       None, f"not valid YAML: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise ValidationError([Problem(fname, None, None, "the scenario must be a YAML mapping")])
    return raw


def problem_from_mapping(raw: dict, path: str | Path) -> AllocationProblem:
    """Check a scenario mapping and build its problem; ``path`` names it in messages and anchors relative
    ``file:`` paths (its folder)."""
    path = Path(path)
    spec, problems = parse_spec(raw, str(path))
    err = Errors(str(path), problems)
    if spec is None:
        err.raise_if_any()
    return _problem(spec, raw, path, err)


def _problem(spec: ScenarioSpec, raw: dict, path: Path, err: Errors) -> AllocationProblem:
    fname, base = str(path), path.parent
    built: dict[str, pd.DataFrame] = {}
    if isinstance(spec.demand, FluSurgeSpec):
        built = flu_surge_tables(**spec.demand.options())
    # regions
    if spec.regions is not None:
        regions, rfile = read_table(spec.regions, base, "regions", err)
    elif built:
        regions, rfile = built["regions"], "flu_surge"
    else:
        regions, rfile = None, fname
        err.add("regions", "required: a table with column id (and optionally name, quality)")
    if regions is None or not need_columns(regions, ["id"], rfile, err):
        err.raise_if_any()
    ids = regions["id"].astype(str).str.strip().tolist()
    for k in np.flatnonzero(pd.Series(ids).duplicated().to_numpy()):
        err.add("id", "duplicate region id", ids[k], row=sheet_row(regions, k), file=rfile)
    names = regions["name"].astype(str).tolist() if "name" in regions.columns else ids
    ridx = {r: k for k, r in enumerate(ids)}
    n = len(ids)
    # resources
    resources = list(spec.resources)
    m = len(resources)
    for key in ("capacity", "demand", "max_alloc"):  # a builder's tables cover only the resources asked for
        if key in built and "resource" in built[key].columns:
            built[key] = built[key][built[key]["resource"].isin(resources)]
    rs = [spec.resources[r] for r in resources]
    min_alloc, max_alloc = np.zeros((n, m)), np.full((n, m), np.inf)
    for j, (r, o) in enumerate(zip(resources, rs)):
        _per_region(o.min_per_region, f"resources.{r}.min_per_region", ridx, min_alloc, j, err)
        _per_region(o.max_per_region, f"resources.{r}.max_per_region", ridx, max_alloc, j, err)
    if "max_alloc" in built:
        mx = built["max_alloc"]
        for reg, res, val in zip(mx["region"], mx["resource"], mx["value"]):
            if res in resources and reg in ridx and spec.resources[res].max_per_region is None:
                max_alloc[ridx[reg], resources.index(res)] = float(val)
    # capacity (region, resource, capacity); missing pairs are 0
    capacity = np.zeros((n, m))
    if spec.capacity is not None or "capacity" in built:
        cdf, cfile = (read_table(spec.capacity, base, "capacity", err) if spec.capacity is not None
                      else (built["capacity"], "flu_surge"))
        if cdf is not None and need_columns(cdf, ["region", "resource", "capacity"], cfile, err):
            capacity = _long_table(cdf, cfile, "capacity", ridx, resources, err)
    # demand (region, resource, scenario, value)
    if built:
        ddf, dfile = built["demand"], "flu_surge"
    elif spec.demand is not None:
        ddf, dfile = read_table(spec.demand, base, "demand", err)
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
    if not need_columns(ddf, ["region", "resource", "value"], dfile, err):
        err.raise_if_any()
    scen = list(dict.fromkeys(ddf["scenario"].astype(str)))
    demand = _long_table(ddf, dfile, "value", ridx, resources, err, scen)
    sw = None
    if "weight" in ddf.columns:
        w = pd.to_numeric(ddf["weight"], errors="coerce")
        sw = w.groupby(ddf["scenario"].astype(str)).first().reindex(scen).to_numpy(float)
        if np.any(~np.isfinite(sw)) or np.any(sw < 0):
            err.add("weight", "scenario weights must be non-negative numbers", file=dfile)
    # options
    unc = spec.uncertainty
    design = None if unc.scenario is None else str(unc.scenario)
    if design is not None and design not in scen and f"q{design}" in scen:
        design = f"q{design}"
    if unc.mode == "quantile" and design not in scen:
        err.add("uncertainty.scenario", f"must name one of the scenarios ({', '.join(scen[:30])})", design)
    quality = None
    if spec.quality is not None:
        if spec.quality.column not in regions.columns:
            err.add("quality.column", f"the regions table has no column {spec.quality.column!r}", spec.quality.column)
        else:
            quality = pd.to_numeric(regions[spec.quality.column], errors="coerce").to_numpy(float)
    pooling = None
    if spec.pooling is not None:
        ps = spec.pooling
        if isinstance(ps.pairs, TableSpec):
            pairs, pfile = read_table(ps.pairs, base, "pooling.pairs", err)
        else:
            pairs, pfile = state_pairs(), "state_centroids"
        if pairs is not None and "distance" not in pairs.columns and "cost" in pairs.columns:
            # the table `equicare costs` writes: travel minutes along a road network (max_distance in minutes)
            pairs = pairs.rename(columns={"cost": "distance"})
        if pairs is not None and need_columns(pairs, ["origin", "destination", "distance"], pfile, err):
            pairs = pairs.copy()
            pairs["distance"] = numbers(pairs, "distance", pfile, err)
            pooling = Pooling(pairs=pairs, max_distance=ps.max_distance, resources=ps.resources,
                              cost_per_unit=ps.cost_per_unit, cost_per_unit_distance=ps.cost_per_unit_distance,
                              no_worse_off=ps.no_worse_off)
    fac, fcaps = _facilities(spec, base, resources, err)
    err.raise_if_any()
    try:
        return AllocationProblem(
            regions=ids, resources=resources, capacity=capacity, demand=demand, scenario_names=scen,
            scenario_weights=sw, unit_cost=[o.unit_cost for o in rs], budget=spec.budget,
            stock=[o.stock for o in rs], min_alloc=min_alloc, max_alloc=max_alloc, integer=[o.integer for o in rs],
            weight=[o.weight for o in rs], objective=spec.objective, fairness_weight=spec.fairness_weight,
            uncertainty=unc.mode, design_scenario=design, coverage_floor=spec.inequality.coverage_floor,
            max_gap=spec.inequality.max_gap, max_gini=spec.inequality.max_gini, quality=quality,
            quality_weight=spec.quality.weight if spec.quality is not None else 0.0, pooling=pooling,
            facilities=fac, facility_caps=fcaps, cap_at_need=spec.cap_at_need, region_names=names,
            units={r: o.unit for r, o in zip(resources, rs)})
    except EquicareError as exc:
        raise ValidationError([Problem(fname, None, None, str(exc))]) from exc
