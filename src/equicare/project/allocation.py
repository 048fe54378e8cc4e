"""The allocation stage of a project: each region's need, the fair share of the stock, the shareable summary,
and what-ifs on a stored run.

The need from the forecast (``need: forecast_surge``) is the demo's surge-ICU formula (:mod:`equicare.pipeline`):
``need_r = max(0, ceil(u_r C_r + F_r - t C_r))`` with ``F_r = severity * A_r * icu_fraction * icu_los_days / 7``
extra patients at the forecast peak ``A_r`` (quantile ``scenario_quantile``, as a weekly rate), ``C_r`` the
region's capacity and ``u_r`` its usual occupancy; the stock is shared by
:func:`equicare.pipeline.allocate_surge` (lexicographic max-min fairness on the share of need met, HiGHS).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from equicare.errors import EquicareError
from equicare.pipeline import DemoParams
from equicare.project.ingest import Inputs
from equicare.project.spec import Project


def scenario_params(project: Project, as_of: str | None) -> DemoParams:
    """The allocation scenario as the demo's parameters (one definition of each default)."""
    al = project.allocate
    return replace(DemoParams(), severity=al.severity, icu_fraction=al.icu_fraction, icu_los_days=al.icu_los_days,
                   target_occupancy=al.target_occupancy, scenario_quantile=al.scenario_quantile,
                   surge_cap_ratio=al.surge_cap_ratio, stockpile=int(round(al.stock)),
                   as_of=al.as_of or as_of or DemoParams.as_of, suppress_threshold=project.suppress_threshold)


def allocate_stage(project: Project, inp: Inputs, plan: pd.DataFrame | None) -> tuple[dict[str, pd.DataFrame], dict]:
    """Need per region (forecast surge or a column), then the fair share of the stock with explanations."""
    from equicare.pipeline import allocate_surge, surge_need

    al = project.allocate
    reg = inp.regions
    as_of = str(plan["reference_date"].iloc[0]) if plan is not None and len(plan) else None
    params = scenario_params(project, as_of)
    cap, occ = _capacity(project, inp)
    state_cap = pd.DataFrame({"state": reg["id"], "icu_beds": cap, "icu_occupancy": occ})
    unknown = np.isnan(cap)
    if unknown.any():  # a region whose capacity the regions file leaves blank has no need to compute
        inp.report.add(project.regions.file.name, "capacity unknown: left out of the allocation", al.capacity,
                       int(unknown.sum()), ", ".join(reg.loc[unknown, "id"].astype(str).head(10)))
        state_cap = state_cap[~unknown]
    if al.need != "forecast_surge" and "region_need" in reg:  # a blank need is unknown, not zero
        blank = reg["region_need"].isna().to_numpy() & ~unknown
        if blank.any():
            inp.report.add(project.regions.file.name, "need unknown (blank): left out of the allocation", al.need,
                           int(blank.sum()), ", ".join(reg.loc[blank, "id"].astype(str).head(10)))
            state_cap = state_cap[~state_cap["state"].isin(set(reg.loc[blank, "id"]))]
    else:
        blank = np.zeros(len(reg), bool)
    states = pd.DataFrame({"id": reg["id"], "name": reg["name"]})
    if al.need == "forecast_surge":
        step_days = {"daily": 1.0, "weekly": 7.0, "monthly": 30.4375}[inp.demand.freq]
        # the demo's formula counts weekly admissions; other frequencies are first turned into weekly rates
        fplan = plan.assign(value=plan["value"] * 7.0 / step_days)
        need = surge_need(state_cap[state_cap["state"].isin(set(plan["location"]))], states, fplan, params)
    else:
        need = state_cap.merge(states, left_on="state", right_on="id").drop(columns="id")
        need["need"] = need["state"].map(dict(zip(reg["id"], reg["region_need"].fillna(0.0)))).to_numpy(float)
        for c in ("peak_admissions", "median_peak_admissions", "flu_icu_patients", "peak_icu_occupancy"):
            need[c] = np.nan
        need["need_median_scenario"] = need["need"]
        need["cap"] = np.floor(params.surge_cap_ratio * need["icu_beds"])
    need["abbr"] = need["state"]
    need["peak_icu_occupancy"] = need["peak_icu_occupancy"].replace([np.inf, -np.inf], np.nan)
    hospitals = None
    if al.hospital_share is not None:
        f = inp.facilities
        hospitals = pd.DataFrame({"facility": f["id"], "region": f["region"], "name": f["name"],
                                  "quality": f["quality"] if "quality" in f else np.nan,
                                  "icu_beds": f[al.resource].fillna(0.0)})
    tables, summary = allocate_surge(need, params, objective=al.objective, fairness_weight=al.fairness_weight,
                                     max_gini=al.max_gini, hospital_share=al.hospital_share, hospitals=hospitals)
    a = tables["allocation"].drop(columns=["abbr"], errors="ignore")
    a.insert(1, "resource", al.resource)
    lead = ["region", "resource", "need", "allocated", "share_met", "explanation"]
    a = a[lead + [c for c in a.columns if c not in lead]]
    a = a.rename(columns={"icu_beds": f"{al.resource}_capacity", "icu_occupancy": "usual_occupancy"})
    label = al.resource.replace("_", " ")
    if label.lower() not in ("icu beds", "icu bed"):  # the explanations name the planner's resource
        a["explanation"] = a["explanation"].astype(str).str.replace("surge ICU beds", f"units of {label}", regex=False)
    a["note"] = allocation_notes(a, al.resource, None if al.need == "forecast_surge" else al.need)
    tables["allocation"] = a
    summary["regions_with_need"] = summary.pop("states_with_need")
    summary["regions_without_capacity"] = int((need["icu_beds"] <= 0).sum())
    summary["regions_capacity_unknown"] = int(unknown.sum())
    summary["regions_need_unknown"] = int(blank.sum())
    return tables, summary


