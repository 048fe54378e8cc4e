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
from equicare.project.access import access_stage, descriptive_stage, inequality_stage
from equicare.project.allocation import allocate_stage, share_stage
from equicare.project.ingest import Inputs, ingest
from equicare.project.spec import ForecastSpec, Project, load_project

Progress = Callable[[str, int, int], None]
#: The cleaning report's one row when no cleaning step changed anything.
NO_CHANGES = "no cleaning step changed the inputs: nothing was padded, converted, left out or imputed"


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


# ----------------------------------------------------------------------------------------- forecast
def forecast_stage(project: Project, inp: Inputs, progress: Progress = _noop) -> tuple[dict[str, pd.DataFrame], dict]:
    """Forecast the demand series (any ids and frequency), back-test the models and score them against the
    baseline named in ``forecast.baseline``.  The forecast's notes (a region forecast from an older last step,
    imputed weeks, ...) are in ``summary["forecast_notes"]``."""
    tables, summary = _forecast_tables(project, inp, progress)
    summary["forecast_notes"] = list(tables["forecast"].attrs.get("notes", []))
    return tables, summary


def forecast_notes_table(project: Project, notes: list[str]) -> pd.DataFrame:
    """The forecast's notes as cleaning-report rows (``file, step, column, count, detail``; step
    ``forecast note``), so ``cleaning_report.csv`` carries them beside the data's changes."""
    spec = project.demand
    return pd.DataFrame({"file": spec.file.name if spec is not None else "", "step": "forecast note",
                         "column": spec.value if spec is not None else "", "count": 1, "detail": list(notes)},
                        columns=["file", "step", "column", "count", "detail"])


def _forecast_tables(project: Project, inp: Inputs, progress: Progress) -> tuple[dict[str, pd.DataFrame], dict]:
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
            if m == spec.model:  # its notes (fewer dates than asked, regions that stopped) go with the forecast's
                plan.attrs["notes"] = list(plan.attrs.get("notes", [])) + [
                    f"back-test of {m}: {n.replace('(--holdout)', '(forecast.holdout)')}"
                    for n in fc.attrs.get("notes", [])]
            hold.append(fc.assign(model=m))
            sc = score_counts(s, fc, spec.horizons)
            scores.append({"model": m, **{k: v for k, v in sc.items() if not isinstance(v, (dict, list))}})
    table = pd.DataFrame(scores)
    if len(table):
        base = float(table.set_index("model").loc[spec.baseline, "wis"])
        table["wis_ratio_vs_baseline"] = table["wis"] / base if base > 0 else np.nan
        table["baseline"] = spec.baseline
        if not base > 0:  # undefined is said, not a bare NaN
            table["note"] = (f"WIS ratio undefined: the baseline {spec.baseline!r} has WIS 0 (it forecast every "
                             "held-out target exactly)")
    summary = {"forecast_scores": table.to_dict(orient="records"), "as_of": str(plan["reference_date"].iloc[0]),
               "frequency": s.freq, "forecast_baseline": spec.baseline}
    used = table[table["model"] == spec.model] if len(table) else table
    if spec.model != spec.baseline and len(used) and used["wis_ratio_vs_baseline"].iloc[0] > 1:
        summary["warnings"] = [  # the need is built on this forecast: a worse-than-baseline model is said
            f"the forecast model {spec.model!r} scored worse than the baseline {spec.baseline!r} in the back-test "
            f"(WIS ratio {used['wis_ratio_vs_baseline'].iloc[0]:.2f}); the need uses its forecast. Consider "
            f"forecast.model: {spec.baseline} or a longer series."]
    if not len(table):  # not back-tested: one row saying so, never an empty forecast_scores.csv
        table = pd.DataFrame({"model": [spec.model], "note": ["not back-tested (forecast.holdout: 0): no scores"]})
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
    # the season's back-test forecasts (35 MB as CSV) are summarised by their scores, as the demo always did
    return {k: v for k, v in tables.items() if k not in ("truth", "holdout_forecasts")}, summary


