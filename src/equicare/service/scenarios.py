"""Scenario runs of the service (analyse, forecast, allocate) and the what-if re-solve.

Each run is the pipeline's own stage function (:mod:`equicare.pipeline`) on the bundled real US data,
recorded in the store like a CLI run: parameters, data fingerprints, progress, results written in one
transaction (a failed run keeps none). An ``analyse`` run may replace the bundled facilities by a
facilities dataset the organisation uploaded. In the service, runs, what-ifs and pooling are computed
in worker processes (:mod:`equicare.service.jobs`); the web process only records them. Clients poll the
run's progress.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache

import numpy as np
import pandas as pd

from equicare import params
from equicare.errors import EquicareError
from equicare.store import Store

__all__ = [
    "FAIRNESS_RULES",
    "RUN_KINDS",
    "ScenarioParams",
    "allocation_tables",
    "RunOutput",
    "compute_run",
    "execute_run",
    "hospitals_table",
    "parse_params",
    "solve_allocation",
    "start_run",
    "pooled_job",
    "warm_up",
    "whatif",
    "whatif_job",
]

RUN_KINDS = ("analyse", "forecast", "allocate")
FAIRNESS_RULES = params.OBJECTIVES


@dataclass(frozen=True)
class ScenarioParams:
    """Parameters a planner may set for a run or a what-if; defaults and ranges from :mod:`equicare.params`
    (the demo's :class:`~equicare.pipeline.DemoParams` takes the same ones)."""

    as_of: str = params.AS_OF
    severity: float = params.SEVERITY.default
    stockpile: int = params.STOCKPILE.default
    scenario_quantile: float = params.SCENARIO_QUANTILE.default
    fairness: str = "leximin"
    fairness_weight: float = params.FAIRNESS_WEIGHT.default
    forecast_model: str = params.FORECAST_MODEL
    facilities_dataset: int | None = None
    max_gini: float | None = params.MAX_GINI.default
    """Cap on the need-weighted Gini coefficient of the states' shares of need met, in [0, 1]; None: no cap."""
    place_at_hospitals: bool = False
    """Place each state's beds at its CMS-rated hospitals, best-rated first."""
    hospital_share: float = params.HOSPITAL_SHARE.default
    """With placement: a hospital takes at most this share of its staffed ICU beds, in (0, 1]."""


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_ALLOCATE_ONLY = ("max_gini", "place_at_hospitals")
_NUMERIC = ("severity", "scenario_quantile", "fairness_weight", "max_gini", "hospital_share", "stockpile",
            "facilities_dataset")
_RANGED = (params.SEVERITY, params.STOCKPILE, params.FAIRNESS_WEIGHT, params.MAX_GINI, params.HOSPITAL_SHARE)


def parse_params(raw: dict | None) -> ScenarioParams:
    """Validate request parameters into :class:`ScenarioParams` (unknown keys and bad values are refused)."""
    raw = dict(raw or {})
    names = {f.name: f for f in fields(ScenarioParams)}
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise EquicareError(f"unknown parameter(s): {', '.join(unknown)} (known: {', '.join(names)})")
    p = ScenarioParams()
    vals = {}
    for k, v in raw.items():
        if v is None or v == "":
            continue
        try:
            if k == "place_at_hospitals":
                vals[k] = _as_bool(v)
            elif k in _NUMERIC:
                if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                    raise TypeError
                if isinstance(v, str) and not v.isascii():  # float() reads "١٠٠" (Arabic-Indic digits) as 100
                    raise ValueError
                x = float(v)
                if not math.isfinite(x):
                    raise EquicareError(f"parameter '{k}' must be a finite number, got {_shown(v)}")
                if k in ("stockpile", "facilities_dataset"):
                    if x != int(x) or abs(x) > 2 ** 53:
                        raise ValueError
                    vals[k] = int(x)
                else:
                    vals[k] = x
            elif not isinstance(v, str):
                raise TypeError
            else:
                vals[k] = v
        except (TypeError, ValueError, OverflowError):
            raise EquicareError(f"parameter '{k}': not a valid value ({_shown(v)})") from None
    p = replace(p, **vals)
    from equicare.forecast import MODELS

    if p.forecast_model not in MODELS:
        raise EquicareError(f"parameter 'forecast_model' must be one of {', '.join(MODELS)}, got {p.forecast_model!r}")
    if p.fairness not in FAIRNESS_RULES:
        raise EquicareError(f"parameter 'fairness' must be one of {', '.join(FAIRNESS_RULES)}, got {p.fairness!r}")
    params.check_quantile(p.scenario_quantile)
    for spec in _RANGED:
        spec.check(getattr(p, spec.name))
    from equicare.data.dates import parse_date

    try:  # ISO only: 01/07/2024 is never guessed (equicare.data.dates)
        ts = parse_date(p.as_of, "parameter 'as_of'")
    except EquicareError:
        raise EquicareError(f"parameter 'as_of' must be a date (YYYY-MM-DD), got {p.as_of!r}") from None
    if ts.day_of_week != 5:
        raise EquicareError(f"parameter 'as_of' must be a Saturday (FluSight reference date), got {p.as_of}")
    return p


def _shown(v: object) -> str:
    """A refused value as plain text (shortened)."""
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_bool(v: object) -> bool:
    """A checkbox or JSON boolean: true/false, 1/0, yes/no, on/off."""
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(v)


# -- cached inputs (the bundled data takes seconds to build; it never changes within a process) ---------
@lru_cache(maxsize=1)
def _bundled():
    from equicare.data.bundled import load_bundled

    return load_bundled()


@lru_cache(maxsize=1)
def _truth() -> pd.DataFrame:
    from equicare.data.bundled import data_path
    from equicare.forecast import load_truth

    return load_truth(data_path("admissions"))


@lru_cache(maxsize=16)
def _forecast(as_of: str, model: str) -> pd.DataFrame:
    from equicare.forecast import forecast
    from equicare.forecast.extras import bundled_extras

    return forecast(_truth(), as_of, model=model, **bundled_extras().kwargs())


@lru_cache(maxsize=1)
def _hospitals() -> pd.DataFrame:
    from equicare.optimize.facilities import bundled_hospitals

    return bundled_hospitals("state")


def _demo_params(p: ScenarioParams):
    from equicare.pipeline import DemoParams

    return replace(DemoParams(), as_of=p.as_of, severity=p.severity, stockpile=p.stockpile,
                   scenario_quantile=p.scenario_quantile, forecast_model=p.forecast_model)


def solve_allocation(p: ScenarioParams) -> tuple[pd.DataFrame, dict]:
    """The surge-ICU allocation of :mod:`equicare.pipeline` under ``p``: per-state table and summary.

    Every rule goes through :func:`equicare.pipeline.allocate_surge` (``fairness``, ``max_gini`` and hospital
    placement are its options). Solutions are cached per parameter set (the inputs are the bundled data).
    """
    tables, summary = allocation_tables(p)
    return tables["allocation"], summary


def allocation_tables(p: ScenarioParams) -> tuple[dict[str, pd.DataFrame], dict]:
    """Like :func:`solve_allocation`, with every table: ``allocation`` and, with placement, ``hospitals``."""
    tables, summary = _solve_cached(replace(p, facilities_dataset=None))
    return {k: v.copy() for k, v in tables.items()}, dict(summary)


@lru_cache(maxsize=64)
def _solve_cached(p: ScenarioParams) -> tuple[dict[str, pd.DataFrame], dict]:
    from equicare.pipeline import allocate_surge, surge_need

    data = _bundled()
    dp_ = _demo_params(p)
    need = surge_need(data.state_capacity, data.states, _forecast(p.as_of, p.forecast_model), dp_)
    place = p.place_at_hospitals
    tables, summary = allocate_surge(need, dp_, objective=p.fairness, fairness_weight=p.fairness_weight,
                                     max_gini=p.max_gini, hospital_share=p.hospital_share if place else None,
                                     hospitals=_hospitals() if place else None)
    tables = {k: v.reset_index(drop=True) for k, v in tables.items()}
    summary = {**summary, "fairness": p.fairness, **_gini_summary(p, summary),
               **_placement_summary(p, tables.get("hospitals"))}
    return tables, summary


def _gini_summary(p: ScenarioParams, summary: dict) -> dict:
    """The Gini cap in a run's summary: cap, whether it binds, its duals and what it cost against no cap."""
    out = {"max_gini": p.max_gini, "whole_units": True,
           "gini_binding": bool(summary.get("gini_binding", False)),
           "gini_over_cap": bool(summary.get("gini_over_cap", False)),
           "gini_shadow_price": summary.get("gini_shadow_price"),
           "gini_shadow_price_coverage": summary.get("gini_shadow_price_coverage")}
    if p.max_gini is not None:
        # the same scenario without an effective cap (a Gini never exceeds 1)
        _, free = _solve_cached(replace(p, max_gini=1.0)) if p.max_gini < 1 else (None, summary)
        out["without_cap"] = {k: free[k] for k in ("min_share", "total_allocated", "share_met_gini")}
        out["gini_cost_min_share"] = float(free["min_share"] - summary["min_share"])
        out["gini_cost_beds"] = float(free["total_allocated"] - summary["total_allocated"])
    return out


def _placement_summary(p: ScenarioParams, hospitals: pd.DataFrame | None) -> dict:
    """Hospital placement in a run's summary (hospital_share is None when placement is off)."""
    if hospitals is None:
        return {"place_at_hospitals": False, "hospital_share": None}
    used = hospitals[hospitals["allocated"] > 0]
    return {"place_at_hospitals": True, "hospital_share": p.hospital_share, "hospitals_used": len(used),
            "beds_placed": float(used["allocated"].sum())}


def hospitals_table(p: ScenarioParams) -> pd.DataFrame | None:
    """The beds placed per hospital under ``p`` (None when placement is off)."""
    tables, _ = allocation_tables(p)
    return tables.get("hospitals")


def whatif(p: ScenarioParams, base: ScenarioParams | None = None) -> tuple[pd.DataFrame, dict]:
    """Re-solve under ``p`` and compare with ``base`` (default parameters): per-state allocation change.

    Returns the per-state table (``allocated_base``, ``allocated``, ``change``, ``share_met_base``,
    ``share_met``, explanation under ``p``) and both summaries.
    """
    base = base or ScenarioParams()
    new, s_new = solve_allocation(p)
    old, s_old = solve_allocation(base)
    t = new[["region", "name", "need", "allocated", "share_met", "explanation"]].merge(
        old[["region", "need", "allocated", "share_met"]].rename(
            columns={"need": "need_base", "allocated": "allocated_base", "share_met": "share_met_base"}),
        on="region", how="outer")
    t["change"] = t["allocated"].fillna(0) - t["allocated_base"].fillna(0)
    t = t.sort_values(["change", "need"], ascending=[True, False], key=lambda s: -s.abs()).reset_index(drop=True)
    return t, {"base": {**asdict(base), **s_old}, "whatif": {**asdict(p), **s_new}}


def _as_pipeline_facilities(fac: pd.DataFrame) -> pd.DataFrame:
    """An uploaded facilities table in the shape :func:`equicare.pipeline.analyse` expects.

    Its ``region`` must be a 5-digit county FIPS code (the state is its first two digits); missing
    ``cap_beds`` / ``cap_icu_beds`` columns count as unknown.
    """
    fac = fac.copy()
    region = fac["region"].astype("string")
    bad = region.isna() | ~region.str.fullmatch(r"\d{5}").fillna(False)
    if bad.all():
        raise EquicareError("an analyse run needs facilities whose 'region' is a 5-digit county FIPS code")
    fac = fac[~bad.to_numpy()].copy()
    if "state" not in fac.columns:
        fac["state"] = fac["region"].astype(str).str[:2]
    for c in ("cap_beds", "cap_icu_beds"):
        if c not in fac.columns:
            fac[c] = np.nan
        fac[c] = pd.to_numeric(fac[c], errors="coerce")
    return fac.reset_index(drop=True)


@dataclass
class RunOutput:
    """What a run computed (in a worker process): result tables, summary and the input fingerprints."""

    tables: dict[str, pd.DataFrame]
    summary: dict
    fingerprints: dict


def warm_up() -> None:
    """Load the bundled data and observed admissions once (a worker does this when it starts)."""
    _bundled()
    _truth()


def compute_run(kind: str, p: ScenarioParams, facilities: pd.DataFrame | None = None) -> RunOutput:
    """Compute one scenario run without touching the store (runs in a worker process).

    ``facilities`` is the organisation's uploaded facilities table for an ``analyse`` run (read by the
    web process, which owns the store), or None for the bundled facilities.
    """
    data = _bundled()
    if kind == "analyse":
        from equicare.pipeline import analyse

        if facilities is not None:
            data = replace(data, facilities=_as_pipeline_facilities(facilities))
        tables, summary = analyse(data, _demo_params(p))
    elif kind == "forecast":
        fc = _forecast(p.as_of, p.forecast_model)
        ref = pd.Timestamp(p.as_of)
        tr = _truth()
        recent = tr[(tr["date"] >= ref - pd.Timedelta(weeks=20)) & (tr["date"] <= ref + pd.Timedelta(weeks=6))]
        tables = {"forecast": fc, "truth": recent.reset_index(drop=True)}
        summary = {"as_of": p.as_of, "model": p.forecast_model, "locations": int(fc["location"].nunique())}
    elif kind == "allocate":
        tables, summary = allocation_tables(p)
    else:
        raise EquicareError(f"unknown run kind {kind!r}")
    return RunOutput(dict(tables), dict(summary), dict(data.fingerprints))


def whatif_job(p: ScenarioParams) -> tuple[pd.DataFrame, dict, pd.DataFrame | None]:
    """:func:`whatif` and :func:`hospitals_table` under ``p`` together (runs in a worker process)."""
    table, summary = whatif(p)
    return table, summary, hospitals_table(p)


def pooled_job(snapshot: dict, dataset_ids: list[int], kwargs: dict) -> dict:
    """:func:`equicare.service.releases.pooled_analysis` in a worker process.

    The web process owns the store; it passes the catalog entries and rows of the aggregates to pool and the
    declared public region lists (``snapshot``), which are put in a throw-away in-memory store with the same ids.
    """
    from equicare.service.region_lists import declare_region_list
    from equicare.service.releases import pooled_analysis

    with Store(":memory:") as mem:
        imported = set()
        for info, rows in snapshot["datasets"]:
            mem.import_dataset(info, rows)
            imported.add(int(info["id"]))
        for name, org, info, rows in snapshot.get("region_lists", []):
            if int(info["id"]) not in imported:
                mem.import_dataset(info, rows)
                imported.add(int(info["id"]))
            declare_region_list(mem, name, int(info["id"]), org=org)
        return pooled_analysis(mem, dataset_ids, **kwargs)


def execute_run(store: Store, run_id: str, kind: str, p: ScenarioParams, org: str) -> None:
    """Run one scenario to the end in this process, recording progress, results or the failure in the store.

    The service never calls this (its runs go to the worker pool, see :func:`start_run`); it is the
    in-process path for scripts and tests.
    """
    try:
        store.set_progress(run_id, 0, 1, "computing")
        out = compute_run(kind, p, _facilities_for(store, p, org))
        store.update_run(run_id, fingerprints=out.fingerprints)
        store.finish_run(run_id, out.tables, out.summary)
    except Exception as exc:  # noqa: BLE001 - the run records any failure; the service stays up
        store.fail_run(run_id, _failure_message(exc))


def _failure_message(exc: BaseException) -> str:
    from equicare.service.jobs import failure_message

    return failure_message(exc)


def _facilities_for(store: Store, p: ScenarioParams, org: str) -> pd.DataFrame | None:
    if p.facilities_dataset is None:
        return None
    try:
        info = store.dataset_info(p.facilities_dataset)
    except EquicareError:
        info = None
    if info is None or info["org"] != org or info["kind"] != "facilities":
        raise EquicareError(f"parameter 'facilities_dataset': no facilities dataset {p.facilities_dataset} "
                            f"in your organisation")
    return store.get_dataset(p.facilities_dataset)


def finish_from_worker(store: Store, run_id: str, fut) -> None:
    """Done-callback of a run's job: write its results (one transaction) or its failure."""
    try:
        exc = fut.exception() if not fut.cancelled() else RuntimeError("cancelled: the service is shutting down")
        if exc is not None:
            store.fail_run(run_id, _failure_message(exc))
            return
        out: RunOutput = fut.result()
        store.update_run(run_id, fingerprints=out.fingerprints)
        store.finish_run(run_id, out.tables, out.summary)
    except Exception as exc:  # noqa: BLE001 - e.g. results that cannot be written: the run fails, cleanly
        try:
            store.fail_run(run_id, _failure_message(exc))
        except Exception:  # noqa: BLE001 - the store is closed (shutdown); start-up recovery marks it
            pass


def start_run(store: Store, kind: str, params: dict | None, *, org: str, user: str,
              background: bool = True, pool=None) -> str:
    """Validate, record and start a scenario run; returns its id immediately (poll ``store.get_run``).

    With ``pool`` (a :class:`equicare.service.jobs.JobPool`) the run is computed in a worker process and
    the pool's :class:`~equicare.service.jobs.Busy` is raised, before anything is recorded, when it is
    full. Without a pool the run executes in this process (on a thread when ``background``).
    """
    if kind not in RUN_KINDS:
        raise EquicareError(f"run kind must be one of {', '.join(RUN_KINDS)}, got {kind!r}")
    p = parse_params(params)
    if p.facilities_dataset is not None and kind != "analyse":
        raise EquicareError("'facilities_dataset' applies to analyse runs only")
    for k in _ALLOCATE_ONLY:
        if kind != "allocate" and getattr(p, k) != getattr(ScenarioParams(), k):
            raise EquicareError(f"parameter '{k}' applies to allocate runs only")
    if pool is not None:
        fut = pool.submit(f"{org}/{user}", compute_run, kind, p, _facilities_for(store, p, org))
        run_id = store.start_run(kind, asdict(p), org=org, created_by=user)
        store.set_progress(run_id, 0, 1, "queued for a worker")
        fut.add_done_callback(lambda f: finish_from_worker(store, run_id, f))
        return run_id
    run_id = store.start_run(kind, asdict(p), org=org, created_by=user)
    if background:
        threading.Thread(target=execute_run, args=(store, run_id, kind, p, org), daemon=True,
                         name=f"equicare-run-{run_id}").start()
    else:
        execute_run(store, run_id, kind, p, org)
    return run_id
