"""Run a project end to end: ingest, access, inequality, forecast, allocate, share, report, store.

:func:`run_project` is what ``equicare run PROJECT.yaml`` and the dashboard's project runs call.  It writes,
in ``out_dir``: ``report.html`` (self-contained), ``equicare.duckdb`` (datasets, the run and its results, in
one transaction at the end, so a failed run stores no results), and one CSV per result table: at least
``access.csv``, ``inequality.csv``, ``forecast.csv`` and ``allocation.csv`` when their sections are present.
Stages whose section is absent are skipped.

The allocation's need from the forecast (``need: forecast_surge``) is the demo's surge-ICU formula
(:mod:`equicare.pipeline`): ``need_r = max(0, ceil(u_r C_r + F_r - t C_r))`` with ``F_r = severity * A_r *
icu_fraction * icu_los_days / step_days`` flu ICU patients at the forecast peak ``A_r`` (quantile
``scenario_quantile`` of the forecast), ``C_r`` the region's capacity and ``u_r`` its usual occupancy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from equicare import __version__
from equicare.errors import EquicareError
from equicare.pipeline import DemoParams
from equicare.project.allocation import allocate_stage, share_stage
from equicare.project.ingest import Inputs, ingest
from equicare.project.spec import ForecastSpec, Project, load_project

Progress = Callable[[str, int, int], None]


@dataclass
class ProjectResult:
    """What a project run produced."""

    run_id: str | None
    project: Project
    tables: dict[str, pd.DataFrame]
    summary: dict
    out_dir: Path | None = None
    report_path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    geojson: dict | None = None
    """The regions as a WGS84 FeatureCollection (maps in the report and the dashboard)."""


def _noop(stage: str, done: int, total: int) -> None:
    pass


# ------------------------------------------------------------------------------------------- access
def access_stage(project: Project, inp: Inputs) -> tuple[pd.DataFrame, dict]:
    """Capacity per 1,000 people and the access measure per region and supply column.

    Returns ``region, name, population, n_facilities``, per capacity column ``<cap>`` and
    ``<cap>_per_1000``, and per supply column ``<method>_<supply>_per_1000`` (``nearest``: ``nearest_<supply>_km``).
    """
    from equicare.analyze.access import compute_access

    reg, fac = inp.regions, inp.facilities
    out = pd.DataFrame({"region": reg["id"], "name": reg["name"], "population": reg["population"]})
    caps = list(project.facilities.capacity) if project.facilities else []
    if fac is not None:
        g = fac.groupby("region")
        out["n_facilities"] = out["region"].map(g.size()).fillna(0).astype(int)
        for c in caps:
            out[c] = out["region"].map(g[c].sum(min_count=1)).fillna(0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"{c}_per_1000"] = np.where(out["population"] > 0, 1000.0 * out[c] / out["population"], np.nan)
    summary: dict = {}
    a = project.access
    if a is None or fac is None:
        return out, summary
    cost = _cost_matrix(project, inp)
    supply_cols = a.supply or caps[:1]
    for s in supply_cols:
        if s not in fac.columns:
            raise EquicareError(f"access.supply {s!r} is not one of facilities.capacity ({', '.join(caps)})")
    sup = fac[supply_cols].fillna(0.0).to_numpy(float)
    dem = reg["population"].fillna(0.0).to_numpy(float)
    t = project.travel
    max_cost = a.max_cost if a.max_cost is not None else (t.max_minutes if t is not None else a.max_km)
    vals = compute_access(a.method, cost, dem, sup, max_cost=max_cost, weights=a.weights, scale=a.scale,
                          alpha=a.alpha, min_dist=a.min_dist, sigma=a.sigma, tau=a.tau, rho=a.rho,
                          normalize=a.normalize)
    vals = np.asarray(vals, float).reshape(len(reg), -1)
    m = a.method.lower()
    for k, s in enumerate(supply_cols):
        if m == "nearest":
            unit = "minutes" if t is not None and a.costs is None else "km"
            out[f"nearest_{s}_{unit}"] = np.where(np.isfinite(vals[:, k]), vals[:, k], np.nan)
        elif a.normalize or m == "gravity":
            out[f"{m}_{s}"] = vals[:, k]
        else:
            out[f"{m}_{s}_per_1000"] = vals[:, k] * 1000.0
    first = [c for c in out.columns if c.startswith(m + "_")][0]
    summary["access_measure"] = first
    summary["population_without_access"] = float(out.loc[(out[first].fillna(0) == 0), "population"].sum())
    summary["pairs_within_catchment"] = int(cost.nnz)
    return out, summary


def _cost_matrix(project: Project, inp: Inputs):
    """Region points to facilities: great-circle km within ``max_km`` (k-d tree), projected Euclidean km,
    or a cost file (long or wide)."""
    from equicare.analyze.costs import cost_matrix_from_long, euclidean_costs, great_circle_costs

    a, reg, fac = project.access, inp.regions, inp.facilities
    if a.costs is not None:
        from equicare.project.tables import read_costs

        long = read_costs(a.costs)
        return cost_matrix_from_long(long, reg["id"], fac["id"], file=a.costs.name)
    bad = reg["lat"].isna() | reg["lon"].isna()
    if bad.any():
        raise EquicareError(f"{project.regions.file.name}: {int(bad.sum())} region(s) without coordinates, e.g. "
                            f"{reg.loc[bad, 'id'].iloc[0]!r}; access needs a point per region")
    if project.travel is not None:
        return _travel_matrix(project, inp)
    limit = a.max_km if a.max_km is not None else 20037.5  # half the Earth's circumference: every pair
    if a.distance == "euclidean":
        from equicare.project.geo import WGS84

        crs = project.regions.crs or (inp.layer.source_crs if inp.layer is not None else None)
        if crs is None:
            raise EquicareError("distance: euclidean needs a projected CRS (regions.crs or a projected layer)")
        from pyproj import CRS, Transformer

        if not CRS.from_user_input(crs).is_projected:
            raise EquicareError(f"distance: euclidean needs a projected CRS; {crs} is geographic")
        tr = Transformer.from_crs(WGS84, crs, always_xy=True)
        ox, oy = tr.transform(reg["lon"].to_numpy(float), reg["lat"].to_numpy(float))
        dx, dy = tr.transform(fac["lon"].to_numpy(float), fac["lat"].to_numpy(float))
        c = euclidean_costs(np.column_stack([ox, oy]) / 1000.0, np.column_stack([dx, dy]) / 1000.0, limit)
        return c
    return great_circle_costs(reg["lat"].to_numpy(float), reg["lon"].to_numpy(float), fac["lat"].to_numpy(float),
                              fac["lon"].to_numpy(float), limit)


def _travel_matrix(project: Project, inp: Inputs):
    """Region points to facilities in minutes along the ``travel`` network (or its stated fallback)."""
    from equicare.analyze.costs import cost_matrix_from_long
    from equicare.analyze.travel import travel_costs

    t, reg, fac = project.travel, inp.regions, inp.facilities
    res = travel_costs(reg[["id", "lat", "lon"]], fac[["id", "lat", "lon"]],
                       network=None if t.network is None else str(t.network), mode=t.mode,
                       max_minutes=t.max_minutes, max_km=t.max_km, max_snap_m=t.max_snap_m)
    inp.report.add("travel", "travel times", "cost", len(res.table), "; ".join(res.summary().splitlines()))
    return cost_matrix_from_long(res.table[["origin", "destination", "cost"]], reg["id"], fac["id"], file="travel")


# --------------------------------------------------------------------------------------- inequality
_LABELS = {"gini": "Gini coefficient", "theil": "Theil index", "mld": "mean log deviation",
           "atkinson": "Atkinson index", "cov": "coefficient of variation", "quintile_ratio": "quintile ratio"}


def inequality_stage(project: Project, access: pd.DataFrame) -> pd.DataFrame:
    """Population-weighted inequality across regions of each per-1,000 rate and access measure
    (:func:`equicare.analyze.inequality.region_inequality`, bootstrap intervals); a measure undefined for
    the data has an empty estimate and a note saying why."""
    from equicare.analyze.inequality import region_inequality

    cols = [c for c in access.columns if c.endswith("_per_1000")]
    if project.access is not None:
        cols += [c for c in access.columns if c.startswith(project.access.method.lower() + "_") and c not in cols]
    w = access["population"].to_numpy(float)
    ok = np.isfinite(w) & (w > 0)
    frames = []
    for c in cols:
        v = access[c].to_numpy(float)
        keep = ok & np.isfinite(v)
        if keep.sum() < 2:
            continue
        t = region_inequality(v[keep], w[keep], epsilon=project.inequality.epsilon, n_boot=project.inequality.n_boot)
        t.insert(0, "indicator", c)
        t["measure_label"] = t["measure"].map(_LABELS)
        t["note"] = np.where(t["estimate"].isna(), "undefined for these values (e.g. a region with zero)", "")
        t["regions"] = int(keep.sum())
        frames.append(t)
    cols_out = ["indicator", "measure", "measure_label", "estimate", "lowerci", "upperci", "regions", "note"]
    return pd.concat(frames, ignore_index=True)[cols_out] if frames else pd.DataFrame(columns=cols_out)


# ----------------------------------------------------------------------------------------- forecast
def forecast_stage(project: Project, inp: Inputs, progress: Progress = _noop) -> tuple[dict[str, pd.DataFrame], dict]:
    """Forecast the demand series (any ids and frequency), back-test the models and score them against the
    baseline named in ``forecast.baseline``."""
    from equicare.forecast.series import backtest_counts, forecast_counts, score_counts

    spec = project.forecast or ForecastSpec()
    s = inp.demand
    reg = inp.regions.set_index("id")
    pop = None
    if reg["population"].notna().all() and set(s.frame["location"]) <= set(reg.index):
        pop = reg["population"].to_dict()
    levels = spec.quantiles or None
    if spec.extras:
        return _flu_forecast(project, inp, spec, progress)
    kw = {"horizons": tuple(spec.horizons), "population": pop}
    plan = forecast_counts(s, spec.as_of, spec.model, levels=levels or _hub_levels(), **kw)
    scores, hold = [], []
    models = list(dict.fromkeys([spec.model, *spec.compare, spec.baseline]))
    if spec.holdout > 0:
        for i, m in enumerate(models):
            progress(f"back-testing {m}", i, len(models))
            fc = backtest_counts(s, spec.holdout, m, **kw)
            hold.append(fc.assign(model=m))
            sc = score_counts(s, fc, spec.horizons)
            scores.append({"model": m, **{k: v for k, v in sc.items() if not isinstance(v, (dict, list))}})
    table = pd.DataFrame(scores)
    if len(table):
        base = float(table.set_index("model").loc[spec.baseline, "wis"])
        table["wis_ratio_vs_baseline"] = table["wis"] / base if base > 0 else np.nan
        table["baseline"] = spec.baseline
    summary = {"forecast_scores": table.to_dict(orient="records"), "as_of": str(plan["reference_date"].iloc[0]),
               "frequency": s.freq, "forecast_baseline": spec.baseline}
    tables = {"forecast": plan, "forecast_scores": table}
    if hold:
        tables["holdout_forecasts"] = pd.concat(hold, ignore_index=True)
    return tables, summary


def _hub_levels():
    from equicare.forecast.hub import QUANTILES

    return QUANTILES


def _flu_forecast(project: Project, inp: Inputs, spec: ForecastSpec, progress: Progress
                  ) -> tuple[dict[str, pd.DataFrame], dict]:
    """US flu admissions by state FIPS: the FluSight path with the bundled training extras (as the demo)."""
    from equicare.pipeline import predict

    if project.regions.id_format != "us-fips" or inp.demand.freq != "weekly":  # the extras are US states, weekly
        raise EquicareError("forecast.extras (the bundled US flu training data) needs weekly series and "
                            "regions.id_format: us-fips")
    truth = inp.demand.truth().assign(weekly_rate=np.nan)
    params = replace(DemoParams(), as_of=spec.as_of or (inp.demand.step(inp.demand.frame["date"].max(), 1)
                                                        .strftime("%Y-%m-%d")),
                     forecast_model=spec.model, compare_models=tuple(spec.compare), baseline_model=spec.baseline,
                     holdout_start=spec.holdout_start or DemoParams.holdout_start,
                     holdout_end=spec.holdout_end or DemoParams.holdout_end, forecast_extras=True)
    tables, summary = predict(params, truth=truth, progress=progress)
    tables["forecast_scores"]["baseline"] = spec.baseline
    summary.update(frequency="weekly", forecast_baseline=spec.baseline)
    return {k: v for k, v in tables.items() if k != "truth"}, summary


# ----------------------------------------------------------------------------------------- the job
def check_project(path: str | Path) -> tuple[Project, Inputs, list[str]]:
    """Validate the project file and every input; return what would run (one line per stage)."""
    project = load_project(path)
    inp = ingest(project)
    lines = [f"project: {project.name}",
             f"regions: {len(inp.regions)} from {project.regions.file.name}"
             + (f" ({inp.layer.kind}s, CRS {inp.layer.source_crs})" if inp.layer is not None else "")]
    if inp.facilities is not None:
        lines.append(f"facilities: {len(inp.facilities)} from {project.facilities.file.name}; capacity "
                     + ", ".join(f"{c} {inp.facilities[c].sum():,.0f}" for c in project.facilities.capacity))
    if inp.demand is not None:
        f = inp.demand.frame
        lines.append(f"demand: {f['location'].nunique()} series, {inp.demand.freq}, {f['date'].min().date()} to "
                     f"{f['date'].max().date()}")
    for st in project.stages():
        lines.append(f"stage {st}: will run")
    for st in ("access", "forecast", "allocate"):
        if st not in project.stages():
            lines.append(f"stage {st}: skipped (no {st if st != 'forecast' else 'demand'} section)")
    lines += [f"warning: {w}" for w in inp.warnings]
    return project, inp, lines


def run_project(path: str | Path | Project, out_dir: str | Path = "equicare-out", store_path: str | Path | None = None,
                progress: Progress = _noop, write_report: bool = True, org: str = "local",
                created_by: str | None = None, store=None, on_start: Callable[[str], None] | None = None,
                overrides: dict | None = None, extra_params: dict | None = None) -> ProjectResult:
    """Run every stage of a project; store datasets, the run and its results; write CSVs and the report.

    ``store`` is an open :class:`~equicare.store.Store` to use instead of opening ``store_path`` (the web
    service's); ``on_start(run_id)`` is called once the run is recorded; ``overrides`` maps ``section.key`` to
    a value that replaces the project file's (the dashboard's scenario form), e.g. ``{"allocate.stock": 300}``;
    ``extra_params`` are recorded with the run's parameters.

    Raises
    ------
    EquicareError / ValidationError
        Bad project file or inputs (nothing is stored or written then), or a stage that cannot run.
    """
    from equicare.store import Store

    project = path if isinstance(path, Project) else load_project(path)
    if overrides:
        project = apply_overrides(project, overrides)
    out = Path(out_dir)
    timings: dict[str, float] = {}
    stages = project.stages()
    total = len(stages) + 1
    t = time.perf_counter()
    progress("ingest", 0, total)
    inp = ingest(project)
    timings["ingest"] = time.perf_counter() - t
    out.mkdir(parents=True, exist_ok=True)
    own = store is None
    store = Store(store_path or out / "equicare.duckdb") if own else store
    try:
        params = {"project": project.name, "file": str(project.path), "stages": stages,
                  **{k: asdict(v) for k in ("access", "forecast", "allocate", "inequality")
                     if (v := getattr(project, k)) is not None}, **(extra_params or {})}
        run_id = store.start_run("project", params, inp.fingerprints, org=org, created_by=created_by)
        if on_start is not None:
            on_start(run_id)
        try:
            result = _stages(project, inp, run_id, store, out, timings, total, progress, write_report, org)
            return result
        except BaseException as exc:
            store.fail_run(run_id, f"{type(exc).__name__}: {exc}")
            raise
    finally:
        if own:
            store.close()


def apply_overrides(project: Project, overrides: dict) -> Project:
    """A copy of ``project`` with ``section.key`` values replaced (checked as in the project file).

    Raises
    ------
    EquicareError
        Unknown section or key, or a section the project does not have.
    """
    from dataclasses import fields

    from equicare.project.spec import suggest

    changes: dict[str, dict] = {}
    for dotted, value in overrides.items():
        sec, _, key = str(dotted).partition(".")
        spec = getattr(project, sec, None) if sec in ("allocate", "forecast", "access", "inequality") else None
        if spec is None:
            raise EquicareError(f"the project has no {sec!r} section to change")
        names = [f.name for f in fields(spec)]
        if key not in names:
            raise EquicareError(f"unknown key {dotted!r}" + suggest(key, names))
        changes.setdefault(sec, {})[key] = value
    return replace(project, **{sec: replace(getattr(project, sec), **kv) for sec, kv in changes.items()})


def _stages(project: Project, inp: Inputs, run_id: str, store, out: Path, timings: dict, total: int,
            progress: Progress, write_report: bool, org: str) -> ProjectResult:
    done = 1

    def step(name: str) -> float:
        nonlocal done
        progress(name, done, total)
        store.set_progress(run_id, done, total, name)
        done += 1
        return time.perf_counter()

    tables: dict[str, pd.DataFrame] = {}
    summary: dict = {"project": project.name, "regions": len(inp.regions), "warnings": inp.warnings}
    t = step("access")
    access, s = access_stage(project, inp)
    tables["access"] = access
    summary.update(s)
    timings["access"] = time.perf_counter() - t
    t = step("inequality")
    tables["inequality"] = inequality_stage(project, access)
    timings["inequality"] = time.perf_counter() - t
    plan = None
    if inp.demand is not None:
        t = step("forecast")
        ft, fs = forecast_stage(project, inp, lambda m, d, n: progress(f"forecast: {m}", done - 1, total))
        tables.update(ft)
        summary.update(fs)
        plan = ft["forecast"]
        timings["forecast"] = time.perf_counter() - t
    if project.allocate is not None:
        t = step("allocate")
        at, asum = allocate_stage(project, inp, plan)
        tables.update(at)
        summary.update(asum)
        shared, rep = share_stage(project, inp, at["allocation"])
        tables["shared_summary"] = shared
        summary["suppression"] = rep
        timings["allocate"] = time.perf_counter() - t
        if project.sweep is not None:
            from equicare.project.sweep import sweep_stage

            t = step("sweep")
            tables["sweep"], ssum = sweep_stage(project, inp, plan)
            summary.update(ssum)
            timings["sweep"] = time.perf_counter() - t
    tables["cleaning_report"] = inp.report.to_frame()
    summary.update(version=__version__, run_id=run_id)
    from equicare.project.geo import regions_geojson, shapes_table

    result = ProjectResult(run_id, project, tables, summary, out, None, timings, regions_geojson(inp.regions, inp.layer))
    if write_report:
        t = step("report")
        from equicare.report.project_html import write_project_report

        result.report_path = write_project_report(result, inp, out / "report.html")
        timings["report"] = time.perf_counter() - t
    t = time.perf_counter()
    for name, df in tables.items():
        _write_csv_atomic(df, out / f"{name}.csv")
    _store_all(store, project, inp, run_id, {**tables, "region_shapes": shapes_table(result.geojson)},
               {**summary, "timings": timings}, org)
    timings["store"] = time.perf_counter() - t
    progress("done", total, total)
    return result


def _store_all(store, project: Project, inp: Inputs, run_id: str, tables: dict, summary: dict, org: str) -> None:
    """The cleaned inputs as datasets, then the results and the run's status in one transaction."""
    rep = inp.report.to_dict()
    base = project.name
    store.save_dataset(f"{base}: regions", "regions", inp.regions, source=project.regions.file.name,
                       fingerprint=inp.fingerprints.get(project.regions.file.name, ""), report=rep, org=org)
    if inp.facilities is not None:
        store.save_dataset(f"{base}: facilities", "facilities",
                           inp.facilities.rename(columns={c: f"cap_{c}" for c in project.facilities.capacity}),
                           source=project.facilities.file.name,
                           fingerprint=inp.fingerprints.get(project.facilities.file.name, ""), report=rep, org=org)
    if inp.demand is not None:
        d = inp.demand.frame.rename(columns={"location": "region"})
        store.save_dataset(f"{base}: demand", "demand", d, source=project.demand.file.name,
                           fingerprint=inp.fingerprints.get(project.demand.file.name, ""), report=rep, org=org)
    store.finish_run(run_id, tables, summary)


def _write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
