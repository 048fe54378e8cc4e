"""The surge-ICU planning scenario's stage functions, shared by the project runs and the web service.

:class:`DemoParams` holds the scenario's parameters (defaults from :mod:`equicare.params`);
:func:`surge_need` and :func:`allocate_surge` turn a forecast into each region's need and share the stock
(``equicare run``'s allocation stage, :mod:`equicare.project.allocation`, and the dashboard's scenarios call
them); :func:`predict` is the FluSight forecast with the bundled training extras (a US FIPS project's
``forecast.extras``); :func:`analyse` is the dashboard's county and state analysis of the bundled US data.
The demo (``equicare demo``) is the bundled US project (:mod:`equicare.project.bundled_us`) run by
:func:`equicare.project.run_project` like any planner's project.

The surge-ICU planning scenario
-------------------------------
For each state ``s`` with ``C_s`` staffed ICU beds and usual ICU occupancy ``u_s``, the forecast peak
``A_s`` of weekly influenza admissions (quantile ``q`` of the 1-4-week-ahead forecast made at the
``as_of`` reference date) gives flu ICU patients ``F_s = severity * A_s * icu_fraction * icu_los_days / 7``
(admissions times the share needing intensive care times the weeks each stays).  The need is the ICU beds
lacking to stay at or below the target occupancy ``t``::

    need_s = max(0, ceil(u_s C_s + F_s - t C_s))

A state can staff at most ``surge_cap_ratio * C_s`` extra beds.  The national stockpile is shared by
lexicographic max-min fairness on the share of need met (see :mod:`equicare.optimize.allocation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from equicare import params as defaults
from equicare.analyze.describe import capacity_by_region, describe, per_capita
from equicare.data.bundled import BundledData, data_path
from equicare.errors import EquicareError

Progress = Callable[[str, int, int], None]


@dataclass
class DemoParams:
    """Parameters of the surge-ICU scenario (the demo's, written into the bundled US project, and the service's);
    defaults and ranges of the planning parameters come from :mod:`equicare.params`."""

    as_of: str = defaults.AS_OF
    """Planning reference date (a Saturday): forecasts use data up to one week before it."""
    severity: float = defaults.SEVERITY.default
    """Multiplier on forecast flu ICU patients for the severe-season scenario."""
    target_occupancy: float = defaults.TARGET_OCCUPANCY.default
    icu_fraction: float = defaults.ICU_FRACTION.default
    """Share of influenza admissions that need an ICU bed."""
    icu_los_days: float = defaults.ICU_LOS_DAYS.default
    """Average ICU length of stay of those patients, in days."""
    scenario_quantile: float = defaults.SCENARIO_QUANTILE.default
    """Forecast quantile used as the planning peak (0.5 = median; 0.9 = a bad but plausible peak)."""
    surge_cap_ratio: float = defaults.SURGE_CAP_RATIO.default
    """At most this fraction of a state's staffed ICU beds can be added as surge beds (staffing limit)."""
    stockpile: int = defaults.STOCKPILE.default
    """National stockpile of surge ICU beds."""
    catchment_km: float = 50.0
    """2SFCA catchment radius (great-circle km) from county population centres to hospitals."""
    shortage_fraction: float = 0.5
    """A county is a shortage area when its 2SFCA access is below this fraction of the national mean."""
    n_boot: int = 500
    """Bootstrap replicates for the confidence intervals of the inequality measures."""
    holdout_start: str = "2023-10-14"
    holdout_end: str = "2024-05-04"
    """Reference dates of the hold-out evaluation (the 2023-24 FluSight season)."""
    forecast_model: str = defaults.FORECAST_MODEL
    """Forecast model for the planning scenario (the best-scoring on seasons before 2023-24)."""
    forecast_extras: bool = True
    """Train the forecasters also on the bundled NHSN admissions 2020-23 and ILINet epidemics
    (:mod:`equicare.forecast.extras`)."""
    compare_models: tuple[str, ...] = ("linear",)
    """Other models scored on the hold-out weeks (``linear`` is the seed's regression on lags and season)."""
    baseline_model: str = "seasonal_naive"
    suppress_threshold: int = 11