def allocation_notes(a: pd.DataFrame, resource: str, need_column: str | None) -> np.ndarray:
    """Why an allocation row's forecast or occupancy cell is empty: the need comes from a column of the regions
    file (``need_column``: no forecast, so the peak admissions, flu ICU patients and peak occupancy do not
    apply), or the region has no capacity of the resource (its peak occupancy has nothing to divide by).
    "" where every figure applies."""
    notes = []
    cap = a[f"{resource}_capacity"].to_numpy(float) if f"{resource}_capacity" in a else np.full(len(a), np.nan)
    for k in range(len(a)):
        parts = []
        if need_column is not None:
            parts.append(f"need from the regions file's column '{need_column}' (no forecast): the peak admissions, "
                         "ICU patients and peak occupancy do not apply")
        elif not cap[k] > 0:
            parts.append(f"no {resource.replace('_', ' ')} capacity: the peak occupancy does not apply (no capacity "
                         "to divide by)")
        if "share_met" in a and not np.isfinite(float(a["share_met"].iloc[k])):
            parts.append("no need: the share of need met does not apply")
        notes.append("; ".join(parts))
    return np.array(notes, dtype=object)


def whatif_allocation(allocation: pd.DataFrame, *, stock: float, objective: str = "leximin",
                      fairness_weight: float = 0.5, max_gini: float | None = None) -> tuple[pd.DataFrame, dict]:
    """Re-share a stored project allocation's needs under another stock or fairness rule (the needs and caps
    stay those of the run).  Returns the what-if table (``region, name, need, allocated_base, allocated,
    change, explanation``) and its summary.

    Raises
    ------
    EquicareError
        A negative stock or a Gini cap outside (0, 1].
    """
    from equicare.pipeline import allocate_surge

    if not stock >= 0:
        raise EquicareError(f"stock must be >= 0, got {stock}")
    a = allocation.copy()
    a["region"] = a["region"].astype(str)
    cap_col = next((c for c in a.columns if c.endswith("_capacity")), None)
    need = pd.DataFrame({"state": a["region"], "name": a["name"].astype(str), "abbr": a["region"],
                         "need": a["need"].astype(float), "cap": a["cap"].astype(float),
                         "icu_beds": a[cap_col].astype(float) if cap_col else np.nan,
                         "icu_occupancy": a.get("usual_occupancy", np.nan)})
    for c in ("peak_admissions", "median_peak_admissions", "flu_icu_patients", "peak_icu_occupancy",
              "need_median_scenario"):
        need[c] = a[c].astype(float) if c in a else np.nan
    need["need_median_scenario"] = need["need_median_scenario"].fillna(need["need"])
    params = replace(DemoParams(), stockpile=int(round(stock)))
    tables, summary = allocate_surge(need, params, objective=objective, fairness_weight=fairness_weight,
                                     max_gini=max_gini)
    w = tables["allocation"].set_index("region")
    out = pd.DataFrame({"region": a["region"], "name": a["name"], "need": a["need"].astype(float),
                        "allocated_base": a["allocated"].astype(float)})
    out["allocated"] = out["region"].map(w["allocated"]).astype(float)
    out["change"] = out["allocated"] - out["allocated_base"]
    out["explanation"] = out["region"].map(w["explanation"])
    resource = str(a["resource"].iloc[0]) if "resource" in a and len(a) else ""
    if resource and resource.replace("_", " ").lower() not in ("icu beds", "icu bed"):
        out["explanation"] = out["explanation"].str.replace("surge ICU beds", f"units of {resource.replace('_', ' ')}",
                                                            regex=False)
    return out, summary


