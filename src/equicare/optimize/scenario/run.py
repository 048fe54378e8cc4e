"""Running a scenario file: solve, what-ifs, budget sweep, output files and the run record in the store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from equicare.csvout import write_csv
from equicare.errors import Problem, ValidationError
from equicare.jsonsafe import dumps_default, jsonable, records
from equicare.optimize.allocation import AllocationResult, allocate
from equicare.optimize.scenario.load import load_scenario
from equicare.optimize.scenario.whatif import DIFF_COLUMNS, budget_sweep, what_if


def notes(res: AllocationResult, what_ifs: list[dict], sweep: pd.DataFrame) -> list[str]:
    """Plain sentences on what a planner must not miss: rounding loss, floor violations, infeasible what-ifs."""
    out = []
    wu = res.whole_units
    if wu is not None and wu.lp_bound is not None:
        how = {"greedy": "greedy water-filling (exact for one stock per type)",
               "greedy (optimal by MIP)": "greedy water-filling, proved optimal by MIPs on the actual shares",
               "greedy (optimal by LP bound)": "greedy water-filling, proved optimal by the LP bound (no "
                                               "whole-unit share level lies between them)",
               "no-pooling answer (optimal by LP bound)": "the answer without pooling, proved optimal by the LP "
                                                          "bound (no whole-unit share level lies between them)",
               "no-pooling answer (optimal by MIP)": "the answer without pooling, proved optimal by MIPs on the "
                                                     "actual shares",
               "no-pooling answer": "the answer without pooling",
               "no-pooling answer (time limit)": "the answer without pooling (the MIPs stopped at their time "
                                                 "limit)",
               "mip": "an exact MIP on the actual shares",
               "mip (time limit)": "a MIP on the actual shares stopped at its time limit",
               "greedy (MIP time limit)": "greedy water-filling (a MIP found nothing better in its time limit)",
               "mip floor + greedy": "an exact MIP for the minimum share, the rest by greedy water-filling",
               "mip floor + greedy (time limit)": "a MIP for the minimum share (stopped at its time limit), the "
                                                  "rest by greedy water-filling",
               }.get(wu.method, wu.method)
        s = (f"Whole units by {how}: minimum share {100 * wu.min_share:.2f}% against {100 * wu.lp_bound:.2f}% "
             f"with fractional units (rounding loss {100 * (wu.rounding_loss or 0):.2f} points)")
        if wu.mip_bound is not None and wu.mip_bound > wu.min_share + 1e-9:
            s += f"; no whole-unit answer exceeds {100 * wu.mip_bound:.2f}%"
        out.append(s + ".")
    v = res.floor_violations
    if len(v):
        rows = ", ".join(f"{r.region} {r.resource} {100 * r.share_met:.1f}% < {100 * r.floor:.1f}%"
                         for r in v.head(10).itertuples())
        more = f" and {len(v) - 10} more" if len(v) > 10 else ""
        out.append(f"{len(v)} region-resource rows are below the coverage floor in whole units: {rows}{more} "
                   "(allocation.csv, binding 'below coverage floor').")
    for w in what_ifs:
        if w.get("status") == "infeasible":
            out.append(f"What-if {w['name']!r} is infeasible: {w.get('message', '')}")
    if len(sweep) and "status" in sweep:
        bad = sweep[sweep["status"].astype(str).str.startswith("infeasible")]
        for f in bad["factor"]:
            out.append(f"Budget sweep: the budget x{f:g} is infeasible.")
    return out


def run_scenario(path: str | Path, out_dir: str | Path, store_path: str | Path | None = None) -> dict:
    """Solve a scenario file, run its what-ifs and budget sweep, write CSV/JSON and store the run.

    Files written to ``out_dir``: ``allocation.csv`` (one row per region and resource, with the binding
    constraints and the plain-words explanation), ``transfers.csv``, ``coverage.csv`` (every scenario),
    ``scenarios.csv``, ``what_if.csv`` (regions changed by each what-if, or one row saying it is infeasible
    or changes nothing), ``budget_sweep.csv``, ``facilities.csv`` (with facilities) and ``explanations.json``
    (summary, shadow prices, whole units, floor violations, notes, what-ifs, sweep and the allocation
    records).  The run is recorded in the DuckDB store (default ``out_dir/equicare.duckdb``) with its
    parameters and input fingerprints.

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
    write_csv(res.allocation, out / "allocation.csv")
    write_csv(res.transfers, out / "transfers.csv")
    write_csv(res.coverage, out / "coverage.csv")
    write_csv(res.scenario_summary, out / "scenarios.csv")
    if P.facilities is not None:
        write_csv(res.facilities, out / "facilities.csv")
    wdf = pd.concat(wi_diffs, ignore_index=True) if wi_diffs else pd.DataFrame(columns=DIFF_COLUMNS)
    # never an empty file: without what-ifs or a sweep, one row says so
    none = pd.DataFrame([{"what_if": "", "status": "none", "note": "the scenario has no what_if"}],
                        columns=DIFF_COLUMNS)
    write_csv(wdf if len(wdf) else none, out / "what_if.csv")
    write_csv(sweep if len(sweep) else pd.DataFrame({"factor": [float("nan")], "status": ["none"],
                                                     "note": ["the scenario has no budget_sweep"]}),
              out / "budget_sweep.csv")
    doc = res.to_dict()
    doc["name"] = spec.get("name", path.stem)
    wu = res.whole_units
    doc["whole_units"] = None if wu is None else jsonable(
        {"method": wu.method, "min_share": wu.min_share, "lp_bound": wu.lp_bound, "rounding_loss": wu.rounding_loss,
         "mip_bound": wu.mip_bound, "seconds": wu.seconds})
    doc["floor_violations"] = records(res.floor_violations)
    doc["notes"] = notes(res, wi_rows, sweep)
    doc["what_if"] = jsonable(wi_rows)
    doc["budget_sweep"] = records(sweep) if len(sweep) else []
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
    (out / "explanations.json").write_text(json.dumps(doc, indent=1, default=dumps_default))
    return doc