def _noop(stage: str, done: int, total: int) -> None:  # pragma: no cover - default progress
    pass


# ---------------------------------------------------------------------------------------------------
# analyse
# ---------------------------------------------------------------------------------------------------
def analyse(data: BundledData, params: DemoParams) -> tuple[dict[str, pd.DataFrame], dict]:
    """Per-capita rates by county and state, Gini of beds per capita, and county 2SFCA access."""
    from equicare.analyze.access import two_step_fca
    from equicare.analyze.costs import great_circle_costs
    from equicare.analyze.inequality import gini, region_inequality
    from equicare.analyze.shortage import shortage_areas, shortage_summary

    cols = ["cap_beds", "cap_icu_beds"]
    county_cap = capacity_by_region(data.facilities, data.counties, "region", cols)
    county = per_capita(data.counties[["id", "name", "parent", "population", "pop_65plus", "lat", "lon"]],
                        county_cap, cols)
    state_cap = capacity_by_region(data.facilities, data.states, "state", cols)
    state = per_capita(data.states[["id", "name", "abbr", "population", "pop_65plus", "lat", "lon"]], state_cap,
                       cols)

    fac = data.facilities
    supply = fac["cap_beds"].fillna(0).to_numpy(float)
    cost = great_circle_costs(data.counties["lat"].to_numpy(float), data.counties["lon"].to_numpy(float),
                              fac["lat"].to_numpy(float), fac["lon"].to_numpy(float), params.catchment_km)
    county["access_2sfca"] = two_step_fca(cost, data.counties["population"].to_numpy(float), supply,
                                          params.catchment_km) * 1000.0

    summary = {
        "gini_beds_per_1000_counties": gini(county["cap_beds_per_1000"], county["population"]),
        "gini_beds_per_1000_states": gini(state["cap_beds_per_1000"], state["population"]),
        "gini_beds_per_1000_counties_unweighted": gini(county["cap_beds_per_1000"]),
        "gini_access_2sfca_counties": gini(county["access_2sfca"], county["population"]),
        "counties_without_hospital": int((county["n_facilities"] == 0).sum()),
        "hospitals_with_unknown_beds": int(fac["cap_beds"].isna().sum()),
        "population_without_access_within_catchment": float(
            county.loc[county["access_2sfca"] == 0, "population"].sum()),
    }
    ineq = pd.concat([
        region_inequality(county["cap_beds_per_1000"], county["population"], n_boot=params.n_boot).assign(
            level="county", indicator="staffed beds per 1,000"),
        region_inequality(county["access_2sfca"], county["population"], n_boot=params.n_boot).assign(
            level="county", indicator="2SFCA access (beds per 1,000 in reach)"),
        region_inequality(state["cap_beds_per_1000"], state["population"], n_boot=params.n_boot).assign(
            level="state", indicator="staffed beds per 1,000"),
        region_inequality(state["cap_icu_beds_per_1000"], state["population"], n_boot=params.n_boot).assign(
            level="state", indicator="staffed ICU beds per 1,000"),
    ], ignore_index=True)[["level", "indicator", "measure", "estimate", "lowerci", "upperci", "note"]]
    short = shortage_areas(county["id"].to_numpy(), county["access_2sfca"].to_numpy(),
                           county["population"].to_numpy(float), params.shortage_fraction,
                           names=county["name"].to_numpy(), relative_to_mean=True, per=1000)
    summary["shortage"] = shortage_summary(short, float(county["population"].sum()))
    summary["shortage"]["line"] = float(short["line"].iloc[0]) if len(short) else None
    stats = pd.concat([
        describe(county, ["cap_beds_per_1000", "cap_icu_beds_per_1000", "cap_beds_per_1000_65plus",
                          "cap_icu_beds_per_1000_65plus", "access_2sfca"]).assign(level="county"),
        describe(state, ["cap_beds_per_1000", "cap_icu_beds_per_1000", "cap_beds_per_1000_65plus",
                         "cap_icu_beds_per_1000_65plus"]).assign(level="state"),
    ], ignore_index=True)
    return {"county_rates": county, "state_rates": state, "descriptive_stats": stats, "inequality": ineq,
            "shortage_areas": short}, summary