def _capacity(project: Project, inp: Inputs) -> tuple[np.ndarray, np.ndarray]:
    """Each region's capacity of the allocated resource and usual occupancy (capacity-weighted mean)."""
    al, reg, fac = project.allocate, inp.regions, inp.facilities
    if "region_capacity" in reg:  # blank: unknown (the region is left out of the allocation)
        cap = reg["region_capacity"].to_numpy(float)
    elif fac is not None and al.resource in fac.columns:
        # no facility: 0; facilities whose values are all unknown: unknown (left out of the allocation, reported)
        g = fac.groupby("region")[al.resource]
        has = reg["id"].map(g.size()).fillna(0).to_numpy() > 0
        cap = np.where(has, reg["id"].map(g.sum(min_count=1)).to_numpy(float), 0.0)
    else:
        raise EquicareError(f"allocate.resource {al.resource!r}: name it among facilities.capacity, or give "
                            "allocate.capacity (a column of the regions file)")
    if "region_occupancy" in reg:
        occ = reg["region_occupancy"].to_numpy(float)
    elif fac is not None and "occupancy" in fac.columns and al.resource in fac.columns:
        f = fac[fac["occupancy"].notna()]
        w = f[al.resource].fillna(0.0)
        num = (f["occupancy"] * w).groupby(f["region"]).sum()
        den = w.groupby(f["region"]).sum()
        occ = reg["id"].map(num / den.replace(0, np.nan)).to_numpy(float)
    else:
        occ = np.full(len(reg), np.nan)
    fill = al.default_occupancy
    if fill is None:
        ok = np.isfinite(occ) & (cap > 0)
        fill = float(np.average(occ[ok], weights=cap[ok])) if ok.any() else 0.0
    occ = np.where(np.isfinite(occ), occ, fill)
    return cap, occ


# -------------------------------------------------------------------------------------------- share
def share_stage(project: Project, inp: Inputs, allocation: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Counts per region for release, small cells suppressed (threshold ``suppress_threshold``)."""
    from equicare.privacy.suppress import suppress_small_cells

    df = allocation[["region", "name", "need", "allocated"]].copy()
    if inp.demand is not None:
        f = inp.demand.frame
        last = f[f["date"] == f["date"].max()].set_index("location")["value"]
        df["demand_last_period"] = df["region"].map(last)
    cols = [c for c in ("demand_last_period", "need", "allocated") if c in df]
    df[cols] = df[cols].round().astype("Int64")
    out, rep = suppress_small_cells(df, cols, threshold=project.suppress_threshold)
    return out, (rep.to_dict() if hasattr(rep, "to_dict") else dict(rep))