# ----------------------------------------------------------------------------------------- the job
def check_project(path: str | Path) -> tuple[Project, Inputs, list[str]]:
    """Validate the project file and every input; return what would run (one line per stage)."""
    project = load_project(path)
    inp = ingest(project)
    lines = [f"project: {project.name}",
             f"regions: {len(inp.regions)} from {project.regions.file.name}"
             + (f" ({inp.layer.kind}s, CRS {inp.layer.source_crs})" if inp.layer is not None else "")]
    if inp.subregions is not None:
        lines.append(f"small areas: {len(inp.subregions)} from {project.subregions.file.name}")
    if inp.facilities is not None:
        lines.append(f"facilities: {len(inp.facilities)} from {project.facilities.file.name}; capacity "
                     + ", ".join(f"{c} {inp.facilities[c].sum():,.0f}" for c in project.facilities.capacity))
    if inp.demand is not None:
        f = inp.demand.frame
        lines.append(f"demand: {f['location'].nunique()} series, {inp.demand.freq}, {f['date'].min().date()} to "
                     f"{f['date'].max().date()}")
    if project.access is not None and project.access.costs is not None and inp.facilities is not None:
        from equicare.project.access import cost_matrix  # the cost file is an input too: checked here

        units = inp.subregions if inp.subregions is not None else inp.regions
        cost = cost_matrix(project, inp, units)
        lines.append(f"costs: {cost.nnz:,} region-facility pairs from {project.access.costs.name}")
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

    from equicare.project.spec import DATE_KEYS, suggest

    changes: dict[str, dict] = {}
    for dotted, value in overrides.items():
        sec, _, key = str(dotted).partition(".")
        spec = getattr(project, sec, None) if sec in ("allocate", "forecast", "access", "inequality") else None
        if spec is None:
            raise EquicareError(f"the project has no {sec!r} section to change")
        names = [f.name for f in fields(spec)]
        if key not in names:
            raise EquicareError(f"unknown key {dotted!r}" + suggest(key, names))
        if (sec, key) in DATE_KEYS and value is not None:  # as in the project file: ISO or its date_format
            from equicare.data.dates import parse_date

            value = parse_date(value, dotted, project.date_format).strftime("%Y-%m-%d")
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
    acc = access_stage(project, inp)
    tables["access"] = acc.regions
    if acc.subregions is not None:
        tables["subregion_access"] = acc.subregions
    if acc.shortage is not None:
        tables["shortage_areas"] = acc.shortage
    summary.update(acc.summary)
    timings["access"] = time.perf_counter() - t
    t = step("inequality")
    tables["inequality"] = inequality_stage(project, acc)
    stats = descriptive_stage(project, acc)
    if len(stats):
        tables["descriptive_stats"] = stats
    timings["inequality"] = time.perf_counter() - t
    plan = None
    if inp.demand is not None:
        t = step("forecast")
        ft, fs = forecast_stage(project, inp, lambda m, d, n: progress(f"forecast: {m}", done - 1, total))
        tables.update(ft)
        summary["warnings"] = [*summary["warnings"], *fs.pop("warnings", [])]
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
    if inp.demand is not None and summary.get("forecast_notes"):  # said where the data's changes are said
        notes = forecast_notes_table(project, summary["forecast_notes"])
        tables["cleaning_report"] = (pd.concat([tables["cleaning_report"], notes], ignore_index=True)
                                     if len(tables["cleaning_report"]) else notes)
    if not len(tables["cleaning_report"]):  # said, not an empty table
        tables["cleaning_report"] = pd.DataFrame([{"file": "", "step": "no changes", "column": "", "count": 0,
                                                   "detail": NO_CHANGES}])
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
        write_csv_atomic(df, out / f"{name}.csv")
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
    if inp.subregions is not None:
        store.save_dataset(f"{base}: small areas", "regions", inp.subregions, source=project.subregions.file.name,
                           fingerprint=inp.fingerprints.get(project.subregions.file.name, ""), report=rep, org=org)
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


def write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to a temporary file renamed into place, whole-number columns without decimals (``310``, not
    ``310.0``; :func:`equicare.csvout.whole_numbers`)."""
    from equicare.csvout import write_csv

    write_csv(df, path)