# ---------------------------------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------------------------------
def predict(params: DemoParams, truth: pd.DataFrame | None = None,
            progress: Progress = _noop) -> tuple[dict[str, pd.DataFrame], dict]:
    """Hold-out scores of the linear model and the seasonal-naive baseline, and the planning forecast."""
    from equicare.forecast import backtest, forecast, load_truth, score
    from equicare.forecast.extras import bundled_extras

    truth = truth if truth is not None else load_truth(data_path("admissions"))
    extras = bundled_extras(params.forecast_extras).kwargs()
    scores, holdout = [], []
    models = list(dict.fromkeys([params.forecast_model, *params.compare_models, params.baseline_model]))
    for i, model in enumerate(models):
        progress(f"back-testing {model}", i, len(models))
        fc = backtest(truth, params.holdout_start, params.holdout_end, model=model, **extras)
        holdout.append(fc.assign(model=model))
        s = score(truth, fc)
        scores.append({"model": model, **{k: v for k, v in s.items() if not isinstance(v, (dict, list))}})
    score_table = pd.DataFrame(scores)
    base = score_table.set_index("model").loc[params.baseline_model, "wis"]
    score_table["wis_ratio_vs_baseline"] = score_table["wis"] / base
    plan = forecast(truth, params.as_of, model=params.forecast_model, **extras)
    summary = {"forecast_scores": score_table.to_dict(orient="records"), "as_of": params.as_of}
    return {"forecast": plan, "forecast_scores": score_table, "holdout_forecasts": pd.concat(holdout),
            "truth": truth}, summary


# ---------------------------------------------------------------------------------------------------
# optimise and explain
# ---------------------------------------------------------------------------------------------------
def surge_need(state_capacity: pd.DataFrame, states: pd.DataFrame, plan: pd.DataFrame,
               params: DemoParams) -> pd.DataFrame:
    """Each state's ICU-bed need at the forecast peak (formula in the module docstring)."""
    from equicare.forecast.scenarios import demand_scenarios

    levels = tuple(sorted({0.5, float(params.scenario_quantile)}))
    scen = demand_scenarios(plan, levels).pivot_table(index="location", columns="level", values="value")
    peak = scen[round(float(params.scenario_quantile), 4)].rename("peak_admissions")
    median_peak = scen[0.5].rename("median_peak_admissions")
    df = state_capacity.merge(states[["id", "name"]], left_on="state", right_on="id").drop(columns="id")
    df = df.merge(peak, left_on="state", right_index=True, how="left")
    df = df.merge(median_peak, left_on="state", right_index=True, how="left")
    missing = df["peak_admissions"].isna()
    if missing.any():
        raise EquicareError("no forecast for states: " + ", ".join(df.loc[missing, "name"]))
    df["flu_icu_patients"] = (params.severity * df["peak_admissions"] * params.icu_fraction
                              * params.icu_los_days / 7.0)
    occupied = df["icu_occupancy"] * df["icu_beds"] + df["flu_icu_patients"]
    df["peak_icu_occupancy"] = occupied / df["icu_beds"]
    df["need"] = np.maximum(0.0, np.ceil(occupied - params.target_occupancy * df["icu_beds"])) + 0.0  # never -0.0
    # the same need under the median scenario, to show how much rides on the forecast's upper tail
    occupied_median = df["icu_occupancy"] * df["icu_beds"] + (params.severity * df["median_peak_admissions"]
                                                              * params.icu_fraction * params.icu_los_days / 7.0)
    df["need_median_scenario"] = np.maximum(0.0, np.ceil(occupied_median - params.target_occupancy
                                                         * df["icu_beds"])) + 0.0
    df["cap"] = np.floor(params.surge_cap_ratio * df["icu_beds"])
    return df


