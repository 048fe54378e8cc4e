"""Privacy-protected sharing between organisations: aggregate releases and the pooled analysis.

An organisation turns one of its row-level datasets into an aggregate per region -- a differentially
private release (:func:`equicare.privacy.ledger.release_dataset`, charged to the dataset's epsilon budget) or
a small-cell-suppressed table (:func:`equicare.privacy.suppress.suppress_small_cells`) -- stores it as a
dataset of kind ``dp_release`` or ``suppressed`` and may share it with other organisations. Only such
aggregates can be shared (:mod:`equicare.service.sharing`).

The pooled analysis combines shared aggregates over the regions they cover and runs, on those numbers
only (public census populations aside), either

* ``measure="need"`` (e.g. admissions): rates per 100,000 residents, their population-weighted Gini
  (:func:`equicare.analyze.inequality.gini`) and a leximin allocation of a stockpile over the pooled
  need (:func:`equicare.optimize.allocate_stockpile`); or
* ``measure="supply"`` (e.g. beds): access as supply per 1,000 residents (the region-container form of
  floating-catchment access), its Gini, and a leximin allocation over each region's shortfall from the
  pooled average access. It states the privacy
cost (the epsilon each organisation spent on the releases used) and the effect of the noise, measured
by a parametric bootstrap: each replicate redraws every DP estimate as ``estimate + Laplace(scale)``
(the release's own noise distribution) and every suppressed cell uniformly from 1..10, then re-runs the
analysis; the spread of the replicates is the uncertainty the privacy protection adds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from equicare.errors import EquicareError
from equicare.privacy.disclosure import RecordedCells, plan_outputs
from equicare.privacy.dp import DPRelease, check_bounds, check_epsilon, dp_release, match_regions
from equicare.privacy.ledger import (KeyMaterial, budget_key, charge_release, check_budget, key_material,
                                     known_budget_key, record_derivation)
from equicare.service import sharing
from equicare.service.exports import ROWS, SuppressedCells, record_suppressed_release, suppressed_release_cells
from equicare.service.region_lists import public_regions
from equicare.service.accounts import User
from equicare.store import Store

__all__ = ["ReleasePlan", "dp_job", "finish_release", "make_release", "plan_release", "pooled_analysis",
           "public_regions", "release_in_pool", "suppress_job"]


def _fingerprint(df: pd.DataFrame) -> str:
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()


def _refuse_row_level(df: pd.DataFrame, by: str, ds: int, method: str = "dp", kind: str = "facilities") -> None:
    """Refuse grouping by a key that is unique per row: the 'aggregate' would be the rows themselves.

    Keys are compared as the release matches them (surrounding spaces stripped). A suppressed release
    (exact values) is also refused when most of its groups hold a single row (a key unique but for a
    few repeats): those groups would show single rows' exact values. A DP release of such groups is
    protected by its noise; a ``demand`` table's rows are already counts per region and date.
    """
    n = len(df)
    keys = df[by].astype("string").str.strip()
    if n > 1 and int(keys.nunique(dropna=True)) == n:
        raise EquicareError(f"'{by}' is unique per row in dataset {ds}: grouping by it would release row-level "
                            "values, not an aggregate; group by a region column of a public region list")
    sizes = keys.dropna().value_counts()
    if method == "suppress" and kind != "demand" and n > 2 and len(sizes) > 1 and int((sizes == 1).sum()) * 2 > len(sizes):
        raise EquicareError(f"'{by}' is almost unique per row in dataset {ds}: {int((sizes == 1).sum())} of its "
                            f"{len(sizes)} groups hold a single row, whose exact values a suppressed release "
                            "would show; group by a coarser public region list or make a DP release")


@dataclass
class ReleasePlan:
    """A checked release request (:func:`plan_release`): what to compute and over which public regions.

    ``df`` holds what the worker needs: for a suppressed release (:meth:`suppress_args`) the rows; for a DP
    release (:meth:`dp_args`) every column when the data's budget key is not known yet (the worker
    fingerprints the rows), else only the region and value columns.
    """

    dataset_id: int
    info: dict
    method: str
    by: str
    level: str
    regions: list[str]
    share_with: list[str]
    name: str | None
    df: pd.DataFrame | None = None
    statistic: str = "count"
    epsilon: float | None = None
    column: str | None = None
    bounds: tuple[float, float] | None = None
    count_columns: list[str] = field(default_factory=list)
    key_known: bool = False
    recorded: RecordedCells | None = None  # suppressed release, key known: the cells recorded for the data

    def dp_args(self) -> tuple:
        """Arguments of :func:`dp_job`."""
        return (self.df, not self.key_known, self.dataset_id, str(self.info["kind"]), self.by, self.statistic,
                self.epsilon, self.regions, self.column, self.bounds)

    def suppress_args(self) -> tuple:
        """Arguments of :func:`suppress_job`."""
        return (self.df, not self.key_known, self.dataset_id, str(self.info["kind"]), self.by, self.regions,
                self.count_columns, self.recorded)


def plan_release(store: Store, user: User, req: dict) -> ReleasePlan:
    """Check a release request of ``user`` (see :func:`make_release` for ``req``) before anything is computed.

    Refuses (EquicareError) another organisation's dataset, an aggregate, a missing ``by``, a bad epsilon or
    bounds, and a DP release the dataset's or organisation's budget cannot afford (when the dataset's budget
    key is known; it is checked again when charged), and count columns the dataset does not have. The checks
    that read every row -- a ``by`` unique per row, data coded with another region list, count columns that
    are not numbers -- are made by the computation (in a worker): :func:`dp_job` (before any noise is drawn)
    or :func:`suppress_job`.
    """
    ds = int(req["dataset_id"])
    info = store.dataset_info(ds)
    if info["org"] != user.org:
        raise EquicareError(f"dataset {ds} belongs to another organisation")
    if info["kind"] in sharing.SHAREABLE_KINDS:
        raise EquicareError(f"dataset {ds} is already an aggregate release")
    method = req.get("method") or "dp"
    by = req.get("by")
    level = req.get("level") or "state"
    share_with = [str(o) for o in (req.get("share_with") or []) if str(o) and str(o) != user.org]
    if not by:
        raise EquicareError("'by' (the region column) is required")
    if method not in ("dp", "suppress"):
        raise EquicareError(f"method must be 'dp' or 'suppress', got {method!r}")
    columns = store.dataset_columns(ds)
    if by not in columns:
        raise EquicareError(f"region column '{by}' is not in dataset {ds}")
    regions = public_regions(level, store)["id"].astype(str).tolist()
    plan = ReleasePlan(ds, info, method, by, level, regions, share_with, req.get("name"))
    if method == "dp":
        if req.get("epsilon") is None:
            raise EquicareError("a differentially private release needs 'epsilon'")
        plan.epsilon = check_epsilon(req["epsilon"])
        plan.statistic = req.get("statistic") or "count"
        plan.column = req.get("column")
        plan.bounds = tuple(req["bounds"]) if req.get("bounds") is not None else None
        if plan.bounds is not None:
            check_bounds(plan.bounds, plan.column)
        plan.key_known = known_budget_key(store, ds) is not None
        if plan.key_known:
            check_budget(store, ds, plan.epsilon)  # before any computation (and again when charged)
            wanted = [c for c in dict.fromkeys([by, plan.column]) if c and c in columns]
            plan.df = store.get_dataset(ds, wanted)
        else:
            plan.df = store.get_dataset(ds)
        return plan
    cols = [str(c) for c in (req.get("count_columns") or [])]
    missing = [c for c in cols if c not in columns]
    if missing:
        raise EquicareError(f"count column(s) not in dataset {ds}: {', '.join(missing)}")
    plan.count_columns = cols
    key = known_budget_key(store, ds)
    plan.key_known = key is not None
    if key is not None:  # the worker checks the release against the outputs already recorded for the data
        plan.recorded = RecordedCells.read(store, key.org, key.data_key, cols or [ROWS])
    plan.df = store.get_dataset(ds)
    return plan


def _refuse_non_counts(df: pd.DataFrame, cols: list[str], ds: int) -> None:
    for c in cols:
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce")
        txt = raw.astype("string").str.strip()
        n_bad = int((raw.notna() & txt.notna() & (txt != "") & num.isna()).sum())
        if n_bad or pd.api.types.is_bool_dtype(raw):
            raise EquicareError(f"count column '{c}' of dataset {ds} is not a count: {n_bad or len(raw)} "
                                "value(s) are not numbers")


def suppress_job(frame: pd.DataFrame, need_key: bool, dataset_id: int, kind: str, by: str, regions: list[str],
                 count_columns: list[str], recorded: RecordedCells | None = None
                 ) -> tuple[SuppressedCells, KeyMaterial | None]:
    """The computation of a suppressed release over the rows (a worker process runs it; no store is
    touched): the row checks (a ``by`` unique or almost unique per row, data coded with another region list,
    count columns that are not numbers), the per-region sums suppressed on their own with their cells
    (:func:`equicare.service.exports.suppressed_release_cells`) and, when ``need_key``, the data's budget key
    material. With ``recorded`` (the cells recorded for the data when its key is known), the cells are also
    checked against the earlier outputs here; :func:`finish_release` records them, checking again only if
    more outputs were recorded meanwhile (or, without ``recorded``, making the check itself).
    """
    _refuse_row_level(frame, by, dataset_id, "suppress", kind)
    codes, notes = match_regions(frame[by], regions, by)  # refuses data coded with another region list
    _refuse_non_counts(frame, count_columns, dataset_id)
    cells = suppressed_release_cells(frame, by, count_columns, regions, codes)
    cells.notes = list(notes)
    if recorded is not None:
        plan_outputs(recorded, cells.index, cells.outputs, cells.bases)
        cells.planned = recorded
    return cells, key_material(frame) if need_key else None


def dp_job(frame: pd.DataFrame, need_key: bool, dataset_id: int, kind: str, by: str, statistic: str,
           epsilon: float, regions: list[str], column: str | None, bounds: tuple[float, float] | None
           ) -> tuple[DPRelease, KeyMaterial | None]:
    """The DP computation of a release (a worker process runs it; no store is touched): the row checks (a
    ``by`` unique per row, data coded with another region list), the release and, when ``need_key``, the
    data's budget key material (:func:`equicare.privacy.ledger.key_material`).

    Nothing is charged here: the caller charges the budget after it (:func:`finish_release`), so a
    computation that fails -- or a worker that dies -- spends nothing.
    """
    _refuse_row_level(frame, by, dataset_id, "dp", kind)
    match_regions(frame[by], regions, by)  # refuses data coded with another region list, before any noise
    material = key_material(frame) if need_key else None
    rel = dp_release(frame, by=by, statistic=statistic, epsilon=epsilon, regions=regions, column=column,
                     bounds=bounds)
    return rel, material


def finish_release(store: Store, user: User, plan: ReleasePlan, rel: DPRelease | None = None,
                   material: KeyMaterial | None = None, cells: SuppressedCells | None = None) -> dict:
    """Charge (DP) or check against earlier outputs (suppressed), store and share a computed release
    (``rel`` of :func:`dp_job`, or ``cells`` of :func:`suppress_job`); returns what :func:`make_release`
    returns.

    A DP release's budget check, ledger entry, stored release, derivation and grants commit in one
    transaction: a release refused by the budget (another one spent it meanwhile) leaves no trace and its
    noisy values are discarded unseen; a release that cannot be stored is not charged. A suppressed release's
    check against every earlier output of the same data and the record of its cells
    (:func:`equicare.service.exports.record_suppressed_release`, under the store's lock) commit in the same
    transaction as the stored release: two releases racing are checked one after the other, each against
    the other's cells.
    """
    ds, info = plan.dataset_id, plan.info
    if plan.method == "dp":
        if rel is None:
            raise EquicareError("internal: a DP release was not computed")
        meta = {"method": "dp", "source_dataset": ds, "level": plan.level, **rel.to_dict()}
        kind = "dp_release"
        default_name = f"{info['name']} {rel.statistic} (DP, epsilon {rel.epsilon:g})"
    else:
        if cells is None:
            raise EquicareError("internal: a suppressed release was not computed")
        kind = "suppressed"
        default_name = f"{info['name']} counts (suppressed)"
    key = budget_key(store, ds, material)
    name = (plan.name or default_name)[:128]
    with store.transaction():
        if plan.method == "dp":
            charge_release(store, ds, key, rel, created_by=user.name)
            table = rel.table
        else:
            table, rep = record_suppressed_release(store, key.org, key.data_key, cells)
            meta = {"method": "suppress", "source_dataset": ds, "by": plan.by,
                    "count_columns": plan.count_columns or ["count"], "level": plan.level, "epsilon": 0.0,
                    "notes": cells.notes, **rep}
        new_id = store.save_dataset(name, kind, table, source=f"{kind}:{ds}", fingerprint=_fingerprint(table),
                                    report=meta, org=user.org, created_by=user.name)
        record_derivation(store, new_id, ds)
        for org in plan.share_with:
            sharing.grant(store, new_id, org, by_org=user.org, by_user=user.name)
    return {"id": new_id, "kind": kind, "name": name, "release": meta, "shared_with": plan.share_with}


def make_release(store: Store, user: User, req: dict) -> dict:
    """Make (and optionally share) an aggregate of one of ``user``'s organisation's datasets, in this process
    (the service computes DP releases in its worker pool, :func:`release_in_pool`).

    ``req`` keys: ``dataset_id``, ``method`` (``dp`` or ``suppress``), ``by`` (region column),
    ``level`` (``state``, ``county`` or a declared public region list, :mod:`equicare.service.region_lists`;
    default state; data whose codes mostly fall outside it are refused before any epsilon is spent; a
    ``by`` column unique per row is refused as row-level data), for ``dp``: ``statistic``,
    ``epsilon``, ``column``, ``bounds``; for ``suppress``: ``count_columns`` (summed per region; default:
    the number of rows per region); ``name``; ``share_with`` (organisations).

    Returns the new dataset's id, kind, the release description and the organisations it is shared with.
    """
    plan = plan_release(store, user, req)
    if plan.method == "dp":
        rel, material = dp_job(*plan.dp_args())
        return finish_release(store, user, plan, rel, material)
    cells, material = suppress_job(*plan.suppress_args())
    return finish_release(store, user, plan, material=material, cells=cells)


async def release_in_pool(store: Store, user: User, req: dict, pool, who: str) -> dict:
    """:func:`make_release` for the service: checks, store reads and writes on threads of the web process; the
    computation over the rows -- DP (:func:`dp_job`) or suppressed (:func:`suppress_job`), with the first
    fingerprint of the data -- in a worker process of ``pool`` (:class:`~equicare.service.jobs.JobPool`).

    Raises the pool's :class:`~equicare.service.jobs.Busy` or
    :class:`~equicare.service.jobs.WorkerCrashed` (nothing charged or recorded), or the release's
    EquicareError.
    """
    from fastapi.concurrency import run_in_threadpool

    plan = await run_in_threadpool(plan_release, store, user, req)
    if plan.method == "dp":
        rel, material = await pool.run(who, dp_job, *plan.dp_args())
        return await run_in_threadpool(finish_release, store, user, plan, rel, material)
    cells, material = await pool.run(who, suppress_job, *plan.suppress_args())
    return await run_in_threadpool(finish_release, store, user, plan, None, material, cells)


def _contribution(store: Store, ds: int) -> tuple[pd.DataFrame, dict]:
    """One shared aggregate as ``region, value, scale, suppressed`` rows plus its description."""
    info = store.dataset_info(ds)
    rep = info["report"] or {}
    df = store.get_dataset(ds)
    if info["kind"] == "dp_release":
        by = rep.get("by")
        scale = float(sum(rep.get("scale", {}).values())) if rep.get("statistic") != "mean" else np.nan
        if rep.get("statistic") == "mean":
            raise EquicareError(f"dataset {ds} is a DP mean; pooling needs counts or sums")
        out = pd.DataFrame({"region": df[by].astype(str), "value": df["estimate"].astype(float), "scale": scale,
                            "suppressed": False})
    elif info["kind"] == "suppressed":
        by, col = rep.get("by"), (rep.get("count_columns") or ["count"])[0]
        sup = df[f"{col}_suppressed"].astype(bool)
        out = pd.DataFrame({"region": df[by].astype(str), "value": pd.to_numeric(df[col]).astype(float),
                            "scale": 0.0, "suppressed": sup})
    else:
        raise EquicareError(f"dataset {ds} is not a shared aggregate (kind {info['kind']}); only DP or "
                            "suppressed releases can be pooled")
    desc = {"dataset_id": ds, "name": info["name"], "org": info["org"], "method": rep.get("method"),
            "statistic": rep.get("statistic", "count"), "epsilon": float(rep.get("epsilon") or 0.0),
            "level": rep.get("level", "state")}
    return out, desc


MEASURES = ("need", "supply")


def _analyse(values: np.ndarray, pop: np.ndarray, regions: list[str], stockpile: float,
             measure: str = "need") -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Gini of the per-capita rate, and a leximin allocation of ``stockpile`` over the need.

    ``need``: the pooled values are need (e.g. admissions); rate = value per 100,000 residents and the
    stockpile is shared over that need. ``supply``: the pooled values are capacity (e.g. beds); access is
    the supply-to-population ratio per 1,000 residents (the region-container form of floating-catchment
    access), and the need of a region is its shortfall from the pooled average access,
    ``max(0, A_bar * pop_i / 1000 - supply_i)`` with ``A_bar = 1000 * sum(supply) / sum(pop)``.
    """
    from equicare.analyze.inequality import gini
    from equicare.optimize import allocate_stockpile

    v = np.maximum(values, 0.0)
    if measure == "need":
        rate, need = v / pop * 1e5, v
    else:
        rate = v / pop * 1e3
        need = np.maximum(0.0, v.sum() / pop.sum() * pop - v)
    g = float(gini(rate, pop))
    res = allocate_stockpile(regions, need, float(stockpile), integer=False)
    alloc = res.table.set_index("region").loc[regions, "allocated"].to_numpy(float)
    return g, rate, need, alloc


def pooled_analysis(store: Store, dataset_ids: list[int], *, stockpile: float = 1000.0, replicates: int = 200,
                    measure: str = "need", seed: int = 0) -> dict:
    """Pool shared aggregates and analyse them (module docstring); returns tables and the privacy report.

    Returns
    -------
    dict with ``regions`` (per region: pooled value, rate per 100k, allocation, its bootstrap 95% interval
    and standard deviation), ``gini`` (estimate and 95% interval), ``privacy`` (epsilon per organisation and
    release, number of suppressed cells) and ``noise_effect`` (summary of how much the noise moves the
    results).
    """
    if not dataset_ids:
        raise EquicareError("choose at least one shared aggregate to pool")
    if measure not in MEASURES:
        raise EquicareError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    if not 1 <= int(replicates) <= 2000:
        raise EquicareError(f"replicates must be between 1 and 2000, got {replicates}")
    parts, descs = [], []
    for ds in dataset_ids:
        part, desc = _contribution(store, int(ds))
        parts.append(part)
        descs.append(desc)
    levels = {d["level"] for d in descs}
    if len(levels) != 1:
        raise EquicareError(f"the aggregates mix region levels ({', '.join(sorted(levels))}); pool one level")
    pub = public_regions(levels.pop(), store).set_index("id")
    allp = pd.concat(parts, ignore_index=True)
    allp = allp[allp["region"].isin(pub.index)]
    # Regions covered: those where some contribution is non-zero or suppressed (a DP release lists every
    # public region; its noise around 0 elsewhere is kept -- dropping regions by their noisy value would bias).
    covered = sorted(set(allp["region"]))
    if not covered:
        raise EquicareError("the aggregates cover none of the public regions")
    rng = np.random.default_rng(seed)
    pop = pub.loc[covered, "population"].to_numpy(float)
    idx = {r: i for i, r in enumerate(covered)}
    ridx = allp["region"].map(idx).to_numpy()
    val = allp["value"].to_numpy(float)
    scale = allp["scale"].to_numpy(float)
    sup = allp["suppressed"].to_numpy(bool)

    def pooled(v: np.ndarray) -> np.ndarray:
        return np.bincount(ridx, weights=v, minlength=len(covered))

    point = np.where(sup, 5.5, val)  # a suppressed cell is somewhere in 1..10: its midpoint
    g0, rate0, need0, alloc0 = _analyse(pooled(point), pop, covered, stockpile, measure)
    gs, allocs = np.empty(replicates), np.empty((replicates, len(covered)))
    for b in range(replicates):
        draw = np.where(sup, rng.integers(1, 11, size=len(val)).astype(float),
                        val + rng.laplace(0.0, np.where(scale > 0, scale, 1e-300)))
        gs[b], _, _, allocs[b] = _analyse(pooled(draw), pop, covered, stockpile, measure)
    lo, hi = np.percentile(allocs, [2.5, 97.5], axis=0)
    names = pub.loc[covered, "name"].tolist()
    rate_col = "rate_per_100k" if measure == "need" else "access_per_1000"
    regions = pd.DataFrame({"region": covered, "name": names, "pooled_value": pooled(point), "population": pop,
                            rate_col: rate0, "need": need0, "allocated": alloc0, "allocated_lo95": lo,
                            "allocated_hi95": hi, "allocated_sd": allocs.std(axis=0)})
    by_org: dict[str, float] = {}
    for d in descs:
        by_org[d["org"]] = by_org.get(d["org"], 0.0) + d["epsilon"]
    mean_abs = float(np.mean(np.abs(allocs - alloc0).sum(axis=1))) / 2
    return {
        "regions": json.loads(regions.to_json(orient="records")),
        "measure": measure,
        "gini": {"of": rate_col, "estimate": g0, "lo95": float(np.percentile(gs, 2.5)), "hi95": float(np.percentile(gs, 97.5)),
                 "sd": float(gs.std())},
        "privacy": {"releases": descs, "epsilon_by_org": by_org,
                    "suppressed_cells": int(sup.sum()),
                    "statement": "each organisation's data was used only through the releases listed; a DP "
                                 "release's epsilon is what its organisation spent, and suppressed tables "
                                 "cost no epsilon but hide counts from 1 to 10"},
        "noise_effect": {
            "replicates": int(replicates), "stockpile": float(stockpile),
            "mean_units_moved": mean_abs,
            "mean_share_of_stockpile_moved": mean_abs / stockpile if stockpile else 0.0,
            "max_allocation_sd": float(allocs.std(axis=0).max()),
            "gini_interval_width": float(np.percentile(gs, 97.5) - np.percentile(gs, 2.5)),
            "method": "parametric bootstrap: redraw each DP estimate with its Laplace noise and each suppressed "
                      "cell uniformly in 1..10, re-run the analysis",
        },
    }