SURGE_RESOURCE = "surge ICU beds"
_NEED_COLUMNS = ["state", "abbr", "icu_beds", "icu_occupancy", "peak_admissions", "median_peak_admissions",
                 "flu_icu_patients", "peak_icu_occupancy", "need_median_scenario"]
_GINI_MARGIN = 1e-6
"""The Gini cap is passed to the solver this much tighter, so the answer is within the cap despite the
solver's tolerance (cuts are added until the Gini is within 1e-7 of what it is given)."""


def allocate_surge(need: pd.DataFrame, params: DemoParams, *, objective: str = "leximin",
                   fairness_weight: float = defaults.FAIRNESS_WEIGHT.default, max_gini: float | None = None,
                   hospital_share: float | None = None, hospitals: pd.DataFrame | None = None
                   ) -> tuple[dict[str, pd.DataFrame], dict]:
    """Share the stockpile fairly (default: lexicographic max-min share of need met), with explanations.

    ``objective`` and ``fairness_weight`` choose the rule of :func:`equicare.optimize.allocate`;
    ``max_gini`` caps the need-weighted Gini coefficient of the shares of need met (in [0, 1]; the answer is in
    whole beds, and in the rare case where no whole-bed answer near the LP's meets the cap exactly, the summary's
    ``gini_over_cap`` is true and the explanations say so);
    ``hospital_share`` places each state's beds at its hospitals, best-rated first, each taking at most
    that share of its staffed ICU beds (``hospitals`` default: the bundled CMS-rated hospitals), and adds
    the table ``hospitals``.
    """
    from equicare.optimize import allocate_stockpile

    if objective == "leximin" and max_gini is None and hospital_share is None:
        res = allocate_stockpile(need["state"].tolist(), need["need"].to_numpy(float), float(params.stockpile),
                                 cap=need["cap"].to_numpy(float), integer=True,
                                 region_names=need["name"].tolist())
        return _surge_tables(need, res.table, params, res.result, None)
    prob = _surge_problem(need, params, objective, fairness_weight, max_gini, hospital_share, hospitals)
    return _surge_general(need, params, prob, max_gini)


def _surge_problem(need: pd.DataFrame, params: DemoParams, objective: str, fairness_weight: float,
                   max_gini: float | None, hospital_share: float | None, hospitals: pd.DataFrame | None):
    """The surge allocation as an :class:`~equicare.optimize.AllocationProblem`."""
    from equicare.optimize import AllocationProblem

    defaults.MAX_GINI.check(max_gini, label="max_gini")
    fac = caps = None
    if hospital_share is not None:
        fac, caps = _state_hospitals(need, hospital_share, hospitals)
    n = len(need)
    return AllocationProblem(
        regions=need["state"].tolist(), resources=[SURGE_RESOURCE], capacity=np.zeros((n, 1)),
        demand=need["need"].to_numpy(float)[None, :, None], stock=np.array([float(params.stockpile)]),
        max_alloc=need["cap"].to_numpy(float)[:, None], integer=np.array([True]), objective=objective,
        fairness_weight=fairness_weight, region_names=need["name"].tolist(), units={SURGE_RESOURCE: "bed"},
        max_gini=None if max_gini is None else max(0.0, max_gini - _GINI_MARGIN), facilities=fac,
        facility_caps=caps)


def _state_hospitals(need: pd.DataFrame, share: float, hospitals: pd.DataFrame | None
                     ) -> tuple[pd.DataFrame, np.ndarray]:
    """Hospitals under the states of ``need`` (region = state FIPS) and their caps: ``share`` of ICU beds."""
    from equicare.optimize.facilities import bundled_hospitals, facility_caps

    defaults.HOSPITAL_SHARE.check(share, label="hospital_share")
    fac = bundled_hospitals("state") if hospitals is None else hospitals
    fips = dict(zip(need["abbr"].astype(str), need["state"].astype(str)))
    fac = fac.assign(abbr=fac["region"].astype(str), region=fac["region"].astype(str).map(fips))
    fac = fac[fac["region"].notna()].reset_index(drop=True)
    return fac, facility_caps(fac, [SURGE_RESOURCE], {SURGE_RESOURCE: ("icu_beds", share)})


def _surge_general(need: pd.DataFrame, params: DemoParams, prob, max_gini: float | None
                   ) -> tuple[dict[str, pd.DataFrame], dict]:
    """Solve ``prob`` with :func:`~equicare.optimize.allocate`; tables and summary as the default."""
    from equicare.optimize import allocate

    res = allocate(prob)
    a = res.allocation
    table = pd.DataFrame({"region": a["region"].to_numpy(), "name": a["name"].to_numpy(),
                          "need": a["need"].to_numpy(float), "cap": prob.max_alloc[:, 0],
                          "allocated": a["allocated"].to_numpy(float), "share_met": a["share_met"].to_numpy(float),
                          "binding": a["binding"].to_numpy(), "explanation": a["explanation"].to_numpy()})
    tables, summary = _surge_tables(need, table, params, res, max_gini)
    if prob.facilities is not None:
        tables["hospitals"] = _hospital_table(res.facilities, need)
    return tables, summary


def _hospital_table(placed: pd.DataFrame, need: pd.DataFrame) -> pd.DataFrame:
    """Units placed per hospital: ``region, state, abbr, facility, hospital, stars, allocated, cap, rank``."""
    names = dict(zip(need["state"].astype(str), need["name"].astype(str)))
    abbr = dict(zip(need["state"].astype(str), need["abbr"].astype(str)))
    out = pd.DataFrame({"region": placed["region"].astype(str).to_numpy()})
    out["state"] = out["region"].map(names)
    out["abbr"] = out["region"].map(abbr)
    out["facility"] = placed["facility"].astype(str).to_numpy()
    out["hospital"] = placed["name"].astype(str).to_numpy()
    out["stars"] = pd.to_numeric(placed["quality"], errors="coerce").to_numpy(float)
    for c in ("allocated", "cap", "rank"):
        out[c] = pd.to_numeric(placed[c], errors="coerce").to_numpy(float)
    return out.reset_index(drop=True)


def _surge_tables(need: pd.DataFrame, table: pd.DataFrame, params: DemoParams, res, max_gini: float | None
                  ) -> tuple[dict[str, pd.DataFrame], dict]:
    """The allocation table joined with the need columns, and the run summary (Gini reached included)."""
    from equicare.optimize import weighted_gini

    table = table.merge(need[_NEED_COLUMNS], left_on="region", right_on="state", how="left").drop(columns="state")
    med = need["need_median_scenario"].to_numpy(float)
    got = table.set_index("region").loc[need["state"], "allocated"].to_numpy(float)
    covered_median = float(np.minimum(got, med).sum() / med.sum()) if med.sum() > 0 else 1.0
    pos = table["need"].to_numpy(float) > 0
    sp_stock = res.shadow_prices.get(f"stock:{SURGE_RESOURCE}", {})
    summary = {"total_need": float(need["need"].sum()), "stockpile": params.stockpile,
               "total_need_median_scenario": float(med.sum()),
               "share_of_need_met_median_scenario": covered_median,
               "states_with_need": int((need["need"] > 0).sum()), "min_share": float(res.min_share),
               "total_allocated": float(table["allocated"].sum()),
               "stock_shadow_price": sp_stock.get("d_min_share"),
               "stock_marginal_coverage": sp_stock.get("d_covered"),
               "solve_seconds": float(res.solve_seconds),
               "share_met_gini": weighted_gini(table["share_met"].to_numpy(float)[pos],
                                               table["need"].to_numpy(float)[pos])}
    if max_gini is not None:
        summary["max_gini"] = max_gini
        sp = res.shadow_prices.get(f"max_gini:{SURGE_RESOURCE}", {})
        summary["gini_over_cap"] = bool(sp.get("over_cap", False))
        summary["gini_binding"] = bool(table["binding"].astype(str).str.contains("Gini cap").any())
        summary["gini_shadow_price"] = sp.get("d_min_share")
        summary["gini_shadow_price_coverage"] = sp.get("d_covered")
    return {"allocation": table}, summary
