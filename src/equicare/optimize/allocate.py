"""Fair allocation of scarce resources across regions: one linear/mixed-integer model on HiGHS.

The model
---------
Regions :math:`i`, resource types :math:`r`, demand scenarios :math:`s` with weights :math:`p_s`.
Decisions: :math:`x_{ir} \\ge 0` new units placed in region *i* (integer for indivisible types),
transfers :math:`t_{abr} \\ge 0` of capacity from region *a* to *b* (pooling, optional) and covered need
:math:`v_{irs}`:

.. math::

    0 \\le v_{irs} \\le d_{irs},\\qquad
    v_{irs} \\le c_{ir} + x_{ir} + \\textstyle\\sum_a t_{air} - \\sum_b t_{ibr}

    \\textstyle\\sum_i x_{ir} \\le S_r \\;(\\text{stock}),\\qquad
    \\sum_{ir} k_r x_{ir} + \\sum k^T t \\le B \\;(\\text{budget}),\\qquad
    \\ell_{ir} \\le x_{ir} \\le u_{ir} \\;(\\text{region minimum / absorption cap})

The share of need met is :math:`\\sigma_{ir} = \\sum_s p_s v_{irs} / \\sum_s p_s d_{irs}` (expected
coverage over expected need; in quantile mode only the chosen scenario enters the model and the other
scenarios are evaluated afterwards).  Optional inequality bounds: a floor
:math:`\\sigma_{ir} \\ge \\alpha\\,N_r` relative to the national share
:math:`N_r = \\sum_{is} p_s v_{irs} / \\sum_{is} p_s d_{irs}`, and a cap on the max-min gap
:math:`\\max_i \\sigma_{ir} - \\min_i \\sigma_{ir} \\le g`, and a cap on the need-weighted Gini
coefficient of the shares, :math:`\\sum_{ij} w_i w_j |\\sigma_{ir} - \\sigma_{jr}| \\le 2 G W \\sum_i w_i
\\sigma_{ir}` with :math:`w_i = E[d_{ir}]`, :math:`W = \\sum_i w_i`.  The Gini cap is convex but has
:math:`n^2` terms; it is imposed exactly by cutting planes: for the ordering :math:`\\pi` of the current
shares, :math:`\\sum_i w_i (W^\\pi_{<i} - W^\\pi_{>i} - G W)\\,\\sigma_{ir} \\le 0` is valid for every
solution and tight at the current one, so cuts are added and the LP re-solved until every resource's Gini
is within the cap (Ogryczak 2000).  With pooling, each region keeps at least the
share it would have had without pooling ("no region worse off").

Objectives: ``leximin`` (default) raises the worst-off share first, then the next, ... (lexicographic
max-min, solved by the progressive-filling algorithm with LP duals: a share row with a non-zero dual at
the optimum level is tight in *every* optimum, so it is frozen at that level), and finally maximises total
expected coverage; ``min_unmet`` only maximises total coverage; ``weighted`` maximises
:math:`w\\,z + (1-w)\\,\\text{coverage}/\\text{need}` with :math:`z` the minimum share.  A small
tie-breaker prefers cheaper and higher-quality placements.  With integer units the lexicographic part is
two-stage (maximise the minimum share, then total coverage at that level).

References
----------
Ogryczak, W., Luss, H., Pióro, M., Nace, D. and Tomaszewski, A. (2014). Fair optimization and networks:
a survey. *Journal of Applied Mathematics* 2014, 612018.
Radunović, B. and Le Boudec, J.-Y. (2007). A unified framework for max-min and min-max fairness with
applications. *IEEE/ACM Transactions on Networking* 15(5), 1073-1083.
Bertsimas, D., Farias, V. F. and Trichakis, N. (2011). The price of fairness. *Operations Research*
59(1), 17-31.
Ogryczak, W. (2000). Inequality measures and equitable approaches to location problems. *European
Journal of Operational Research* 122(2), 374-391.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from equicare.errors import EquicareError, InfeasibleError
from equicare.optimize.highs import LinearModel, Solution

OBJECTIVES = ("leximin", "min_unmet", "weighted")
_TOL = 1e-9


@dataclass
class Pooling:
    """Transfers of capacity between regions.

    Parameters
    ----------
    pairs : DataFrame
        Allowed directed pairs with columns ``origin``, ``destination`` (region ids) and ``distance``.
    max_distance : float
        Pairs farther apart than this are not allowed.
    resources : list of str, optional
        Resource types that may be pooled (default: all).
    cost_per_unit : float
        Money per unit moved (counted against the budget).
    cost_per_unit_distance : float
        Money per unit moved per unit of distance.
    no_worse_off : bool
        Every region keeps at least the share of need met it gets without pooling.
    """

    pairs: pd.DataFrame
    max_distance: float = np.inf
    resources: list[str] | None = None
    cost_per_unit: float = 0.0
    cost_per_unit_distance: float = 0.0
    no_worse_off: bool = True


@dataclass
class AllocationProblem:
    """Everything one allocation run needs (see the module docstring for the model).

    Parameters
    ----------
    regions : list of str
        Region ids (n).
    resources : list of str
        Resource types (m).
    capacity : ndarray, shape (n, m)
        Existing capacity.
    demand : ndarray, shape (S, n, m)
        Need under each demand scenario.
    scenario_names : list of str
        Names of the S scenarios (e.g. ``"q0.5"``).
    scenario_weights : ndarray, shape (S,), optional
        Probabilities (default equal).
    unit_cost : ndarray, shape (m,), optional
        Money per unit of each resource.
    budget : float, optional
        Money available.
    stock : ndarray, shape (m,), optional
        Units available of each type (``inf`` = unlimited).
    min_alloc, max_alloc : ndarray, shape (n, m), optional
        Per-region minimum and maximum (absorption cap) of new units.
    integer : ndarray of bool, shape (m,), optional
        Indivisible resource types.
    weight : ndarray, shape (m,), optional
        Value of covering one unit of need of each type in the coverage objective (default 1).
    objective : {"leximin", "min_unmet", "weighted"}
    fairness_weight : float
        ``w`` in the weighted objective.
    uncertainty : {"expected", "quantile"}
        Optimise expected coverage over all scenarios, or plan for one chosen scenario (robust).
    design_scenario : str, optional
        The scenario to meet in quantile mode.
    coverage_floor : float, optional
        ``alpha``: no region's share below ``alpha`` times the national share.
    max_gap : float, optional
        Cap on the largest minus the smallest share (per resource).
    max_gini : float, optional
        Cap on the need-weighted Gini coefficient of the shares across regions (per resource), in [0, 1).
    quality : ndarray, shape (n,), optional
        Quality rating of each region/facility (higher is better), used to prefer better places.
    quality_weight : float
        Strength of the quality preference (value per unit placed per rating point, relative to covering
        one unit of need).
    pooling : Pooling, optional
    facilities : DataFrame, optional
        Facilities under the regions (``facility, region[, name, quality]``): each region's new units are
        placed at its facilities best-rated first (:mod:`equicare.optimize.facilities`).
    facility_caps : ndarray, shape (len(facilities), m), optional
        Units of each type each facility can take (``inf`` = no cap); the region caps become at most the
        sum over its facilities.
    cap_at_need : bool
        Never place more units than the largest scenario's need minus existing capacity.
    region_names : list of str, optional
    units : dict, optional
        Unit word per resource for the explanations (e.g. ``{"icu_beds": "bed"}``).
    """

    regions: list[str]
    resources: list[str]
    capacity: np.ndarray
    demand: np.ndarray
    scenario_names: list[str] = field(default_factory=lambda: ["point"])
    scenario_weights: np.ndarray | None = None
    unit_cost: np.ndarray | None = None
    budget: float | None = None
    stock: np.ndarray | None = None
    min_alloc: np.ndarray | None = None
    max_alloc: np.ndarray | None = None
    integer: np.ndarray | None = None
    weight: np.ndarray | None = None
    objective: str = "leximin"
    fairness_weight: float = 0.5
    uncertainty: str = "expected"
    design_scenario: str | None = None
    coverage_floor: float | None = None
    max_gap: float | None = None
    max_gini: float | None = None
    quality: np.ndarray | None = None
    quality_weight: float = 0.0
    pooling: Pooling | None = None
    facilities: pd.DataFrame | None = None
    facility_caps: np.ndarray | None = None
    cap_at_need: bool = True
    region_names: list[str] | None = None
    units: dict[str, str] | None = None

    def __post_init__(self) -> None:
        n, m = len(self.regions), len(self.resources)
        self.capacity = np.asarray(self.capacity, dtype=float).reshape(n, m)
        self.demand = np.asarray(self.demand, dtype=float).reshape(-1, n, m)
        S = self.demand.shape[0]
        if len(self.scenario_names) != S:
            raise EquicareError(f"{S} demand scenarios but {len(self.scenario_names)} scenario names")
        w = np.full(S, 1.0 / S) if self.scenario_weights is None else np.asarray(self.scenario_weights, float)
        if w.shape != (S,) or np.any(w < 0) or w.sum() <= 0:
            raise EquicareError("scenario weights must be non-negative, one per scenario, not all zero")
        self.scenario_weights = w / w.sum()
        self.unit_cost = np.ones(m) if self.unit_cost is None else np.asarray(self.unit_cost, float).reshape(m)
        self.stock = np.full(m, np.inf) if self.stock is None else np.asarray(self.stock, float).reshape(m)
        self.min_alloc = np.zeros((n, m)) if self.min_alloc is None else np.broadcast_to(
            np.asarray(self.min_alloc, float), (n, m)).copy()
        self.max_alloc = np.full((n, m), np.inf) if self.max_alloc is None else np.broadcast_to(
            np.asarray(self.max_alloc, float), (n, m)).copy()
        self.integer = np.zeros(m, bool) if self.integer is None else np.broadcast_to(
            np.asarray(self.integer, bool), (m,)).copy()
        self.weight = np.ones(m) if self.weight is None else np.asarray(self.weight, float).reshape(m)
        if self.region_names is None:
            self.region_names = list(self.regions)
        if self.objective not in OBJECTIVES:
            raise EquicareError(f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if self.uncertainty not in ("expected", "quantile"):
            raise EquicareError(f"uncertainty must be 'expected' or 'quantile', not {self.uncertainty!r}")
        if self.uncertainty == "quantile":
            if self.design_scenario is None:
                raise EquicareError("uncertainty 'quantile' needs design_scenario (e.g. 'q0.9')")
            if self.design_scenario not in self.scenario_names:
                raise EquicareError(f"design scenario {self.design_scenario!r} is not one of the scenarios "
                                    f"{', '.join(self.scenario_names)}")
        if self.max_gini is not None and not 0 <= self.max_gini < 1:
            raise EquicareError(f"max_gini must be in [0, 1), not {self.max_gini}")
        if not 0 <= self.fairness_weight <= 1:
            raise EquicareError(f"fairness_weight must be between 0 and 1, not {self.fairness_weight}")
        for name, arr in (("capacity", self.capacity), ("demand", self.demand)):
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise EquicareError(f"{name} must be finite and non-negative")
        if self.facilities is not None:
            from equicare.optimize.facilities import region_caps

            missing = [c for c in ("facility", "region") if c not in self.facilities.columns]
            if missing:
                raise EquicareError(f"the facilities table needs columns facility and region (missing: "
                                    f"{', '.join(missing)})")
            if "quality" not in self.facilities.columns:
                self.facilities = self.facilities.assign(quality=np.nan)
            F = len(self.facilities)
            fc = np.full((F, m), np.inf) if self.facility_caps is None else np.asarray(self.facility_caps, float)
            if fc.shape != (F, m):
                raise EquicareError(f"facility_caps must have shape ({F}, {m}), not {fc.shape}")
            self.facility_caps = fc
            self.max_alloc = np.minimum(self.max_alloc, region_caps(self.facilities, fc, list(self.regions)))
        if self.quality is not None:
            self.quality = np.asarray(self.quality, float).reshape(n)
            self.quality = np.nan_to_num(self.quality, nan=float(np.nanmean(self.quality)) if
                                         np.any(np.isfinite(self.quality)) else 0.0)

    @property
    def n(self) -> int:
        return len(self.regions)

    @property
    def m(self) -> int:
        return len(self.resources)

    def unit(self, r: int) -> str:
        u = (self.units or {}).get(self.resources[r])
        return u if u else "unit"


@dataclass
class AllocationResult:
    """A solved allocation.

    Attributes
    ----------
    allocation : DataFrame
        One row per region and resource: ``region, name, resource, capacity, need, allocated,
        transfers_in, transfers_out, effective, covered, share_met, level, binding, explanation``.
        ``need`` is the (expected, or design-scenario) demand; ``covered`` the expected need met.
    transfers : DataFrame
        ``origin, destination, resource, amount, distance``.
    coverage : DataFrame
        Coverage under every scenario: ``scenario, region, resource, demand, covered, share_met``.
    scenario_summary : DataFrame
        Per scenario and resource: total demand, covered, shortfall, minimum share.
    shadow_prices : dict
        For each constraint group (``stock:<r>``, ``budget``, ``coverage_floor:<r>``, ``max_gap:<r>``):
        ``d_min_share`` (derivative of the minimum share, from the first max-min LP) and ``d_covered``
        (derivative of total weighted expected coverage, from the final LP).  None for a MIP.
    min_share : float
    total_allocated : dict
        Units placed per resource.
    total_cost : float
    total_covered : float
        Weighted expected need met.
    status : str
    solve_seconds : float
    n_solves : int
    x : ndarray, shape (n, m)
        Units placed per region and resource (the ``allocated`` column as a matrix).
    facilities : DataFrame
        With facilities: the units placed at each, best-rated first (``region, facility, name, quality,
        resource, allocated, cap, rank``); empty otherwise.
    min_share_lp_bound : float or None
        With whole units: the minimum share of the continuous (LP) optimum, an upper bound on what whole
        units can reach; ``min_share_lp_bound - min_share`` bounds the loss from rounding.
    """

    problem: AllocationProblem
    allocation: pd.DataFrame
    transfers: pd.DataFrame
    coverage: pd.DataFrame
    scenario_summary: pd.DataFrame
    shadow_prices: dict[str, dict[str, float | None]]
    min_share: float
    total_allocated: dict[str, float]
    total_cost: float
    total_covered: float
    status: str
    solve_seconds: float
    n_solves: int
    x: np.ndarray = field(repr=False, default=None)
    facilities: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    min_share_lp_bound: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary plus the allocation, transfers and scenario coverage."""
        return {
            "status": self.status,
            "objective": self.problem.objective,
            "uncertainty": self.problem.uncertainty,
            "min_share": _f(self.min_share),
            "min_share_lp_bound": _f(self.min_share_lp_bound),
            "total_allocated": {k: _f(v) for k, v in self.total_allocated.items()},
            "total_cost": _f(self.total_cost),
            "total_covered": _f(self.total_covered),
            "shadow_prices": {k: {kk: _f(vv) for kk, vv in v.items()} for k, v in self.shadow_prices.items()},
            "solve_seconds": self.solve_seconds,
            "n_solves": self.n_solves,
            "allocation": _records(self.allocation),
            "transfers": _records(self.transfers),
            "scenarios": _records(self.scenario_summary),
            "facilities": _records(self.facilities),
        }


def _f(v):
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (_f(v) if isinstance(v, (float, np.floating)) else
                        int(v) if isinstance(v, (np.integer,)) else v) for k, v in rec.items()})
    return out


# ------------------------------------------------------------------------------------------------
# model assembly
# ------------------------------------------------------------------------------------------------
class _Model:
    """Column/row layout of the allocation LP for one problem (see module docstring)."""

    def __init__(self, P: AllocationProblem):
        self.P = P
        n, m = P.n, P.m
        nm = n * m
        if P.uncertainty == "quantile":
            self.lp_scen = np.array([P.scenario_names.index(P.design_scenario)])
            self.p = np.array([1.0])
        else:
            self.lp_scen = np.arange(P.demand.shape[0])
            self.p = P.scenario_weights
        L = len(self.lp_scen)
        D = P.demand[self.lp_scen]  # (L, n, m)
        self.D = D
        self.Ed = np.tensordot(self.p, D, axes=1)  # (n, m)
        # transfers
        trip_a, trip_b, trip_r, trip_dist = [], [], [], []
        if P.pooling is not None:
            idx = {g: k for k, g in enumerate(P.regions)}
            pr = P.pooling.pairs
            ok = (pr["distance"].to_numpy(float) <= P.pooling.max_distance)
            ok &= pr["origin"].astype(str).isin(idx).to_numpy() & pr["destination"].astype(str).isin(idx).to_numpy()
            ok &= pr["origin"].astype(str).to_numpy() != pr["destination"].astype(str).to_numpy()
            pr = pr[ok]
            a = pr["origin"].astype(str).map(idx).to_numpy(int)
            b = pr["destination"].astype(str).map(idx).to_numpy(int)
            dist = pr["distance"].to_numpy(float)
            pooled = P.pooling.resources or P.resources
            for rname in pooled:
                if rname not in P.resources:
                    raise EquicareError(f"pooling resource {rname!r} is not one of the resources "
                                        f"{', '.join(P.resources)}")
                r = P.resources.index(rname)
                trip_a.append(a)
                trip_b.append(b)
                trip_r.append(np.full(len(a), r))
                trip_dist.append(dist)
        cat = (lambda v: np.concatenate(v) if v else np.zeros(0, int))
        self.ta, self.tb, self.tr = cat(trip_a), cat(trip_b), cat(trip_r)
        self.tdist = np.concatenate(trip_dist) if trip_dist else np.zeros(0)
        T = len(self.ta)
        self.T = T
        # columns: x | t | v | z | N (m) | smin (m) | smax (m)
        self.cx = 0
        self.ct = nm
        self.cv = nm + T
        self.cz = nm + T + L * nm
        self.cN = self.cz + 1
        self.csmin = self.cN + m
        self.csmax = self.csmin + m
        ncol = self.csmax + m
        self.ncol = ncol

        # column bounds
        xlo = P.min_alloc.ravel().copy()
        xhi = P.max_alloc.ravel().copy()
        if P.cap_at_need:
            need_cap = np.maximum(0.0, D.max(axis=0) - P.capacity).ravel()
            if P.pooling is None:
                xhi = np.minimum(xhi, np.maximum(need_cap, xlo))
            else:  # a donor region's new units may serve neighbours; cap at the pooled need
                xhi = np.minimum(xhi, np.maximum(np.maximum(D.max(axis=0) - P.capacity, 0).sum(axis=0)[None, :]
                                                 .repeat(n, 0).ravel(), xlo))
        self.xlo, self.xhi = xlo, xhi
        col_lo = np.zeros(ncol)
        col_hi = np.full(ncol, np.inf)
        col_lo[:nm], col_hi[:nm] = xlo, xhi
        # expected coverage E[min(eff, D)] is concave piecewise linear in eff: split eff into segments
        # between the sorted scenario needs; segment k has slope P(D >= its end) (filled in order by any
        # maximisation, as the slopes fall).  One link row per region and type instead of one per scenario.
        D2 = D.reshape(L, nm)
        srt = np.argsort(D2, axis=0, kind="stable")
        Dsort = np.take_along_axis(D2, srt, axis=0)
        psort = self.p[srt]
        self.slope = np.flip(np.cumsum(np.flip(psort, 0), 0), 0)  # (L, nm) tail sums
        self.seg_start = np.vstack([np.zeros((1, nm)), Dsort[:-1]])
        seglen = Dsort - self.seg_start
        col_hi[self.cv:self.cz] = seglen.reshape(-1)
        # existing capacity and guaranteed minimums always count as covered (they cannot be "un-counted"
        # to meet a coverage floor or gap cap); not for pooled resources, whose capacity may move away
        pooled_r = np.zeros(m, bool)
        if T:
            pooled_r[np.unique(self.tr)] = True
        sure = np.where(np.tile(pooled_r, n), 0.0, P.capacity.ravel() + xlo)
        col_lo[self.cv:self.cz] = np.clip(sure[None, :] - self.seg_start, 0.0, seglen).reshape(-1)
        sure0 = np.where(np.tile(pooled_r, n), 0.0, P.capacity.ravel())
        self.v_lo_nomin = np.clip(sure0[None, :] - self.seg_start, 0.0, seglen).reshape(-1)
        col_hi[self.cz] = 1.0
        col_hi[self.cN:] = 1.0
        self.col_lo, self.col_hi = col_lo, col_hi
        integ = np.zeros(ncol, bool)
        integ[:nm] = np.tile(P.integer, n)
        if T:
            integ[self.ct:self.ct + T] = P.integer[self.tr]
        self.integ = integ

        rows, rlo, rhi, self.groups = [], [], [], {}

        def add(block: sp.spmatrix, lo, hi, name: str) -> None:
            start = sum(b.shape[0] for b in rows)
            rows.append(sp.csr_matrix(block))
            k = block.shape[0]
            rlo.append(np.broadcast_to(np.asarray(lo, float), (k,)))
            rhi.append(np.broadcast_to(np.asarray(hi, float), (k,)))
            self.groups[name] = np.arange(start, start + k)

        I_nm = sp.identity(nm, format="csr")
        # t incidence on (i, r): +1 inflow at b, -1 outflow at a
        if T:
            tin = sp.csr_matrix((np.ones(T), (self.tb * m + self.tr, np.arange(T))), shape=(nm, T))
            tout = sp.csr_matrix((np.ones(T), (self.ta * m + self.tr, np.arange(T))), shape=(nm, T))
            tnet = tin - tout
        else:
            tnet = sp.csr_matrix((nm, 0))
        zcols = sp.csr_matrix((nm, 1 + 3 * m))
        # link rows: sum_k seg_kir - x_ir - net_ir <= c_ir
        link = sp.hstack([-I_nm, -tnet, sp.hstack([I_nm] * L), sp.csr_matrix((nm, 1 + 3 * m))])
        add(link, -np.inf, P.capacity.ravel(), "link")
        if T:
            pooled_rows = np.unique(np.concatenate([self.ta * m + self.tr, self.tb * m + self.tr]))
            eff = sp.hstack([I_nm, tnet, sp.csr_matrix((nm, L * nm)), zcols]).tocsr()[pooled_rows]
            add(eff, -P.capacity.ravel()[pooled_rows], np.inf, "nonneg_capacity")
        # stock rows
        R = sp.csr_matrix((np.ones(nm), (np.tile(np.arange(m), n), np.arange(nm))), shape=(m, nm))
        fin = np.flatnonzero(np.isfinite(P.stock))
        self.stock_rows = {}
        if len(fin):
            blk = sp.hstack([R[fin], sp.csr_matrix((len(fin), ncol - nm))])
            add(blk, -np.inf, P.stock[fin], "stock")
            for k, r in enumerate(fin):
                self.stock_rows[int(r)] = int(self.groups["stock"][k])
        # budget
        self.tcost = np.zeros(T)
        if T:
            self.tcost = P.pooling.cost_per_unit + P.pooling.cost_per_unit_distance * self.tdist
        if P.budget is not None:
            brow = np.zeros(ncol)
            brow[:nm] = np.tile(P.unit_cost, n)
            brow[self.ct:self.ct + T] = self.tcost
            add(sp.csr_matrix(brow), -np.inf, P.budget, "budget")
        # share matrix on v: share_ir = sum_l p_l v_lir / Ed_ir, for fair (Ed > 0) pairs
        fair = np.flatnonzero(self.Ed.ravel() > 0)
        self.fair = fair
        F = len(fair)
        rr = np.tile(np.arange(F), L)
        cc = (np.arange(L)[:, None] * nm + fair[None, :]).ravel()
        vals = (self.slope[:, fair] / self.Ed.ravel()[fair][None, :]).ravel()
        Sh = sp.csr_matrix((vals, (rr, cc)), shape=(F, L * nm))
        self.Sh = Sh
        fr = fair % m

        def with_cols(v_part, coefs: list[tuple[np.ndarray, np.ndarray]]) -> sp.csr_matrix:
            k = v_part.shape[0]
            ex_r, ex_c, ex_v = [], [], []
            for cols, v in coefs:
                ex_r.append(np.arange(k))
                ex_c.append(cols - (nm + T + L * nm))
                ex_v.append(v)
            ex = sp.csr_matrix((np.concatenate(ex_v), (np.concatenate(ex_r), np.concatenate(ex_c))),
                               shape=(k, 1 + 3 * m)) if coefs else sp.csr_matrix((k, 1 + 3 * m))
            return sp.hstack([sp.csr_matrix((k, nm + T)), v_part, ex]).tocsr()

        # fairness rows: share - z >= 0
        add(with_cols(Sh, [(np.full(F, self.cz), -np.ones(F))]), 0.0, np.inf, "fair")
        # national share rows: N_r - sum_i Ed_ir share_ir / sum_i Ed_ir = 0
        tot = self.Ed.sum(axis=0)
        natw = self.Ed.ravel()[fair] / np.where(tot[fr] > 0, tot[fr], 1.0)
        Rn = sp.csr_matrix((natw, (fr, np.arange(F))), shape=(m, F))
        add(with_cols(-(Rn @ Sh), [(self.cN + np.arange(m), np.ones(m))]), 0.0, 0.0, "national")
        if P.coverage_floor is not None:
            add(with_cols(Sh, [(self.cN + fr, -P.coverage_floor * np.ones(F))]), 0.0, np.inf, "coverage_floor")
        if P.max_gap is not None:
            add(with_cols(Sh, [(self.csmin + fr, -np.ones(F))]), 0.0, np.inf, "gap_min")
            add(with_cols(Sh, [(self.csmax + fr, -np.ones(F))]), -np.inf, 0.0, "gap_max")
            g = sp.hstack([sp.csr_matrix((m, self.csmin)), -sp.identity(m), sp.identity(m)])
            add(g, -np.inf, P.max_gap, "max_gap")
        if T and P.pooling.no_worse_off:
            add(Sh_block := with_cols(Sh, []), -np.inf, np.inf, "no_worse_off")
            del Sh_block
        # Gini cap: per resource, the positions of its fair pairs and their weights (expected need)
        self.gini_groups = {r: (np.flatnonzero(fr == r), self.Ed.ravel()[fair][fr == r])
                            for r in range(m) if (fr == r).sum() > 1} if P.max_gini is not None else {}
        self.A = sp.vstack(rows).tocsc()
        self.row_lo = np.concatenate(rlo)
        self.row_hi = np.concatenate(rhi)
        # objective pieces
        cov = np.zeros(ncol)
        cov[self.cv:self.cz] = (self.slope * np.tile(P.weight, n)[None, :]).ravel()
        self.c_cov = cov
        tie = np.zeros(ncol)
        cost = np.tile(P.unit_cost, n)
        scale = max(float(cost.max()), 1e-12)
        tie[:nm] -= 1e-6 * cost / scale
        tie[self.ct:self.ct + T] -= 1e-6 * (1 + self.tcost / max(float(self.tcost.max(initial=0)), 1e-12))
        if P.quality is not None and P.quality_weight:
            tie[:nm] += P.quality_weight * np.repeat(P.quality, m)
        self.c_tie = tie
        zc = np.zeros(ncol)
        zc[self.cz] = 1.0
        self.c_z = zc
        # upper bound on each fair share from its own bounds (used to freeze capped rows early)
        eff_max = P.capacity.ravel() + xhi
        if T:  # pooled resources can receive up to the whole pool
            pooled_r = np.zeros(m, bool)
            pooled_r[np.unique(self.tr)] = True
            eff_max = np.where(np.tile(pooled_r, n), np.inf, eff_max)
        ub = (self.p[:, None] * np.minimum(D.reshape(L, nm), eff_max[None, :])).sum(0)
        self.share_ub = ub[fair] / self.Ed.ravel()[fair]

    def build(self, **kw) -> LinearModel:
        return LinearModel(self.c_cov, self.A, self.row_lo, self.row_hi, self.col_lo, self.col_hi,
                           integrality=self.integ if self.integ.any() else None, maximize=True, **kw)


# ------------------------------------------------------------------------------------------------
# solving
# ------------------------------------------------------------------------------------------------
@dataclass
class _Run:
    sol: Solution
    first: Solution | None
    levels: np.ndarray
    n_solves: int
    seconds: float
    x_int: np.ndarray | None = None
    shared_levels: dict[str, tuple[float, float]] = field(default_factory=dict)
    gini_rows: dict[int, list[int]] = field(default_factory=dict)


def weighted_gini(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted Gini coefficient ``sum_ij w_i w_j |v_i - v_j| / (2 W sum_i w_i v_i)`` (0 if the mean is 0)."""
    o = np.argsort(values, kind="stable")
    v, w = values[o], weights[o]
    W = w.sum()
    below = np.cumsum(w) - w
    above = W - below - w
    den = W * float(w @ v)
    return float((w * v * (below - above)).sum() / den) if den > 0 else 0.0


def _gini_cut(mod: _Model, pos: np.ndarray, w: np.ndarray, share: np.ndarray) -> sp.csr_matrix:
    """The cutting plane of the Gini cap at the ordering of ``share`` (a row over the v columns)."""
    o = np.argsort(share, kind="stable")
    W = w.sum()
    below = np.empty_like(w)
    below[o] = np.cumsum(w[o]) - w[o]
    above = W - below - w
    a = w * (below - above - mod.P.max_gini * W)
    return sp.csr_matrix(a[None, :]) @ mod.Sh[pos]


def _lp_solve(mod: _Model, lm: LinearModel, max_rounds: int = 200) -> Solution:
    """Solve; with a Gini cap, add its cutting planes until every resource's Gini is within the cap.

    Cuts live in ``lm.gini_rows`` (resource -> row indices); each round adds at most one per resource.
    """
    sol = lm.solve()
    if not mod.gini_groups:
        return sol
    rows = lm.__dict__.setdefault("gini_rows", {})
    secs = sol.seconds
    for _ in range(max_rounds):
        if not sol.ok:
            break
        share = mod.Sh @ sol.x[mod.cv:mod.cz]
        added = False
        for r, (pos, w) in mod.gini_groups.items():
            if weighted_gini(share[pos], w) > mod.P.max_gini + 1e-7:
                cut = _gini_cut(mod, pos, w, share[pos]).tocsr()
                rows.setdefault(r, []).append(lm.add_row(-np.inf, 0.0, cut.indices + mod.cv, cut.data))
                added = True
        if not added:
            break
        sol = lm.solve()
        secs += sol.seconds
    sol.seconds = secs
    return sol


def _shared_rows(mod: _Model) -> dict[str, int]:
    out = {f"stock:{mod.P.resources[r]}": row for r, row in mod.stock_rows.items()}
    if "budget" in mod.groups:
        out["budget"] = int(mod.groups["budget"][0])
    return out


def _solved(mod: _Model, lm: LinearModel) -> Solution:
    """Solve (with the Gini cuts); an infeasible or failed solve raises the diagnosed InfeasibleError."""
    sol = _lp_solve(mod, lm)
    if not sol.ok:
        _diagnose(mod, sol)
    return sol


def _solve(mod: _Model, lm: LinearModel, nwo_lo: np.ndarray | None = None) -> _Run:
    """Run the chosen objective on a built model; raise InfeasibleError with a diagnosis if needed.

    ``leximin`` is always solved as LPs (progressive filling); indivisible units are then placed by
    :func:`_integerise`.  ``min_unmet`` and ``weighted`` are solved as one LP or MIP.
    """
    P = mod.P
    F = len(mod.fair)
    fair_rows = mod.groups["fair"]
    if nwo_lo is not None:
        lm.set_row_bounds(mod.groups["no_worse_off"], nwo_lo, np.inf)
    levels = np.full(F, np.nan)
    if P.objective == "min_unmet":
        lm.set_costs(mod.c_cov + mod.c_tie)
        sol = _solved(mod, lm)
        return _Run(sol, None, levels, 1, sol.seconds)
    if P.objective == "weighted":
        w = P.fairness_weight
        tot = float((mod.Ed * P.weight[None, :]).sum()) or 1.0
        lm.set_costs(w * mod.c_z + (1 - w) * mod.c_cov / tot + mod.c_tie / tot)
        sol = _solved(mod, lm)
        return _Run(sol, sol, levels, 1, sol.seconds)
    # leximin: progressive filling on the LP
    if lm.is_mip:
        lm.h.changeColsIntegrality(mod.ncol, np.arange(mod.ncol, dtype=np.int32),
                                   np.zeros(mod.ncol, dtype=np.uint8))
        lm.is_mip = False
    lm.set_costs(mod.c_z)
    frozen = np.zeros(F, bool)
    n_solves, secs, first = 0, 0.0, None
    shared = _shared_rows(mod)
    shared_levels: dict[str, tuple[float, float]] = {}
    while F and not frozen.all():
        sol = _solved(mod, lm)
        n_solves += 1
        secs += sol.seconds
        if first is None:
            first = sol
        z = float(sol.x[mod.cz])
        for key, row in shared.items():
            if key not in shared_levels and abs(sol.row_dual[row]) > _TOL:
                shared_levels[key] = (z, float(sol.row_dual[row]))
        dual = sol.row_dual[fair_rows]
        block = ~frozen & ((np.abs(dual) > _TOL) | (mod.share_ub <= z + 1e-9) | (z >= 1 - 1e-9))
        if not block.any():  # numerical safety: freeze the rows sitting at the level
            share = mod.Sh @ sol.x[mod.cv:mod.cz]
            block = ~frozen & (share <= z + 1e-7)
            if not block.any():
                block = ~frozen
        idx = np.flatnonzero(block)
        _pin_rows(mod, lm, idx, max(z - 1e-9, 0.0))
        levels[idx] = z
        frozen |= block
        n_solves, secs = _freeze_capped(mod, lm, frozen, levels, z, n_solves, secs)
        stuck = _stuck_rows(mod, sol, frozen)
        if stuck.any():
            share = mod.Sh @ sol.x[mod.cv:mod.cz]
            idx = np.flatnonzero(stuck)
            _pin_rows(mod, lm, idx, np.maximum(share[idx] - 1e-9, 0.0))
            levels[idx] = share[idx]
            frozen |= stuck
    lm.set_costs(mod.c_cov + mod.c_tie)
    if mod.ncol > 100_000:  # large expected-coverage models: interior point (with crossover) is far faster
        lm.h.setOptionValue("solver", "ipm")
    sol = _solved(mod, lm)
    n_solves += 1
    secs += sol.seconds
    if first is None:
        first = sol
    run = _Run(sol, first, levels, n_solves, secs, shared_levels=shared_levels)
    if mod.integ.any():
        run.x_int = _integerise(mod, sol)
    return run


def _pin_rows(mod: _Model, lm: LinearModel, idx: np.ndarray, lower) -> None:
    """Take fairness rows ``idx`` out of the level: share >= ``lower`` (a number or one per row), no z term."""
    rows = mod.groups["fair"]
    for k in idx:
        lm.set_coeff(int(rows[k]), mod.cz, 0.0)
    lm.set_row_bounds(rows[idx], lower, np.inf)


def _freeze_capped(mod: _Model, lm: LinearModel, frozen: np.ndarray, levels: np.ndarray, z: float,
                   n_solves: int, secs: float) -> tuple[int, float]:
    """Water-filling look-ahead: rows whose own cap (share upper bound) lies below the reachable level
    sit at that cap in the lexicographic optimum, so freeze them all at once instead of one per LP.

    Try fixing every unfrozen capped row at its cap and maximise the common level z' of the rest; keep the
    rows whose cap is at most z' and repeat until the set is stable (or give up if infeasible).
    """
    fair_rows = mod.groups["fair"]
    cand = ~frozen & (mod.share_ub < 1 - 1e-9) & (mod.share_ub > z + 1e-9)
    if not cand.any():
        return n_solves, secs

    def fix(idx, on):
        if on:
            _pin_rows(mod, lm, idx, np.maximum(mod.share_ub[idx] - 1e-9, 0.0))
        else:
            for k in idx:
                lm.set_coeff(int(fair_rows[k]), mod.cz, -1.0)
            lm.set_row_bounds(fair_rows[idx], 0.0, np.inf)

    # binary search for the largest j such that the j lowest caps can all be met while every other
    # unfrozen row reaches at least the j-th cap (monotone in j)
    order = np.flatnonzero(cand)[np.argsort(mod.share_ub[cand], kind="stable")]
    # first guess: release every candidate (they then cost nothing) to get an upper bound on the level
    _pin_rows(mod, lm, order, 0.0)
    sol = _lp_solve(mod, lm)
    n_solves += 1
    secs += sol.seconds
    z_hi = float(sol.x[mod.cz]) if sol.ok else 1.0
    for k in order:
        lm.set_coeff(int(fair_rows[k]), mod.cz, -1.0)
    guess = int(np.searchsorted(mod.share_ub[order], z_hi + 1e-9, side="right"))
    lo, hi = 0, len(order)  # f(lo) true (j = 0), search the largest true
    cur = 0  # rows order[:cur] currently fixed in the model
    hi = guess

    def move_to(j: int) -> Solution:
        """Fix exactly the rows order[:j] (from the current cur) and solve."""
        nonlocal cur, n_solves, secs
        if j > cur:
            fix(order[cur:j], True)
        else:
            fix(order[j:cur], False)
        cur = j
        out = _lp_solve(mod, lm)
        n_solves += 1
        secs += out.seconds
        return out

    for _ in range(6):  # fixed-point steps j <- #(caps <= z'(j)); z' falls as j grows
        if guess <= lo:
            break
        sol = move_to(guess)
        if not sol.ok:
            hi = guess - 1
            guess = (lo + hi + 1) // 2
            continue
        z2 = float(sol.x[mod.cz])
        if z2 >= mod.share_ub[order[guess - 1]] - 1e-9:
            lo = guess
            break
        hi = guess - 1
        guess = min(hi, int(np.searchsorted(mod.share_ub[order], z2 + 1e-9, side="right")))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        sol = move_to(mid)
        if sol.ok and float(sol.x[mod.cz]) >= mod.share_ub[order[mid - 1]] - 1e-9:
            lo = mid
        else:
            hi = mid - 1
    if lo < cur:
        fix(order[lo:cur], False)
    elif lo > cur:
        fix(order[cur:lo], True)
    idx = order[:lo]
    levels[idx] = mod.share_ub[idx]
    frozen[idx] = True
    return n_solves, secs


def _stuck_rows(mod: _Model, sol: Solution, frozen: np.ndarray) -> np.ndarray:
    """Unfrozen share rows that provably cannot rise and cannot give anything away.

    A row (i, r) of a resource that is not pooled depends only on x_ir.  It cannot rise when x_ir is at
    its upper bound, or when no unit of r can be had: the stock of r has no slack and no other region can
    release units of r (an unfrozen region holding more than its minimum, or a frozen one holding more
    than its largest need), or likewise no money is left and nobody can release spending.  If it also
    holds nothing above its minimum, its share is the same in every lexicographic optimum, so it can be
    frozen at once (this saves one LP per distinct level once the shared stock is exhausted).
    """
    P = mod.P
    n, m = P.n, P.m
    F = len(mod.fair)
    out = np.zeros(F, bool)
    if not F:
        return out
    tol = 1e-7
    x = sol.x[:n * m].reshape(n, m)
    xlo = mod.xlo.reshape(n, m)
    xhi = mod.xhi.reshape(n, m)
    pooled = np.zeros(m, bool)
    if mod.T:
        pooled[np.unique(mod.tr)] = True
    eff = P.capacity + x + _net_transfers(mod, sol.x[mod.ct:mod.ct + mod.T])
    flat = eff > mod.D.max(axis=0) + tol  # more than the largest need: can release without loss
    fz = np.zeros(n * m, bool)
    fz[mod.fair] = frozen
    fz = fz.reshape(n, m)
    fair2 = np.zeros(n * m, bool)
    fair2[mod.fair] = True
    fair2 = fair2.reshape(n, m)
    holds = x > xlo + tol
    donor = holds & (~fz | flat | ~fair2)
    stock_free = ~np.isfinite(P.stock) | (P.stock - x.sum(axis=0) > tol)
    donors_r = donor.sum(axis=0)  # per resource
    if P.budget is None:
        money_free = True
        money_donors = 0
    else:
        spent = float((x * P.unit_cost[None, :]).sum()) + float((sol.x[mod.ct:mod.ct + mod.T] * mod.tcost).sum())
        money_free = P.budget - spent > tol * max(1.0, P.budget)
        money_donors = int((donor & (P.unit_cost[None, :] > 0)).sum())
    ii, rr = np.divmod(mod.fair, m)
    can_stock = stock_free[rr] | (donors_r[rr] - donor[ii, rr] > 0)
    can_money = money_free | (P.unit_cost[rr] == 0) | (money_donors - (donor[ii, rr] & (P.unit_cost[rr] > 0)) > 0)
    cannot_rise = (x[ii, rr] >= xhi[ii, rr] - tol) | ~(can_stock & can_money)
    out = ~frozen & ~pooled[rr] & cannot_rise & ~holds[ii, rr]
    return out


def _integerise(mod: _Model, sol: Solution) -> np.ndarray:
    """Whole units for indivisible types by greedy water-filling.

    Starting from the region minimums (and the LP's transfers rounded down), each unit goes to the
    region whose share of need met is lowest among those that can still use one (ties: the one whose
    share ends highest), until the stock or budget runs out or every need is met.  For one shared stock
    with per-region bounds this is the exact lexicographic max-min integer allocation: region *i*'s
    k-th unit is taken at share level k/need_i, and the greedy takes the S lowest levels.  With several
    coupled constraints (budget across types, coverage floors, gap caps) it is a heuristic that respects
    the stock, budget and region bounds.
    """
    import heapq

    P = mod.P
    n, m = P.n, P.m
    x_lp = sol.x[:n * m].reshape(n, m)
    isint = np.broadcast_to(P.integer[None, :], (n, m))
    xhi = np.floor(mod.xhi.reshape(n, m) + 1e-9)
    xlo = mod.xlo.reshape(n, m)
    x = np.where(isint, np.ceil(xlo - 1e-9), x_lp)
    for r in mod.gini_groups:  # under a Gini cap start from the LP's answer rounded down, not from the minimums
        if P.integer[r]:
            x[:, r] = np.minimum(np.maximum(x[:, r], np.floor(x_lp[:, r] + 1e-6)), xhi[:, r])
    t = sol.x[mod.ct:mod.ct + mod.T].copy() if mod.T else np.zeros(0)
    if mod.T:
        t = np.where(P.integer[mod.tr], np.floor(t + 1e-6), t)
    base = P.capacity + _net_transfers(mod, t)
    stock_left = P.stock - x.sum(axis=0)
    for r in mod.gini_groups:  # a binding Gini cap can leave units unused: place no more than the LP did
        stock_left[r] = min(stock_left[r], np.floor(x_lp[:, r].sum() + 1e-6) - x[:, r].sum())
    money_left = (np.inf if P.budget is None else
                  P.budget - float((x * P.unit_cost[None, :]).sum()) - float((t * mod.tcost).sum()))
    Ed = np.where(mod.Ed > 0, mod.Ed, 1.0)
    p, D = mod.p, mod.D

    def cell(i, r, v):
        return float(np.dot(p, np.minimum(base[i, r] + v, D[:, i, r]))) / Ed[i, r]

    heap = []
    for i, r in zip(*np.nonzero(isint & (mod.Ed > 0))):
        if x[i, r] + 1 <= xhi[i, r] + 1e-9:
            c0, c1 = cell(i, r, x[i, r]), cell(i, r, x[i, r] + 1)
            if c1 > c0 + 1e-12:
                heap.append((round(c0, 12), -round(c1, 12), int(i), int(r)))
    heapq.heapify(heap)
    while heap:
        c0, neg1, i, r = heapq.heappop(heap)
        if stock_left[r] < 1 - 1e-9 or P.unit_cost[r] > money_left + 1e-9:
            continue
        x[i, r] += 1
        stock_left[r] -= 1
        money_left -= P.unit_cost[r]
        if x[i, r] + 1 <= xhi[i, r] + 1e-9:
            c0, c1 = -neg1, cell(i, r, x[i, r] + 1)
            if c1 > c0 + 1e-12:
                heapq.heappush(heap, (round(c0, 12), -round(c1, 12), i, r))
    x = _trim_to_gini(mod, x, base)
    out = sol.x.copy()
    out[:n * m] = x.ravel()
    if mod.T:
        out[mod.ct:mod.ct + mod.T] = t
    return out


def _trimmed_mip(mod: _Model, sol: Solution) -> np.ndarray:
    """A MIP's solution with :func:`_trim_to_gini` applied (its Gini cuts bound the coverage variables, which
    may sit below what whole units actually cover)."""
    n, m = mod.P.n, mod.P.m
    x = sol.x[:n * m].reshape(n, m).copy()
    x[:, mod.P.integer] = np.round(x[:, mod.P.integer])
    t = sol.x[mod.ct:mod.ct + mod.T]
    out = sol.x.copy()
    out[:n * m] = _trim_to_gini(mod, x, mod.P.capacity + _net_transfers(mod, t)).ravel()
    return out


def _net_transfers(mod: _Model, t: np.ndarray) -> np.ndarray:
    """``(n, m)`` units each region receives minus those it sends, for transfer amounts ``t``."""
    net = np.zeros((mod.P.n, mod.P.m))
    if mod.T:
        np.add.at(net, (mod.tb, mod.tr), t)
        np.add.at(net, (mod.ta, mod.tr), -t)
    return net


def _gini_if(s: np.ndarray, w: np.ndarray, num: float, den: float, idx: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The weighted Gini if the share ``s[idx[c]]`` became ``new[c]``, for each ``c`` (others unchanged).

    ``num = sum_ij w_i w_j |s_i - s_j|`` and ``den = 2 W sum_i w_i s_i`` are the current numerator and
    denominator; one share moving changes them by ``2 w_i sum_j w_j (|s_i' - s_j| - |s_i - s_j|)`` and
    ``2 W w_i (s_i' - s_i)``.
    """
    diff = np.abs(new[:, None] - s[None, :]) - np.abs(s[idx][:, None] - s[None, :])
    n2 = num + 2.0 * w[idx] * (diff @ w)
    d2 = den + 2.0 * w.sum() * w[idx] * (new - s[idx])
    return np.where(d2 > 0, n2 / np.where(d2 > 0, d2, 1.0), 0.0)


def _trim_to_gini(mod: _Model, x: np.ndarray, base: np.ndarray, limit: int = 400) -> np.ndarray:
    """Move or take back whole units that lift a capped resource's Gini above ``max_gini``.

    The LP meets the cap exactly, but whole units (rounded or greedily placed) can overshoot it.  While the
    need-weighted Gini of a resource's actual shares is above the cap, the unit whose removal lowers it most
    is taken from its region and given to the region where it lowers the Gini most, if that still lowers it
    (so coverage is kept); else it stays in the stock, as the LP leaves units unused when the cap binds.
    Region minimums and maximums are kept; above ``limit`` regions only the ``limit`` best-covered give and
    the ``limit`` worst-covered take.  When no step lowers the Gini, the answer stays above the cap and the
    explanation says so.  ``x`` is ``(n, m)`` units placed, ``base`` the capacity after transfers.
    """
    P = mod.P
    m = P.m
    xlo, xhi = mod.xlo.reshape(P.n, m), mod.xhi.reshape(P.n, m)
    for r, (pos, w) in mod.gini_groups.items():
        if not P.integer[r]:
            continue
        reg = mod.fair[pos] // m
        D, Ed, b = mod.D[:, reg, r], mod.Ed[reg, r], base[reg, r]
        lo, hi = xlo[reg, r], xhi[reg, r]
        W = float(w.sum())

        def shares(units: np.ndarray, D=D, Ed=Ed, b=b) -> np.ndarray:
            return np.tensordot(mod.p, np.minimum(b[None] + units[None], D), axes=1) / Ed

        xr = x[reg, r].copy()
        s = shares(xr)
        g = weighted_gini(s, w)
        while g > P.max_gini + 1e-9:
            den = 2.0 * W * float(w @ s)
            num = g * den
            s_minus = shares(xr - 1)
            give = np.flatnonzero((xr >= lo + 1 - 1e-9) & (s_minus < s - 1e-12))
            give = give[np.argsort(-s[give], kind="stable")][:limit]
            if not len(give):
                break
            g_rm = _gini_if(s, w, num, den, give, s_minus[give])
            if g_rm.min() >= g - 1e-12:
                break
            i = give[int(np.argmin(g_rm))]
            xr[i] -= 1
            s = shares(xr)
            g_removed = weighted_gini(s, w)
            s_plus = shares(xr + 1)
            take = np.flatnonzero((xr + 1 <= hi + 1e-9) & (s_plus > s + 1e-12))
            take = take[take != i]
            take = take[np.argsort(s[take], kind="stable")][:limit]
            if len(take):
                den = 2.0 * W * float(w @ s)
                g_add = _gini_if(s, w, g_removed * den, den, take, s_plus[take])
                j = int(np.argmin(g_add))
                if g_add[j] < g - 1e-12:  # moving the unit still lowers the Gini: keep it in use
                    xr[take[j]] += 1
                    s = shares(xr)
            g = weighted_gini(s, w)
        if g > P.max_gini + 1e-9:  # single-unit steps are stuck (e.g. a cluster of equal shares): compress
            xr = _compress_to_gini(xr, lo, hi, w, shares, P.max_gini)
        x[reg, r] = xr
    return x


def _compress_to_gini(xr: np.ndarray, lo: np.ndarray, hi: np.ndarray, w: np.ndarray, shares, cap: float
                      ) -> np.ndarray:
    """Whole units whose shares are those of ``xr`` pulled towards the lowest share until the Gini is under ``cap``.

    Target shares ``s_min + lam (s - s_min)``; each region keeps the most units (between its minimum and what it
    has) whose share does not exceed its target; ``lam`` is the largest (by bisection) whose Gini is within the
    cap.  The units freed are then handed back one at a time where the Gini stays lowest, while it stays within
    the cap.  Returns ``xr`` unchanged if even ``lam = 0`` is above the cap.
    """
    s0 = shares(xr)
    smin = float(s0.min())
    lo_u = np.ceil(lo - 1e-9)

    def at(lam: float) -> np.ndarray:
        t = smin + lam * (s0 - smin) + 1e-12
        a, b = lo_u.copy(), xr.copy()  # largest units in [a, b] with share <= t (a always qualifies here)
        while (b - a > 0).any():
            mid = np.ceil((a + b) / 2)
            ok = shares(mid) <= t
            a = np.where(ok, mid, a)
            b = np.where(ok, b, mid - 1)
        return a

    if weighted_gini(shares(at(0.0)), w) > cap + 1e-9:
        return xr
    lo_l, hi_l = 0.0, 1.0
    for _ in range(30):
        mid = (lo_l + hi_l) / 2
        if weighted_gini(shares(at(mid)), w) <= cap + 1e-9:
            lo_l = mid
        else:
            hi_l = mid
    x = at(lo_l)
    W = float(w.sum())
    for _ in range(int(xr.sum() - x.sum())):
        s = shares(x)
        s_plus = shares(x + 1)
        take = np.flatnonzero((x + 1 <= hi + 1e-9) & (s_plus > s + 1e-12))
        if not len(take):
            break
        den = 2.0 * W * float(w @ s)
        g_add = _gini_if(s, w, weighted_gini(s, w) * den, den, take, s_plus[take])
        j = int(np.argmin(g_add))
        if g_add[j] > cap + 1e-9:
            break
        x[take[j]] += 1
    return x


def _precheck(P: AllocationProblem) -> None:
    """Conflicts visible without solving: name them precisely."""
    msgs = []
    bad = np.argwhere(P.min_alloc > P.max_alloc + 1e-9)
    for i, r in bad[:10]:
        msgs.append(f"region {P.regions[i]} has minimum {P.min_alloc[i, r]:g} {P.resources[r]} above its "
                    f"maximum {P.max_alloc[i, r]:g}")
    need = P.min_alloc.sum(axis=0)
    for r in range(P.m):
        if need[r] > P.stock[r] + 1e-9:
            top = np.argsort(-P.min_alloc[:, r])[:3]
            names = ", ".join(f"{P.regions[i]} {P.min_alloc[i, r]:g}" for i in top if P.min_alloc[i, r] > 0)
            msgs.append(f"region minimums of {P.resources[r]} sum to {need[r]:g}, above the stock of "
                        f"{P.stock[r]:g} (largest: {names})")
    if P.budget is not None:
        cost = float((P.min_alloc * P.unit_cost[None, :]).sum())
        if cost > P.budget + 1e-9:
            msgs.append(f"region minimums cost {cost:,.0f}, above the budget of {P.budget:,.0f}")
        if P.budget < 0:
            msgs.append(f"the budget {P.budget:g} is negative")
    for r in range(P.m):
        if P.stock[r] < 0:
            msgs.append(f"the stock of {P.resources[r]} ({P.stock[r]:g}) is negative")
    if msgs:
        raise InfeasibleError("the scenario is infeasible: " + "; ".join(msgs))


_GROUP_LABEL = {
    "min": "region minimums", "stock": "national stock", "budget": "budget",
    "coverage_floor": "coverage floor", "max_gap": "cap on the max-min gap", "max_gini": "Gini cap",
    "no_worse_off": "no-region-worse-off rule of pooling",
}


def _diagnose(mod: _Model, sol: Solution) -> None:
    """Deletion filter over constraint groups: find a minimal set whose removal restores feasibility."""
    if sol.status != "infeasible":
        raise InfeasibleError(f"the solver stopped with status '{sol.status}' (no solution found)")
    P = mod.P
    groups = ["min"] + [g for g in ("stock", "budget", "coverage_floor", "max_gap", "no_worse_off")
                        if g in mod.groups] + (["max_gini"] if mod.gini_groups else [])
    if P.stock is not None:
        groups = [g for g in groups if g != "stock"] + [f"stock:{r}" for r in mod.stock_rows]

    def feasible(relaxed: set[str]) -> bool:
        lm = mod.build()
        for g in relaxed:
            if g == "min":
                lm.set_col_bounds(np.arange(P.n * P.m), 0.0, mod.xhi)
                lm.set_col_bounds(np.arange(mod.cv, mod.cz), mod.v_lo_nomin, mod.col_hi[mod.cv:mod.cz])
            elif g.startswith("stock:"):
                lm.set_row_bounds([mod.stock_rows[int(g.split(":")[1])]], -np.inf, np.inf)
            elif g == "max_gap":
                lm.set_row_bounds(mod.groups["max_gap"], -np.inf, np.inf)
            elif g == "max_gini":
                pass  # no cuts are added below
            else:
                lm.set_row_bounds(mod.groups[g], -np.inf, np.inf)
        lm.set_costs(np.zeros(mod.ncol))
        if "max_gini" in relaxed:
            mod_gini, mod.gini_groups = mod.gini_groups, {}
            try:
                return _lp_solve(mod, lm).ok
            finally:
                mod.gini_groups = mod_gini
        return _lp_solve(mod, lm).ok

    if not feasible(set(groups)):
        raise InfeasibleError("the scenario is infeasible even without minimums, stock, budget and fairness "
                              "bounds; check the input numbers")
    # deletion filter proper: start from all constraints, drop each if still infeasible without it
    active = list(groups)
    for g in list(active):
        rest = [h for h in active if h != g]
        if not feasible(set(groups) - set(rest)):  # still infeasible with only `rest` -> g not needed
            active = rest
    names = []
    for g in active:
        if g.startswith("stock:"):
            r = int(g.split(":")[1])
            names.append(f"national {P.resources[r]} stock ({P.stock[r]:g})")
        elif g == "budget":
            names.append(f"budget ({P.budget:,.0f})")
        elif g == "min":
            tot = ", ".join(f"{P.resources[r]} {P.min_alloc[:, r].sum():g}" for r in range(P.m)
                            if P.min_alloc[:, r].any())
            names.append(f"region minimums ({tot})")
        elif g == "coverage_floor":
            names.append(f"coverage floor (no region below {P.coverage_floor:.0%} of the national share)")
        elif g == "max_gap":
            names.append(f"cap on the max-min share gap ({P.max_gap:.0%})")
        elif g == "max_gini":
            names.append(f"cap on the Gini coefficient of shares ({P.max_gini:.2f})")
        else:
            names.append(_GROUP_LABEL.get(g, g))
    raise InfeasibleError("the scenario is infeasible: these constraints conflict: " + " and ".join(names))


def allocate(P: AllocationProblem, *, time_limit: float | None = None, method: str = "auto") -> AllocationResult:
    """Solve an allocation problem and explain the answer.

    Parameters
    ----------
    P : AllocationProblem
        The scenario (see :class:`AllocationProblem` and the module docstring for the formulation).
    time_limit : float, optional
        Seconds per HiGHS call (MIP only matters).
    method : {"auto", "lp", "waterfill"}
        ``auto`` solves a separable leximin problem (no pooling) by exact water-filling
        (:mod:`equicare.optimize.waterfill`) when its answer also meets the inequality bounds, and
        everything else by LPs on HiGHS; ``lp`` always uses the LPs; ``waterfill`` insists on
        water-filling (error if it does not apply).

    Returns
    -------
    AllocationResult

    Raises
    ------
    InfeasibleError
        When constraints conflict; the message names them (e.g. minimums above the stock).
    """
    from equicare.optimize.explain import explain
    from equicare.optimize.waterfill import separable, waterfill

    if method not in ("auto", "lp", "waterfill"):
        raise EquicareError(f"method must be 'auto', 'lp' or 'waterfill', not {method!r}")
    t0 = time.perf_counter()
    _precheck(P)
    mod = _Model(P)
    if method != "lp" and separable(mod):
        run = waterfill(mod)
        if run is not None:
            if mod.integ.any():
                run.x_int = _integerise(mod, run.sol)
            return explain(mod, run, time.perf_counter() - t0)
    if method == "waterfill":
        raise EquicareError("water-filling applies only to leximin without pooling, with every scenario "
                            "weight > 0 and inequality bounds that the unbounded answer meets; use method='lp'")
    nwo = None
    n_solves = 0
    if mod.T and P.pooling.no_worse_off:
        # baseline without pooling: transfers fixed at zero
        lm0 = mod.build(time_limit=time_limit)
        lm0.set_col_bounds(np.arange(mod.ct, mod.ct + mod.T), 0.0, 0.0)
        base = _solve(mod, lm0)
        n_solves += base.n_solves
        nwo = np.maximum(mod.Sh @ base.sol.x[mod.cv:mod.cz] - 1e-7, 0.0)
    lm = mod.build(time_limit=time_limit)
    run = _solve(mod, lm, nwo)
    run.n_solves += n_solves
    if mod.integ.any() and mod.gini_groups and run.x_int is None:  # a MIP: its cap holds on v, not on the units
        run.x_int = _trimmed_mip(mod, run.sol)
    run.gini_rows = lm.__dict__.get("gini_rows", {})  # the cuts _lp_solve added to this model
    res = explain(mod, run, time.perf_counter() - t0)
    return res


# ------------------------------------------------------------------------------------------------
# the one-resource stockpile case (foundation demo)
# ------------------------------------------------------------------------------------------------
@dataclass
class StockpileResult:
    """A national stockpile shared across regions (one resource type).

    Attributes
    ----------
    table : DataFrame
        One row per region: ``region, name, need, cap, allocated, share_met, binding, explanation``.
    min_share : float
        The smallest share of need met among regions with need.
    total_allocated : float
    stock : float
    stock_shadow_price : float
        d(min share)/d(stock), from the dual of the stock row in the first max-min LP (0 when the
        minimum share is set by a region's absorption cap; for integer units, of the LP relaxation).
    stock_level, stock_level_shadow_price : float or None
        The lowest share level that the stock limits (regions there are short only because the stock
        ran out) and its derivative d(level)/d(stock) from the dual at that stage of the max-min LPs;
        equal to ``min_share`` and ``stock_shadow_price`` unless capped regions sit lower.  None when the
        stock does not bind.
    stock_marginal_coverage : float or None
        d(total need met)/d(stock) from the final LP (1 while some region could absorb more, else 0).
    solve_seconds : float
    result : AllocationResult
        The full general-engine result.
    """

    table: pd.DataFrame
    min_share: float
    total_allocated: float
    stock: float
    stock_shadow_price: float | None
    stock_marginal_coverage: float | None
    solve_seconds: float
    result: AllocationResult
    stock_level: float | None = None
    stock_level_shadow_price: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary with one record per region."""
        return {
            "min_share": _f(self.min_share),
            "total_allocated": _f(self.total_allocated),
            "stock": _f(self.stock),
            "stock_shadow_price": _f(self.stock_shadow_price),
            "stock_marginal_coverage": _f(self.stock_marginal_coverage),
            "stock_level": _f(self.stock_level),
            "stock_level_shadow_price": _f(self.stock_level_shadow_price),
            "solve_seconds": self.solve_seconds,
            "regions": _records(self.table),
        }


def allocate_stockpile(region_ids: Sequence[str], need, stock: float, cap=None, integer: bool = False,
                       region_names: Sequence[str] | None = None, resource: str = "surge ICU beds",
                       unit: str = "bed") -> StockpileResult:
    """Share a national stockpile of one resource across regions by lexicographic max-min fairness.

    This is :func:`allocate` with one resource, no existing capacity and demand equal to ``need``:
    maximise the smallest share of need met ``x_i / need_i``, then the next smallest, ..., then the total,
    subject to ``sum x_i <= stock`` and ``0 <= x_i <= min(need_i, cap_i)``.  In the continuous case the
    answer is water-filling: every region gets ``min(cap_i, need_i, L * need_i)`` with the common level
    ``L`` set so that the stock is used up (or everyone is at their cap).

    Parameters
    ----------
    region_ids : sequence of str
    need : array_like
        Units lacking in each region (non-negative).
    stock : float
        Units in the national stockpile.
    cap : array_like, optional
        Most units each region can absorb (e.g. staff them); default unlimited.
    integer : bool
        Whole units only (then the allocation maximises the minimum share, then total, on a MIP).
    region_names : sequence of str, optional
    resource, unit : str
        Words used in the explanations.

    Returns
    -------
    StockpileResult

    Raises
    ------
    EquicareError
        Bad input (negative need, lengths differ).
    InfeasibleError
        Never for valid input (zero allocation is always feasible); kept for the general engine.
    """
    ids = [str(r) for r in region_ids]
    need = np.asarray(need, dtype=float).ravel()
    n = len(ids)
    if need.shape != (n,):
        raise EquicareError(f"need has {need.size} values for {n} regions")
    if len(set(ids)) != n:
        raise EquicareError("region ids must be unique")
    if np.any(~np.isfinite(need)) or np.any(need < 0):
        bad = [ids[i] for i in np.flatnonzero(~np.isfinite(need) | (need < 0))[:5]]
        raise EquicareError(f"need must be finite and non-negative (bad: {', '.join(bad)})")
    if not np.isfinite(stock) or stock < 0:
        raise EquicareError(f"stock must be a non-negative number, not {stock!r}")
    capv = np.full(n, np.inf) if cap is None else np.asarray(cap, dtype=float).ravel()
    if capv.shape != (n,):
        raise EquicareError(f"cap has {capv.size} values for {n} regions")
    if np.any(np.isnan(capv)) or np.any(capv < 0):
        raise EquicareError("cap must be non-negative (use inf for no cap)")
    names = list(region_names) if region_names is not None else ids
    P = AllocationProblem(regions=ids, resources=[resource], capacity=np.zeros((n, 1)),
                          demand=need.reshape(1, n, 1), scenario_names=["point"], stock=np.array([stock]),
                          max_alloc=capv.reshape(n, 1), integer=np.array([integer]), region_names=names,
                          units={resource: unit})
    res = allocate(P)
    a = res.allocation
    table = pd.DataFrame({
        "region": a["region"].to_numpy(), "name": a["name"].to_numpy(), "need": need, "cap": capv,
        "allocated": a["allocated"].to_numpy(), "share_met": a["share_met"].to_numpy(),
        "binding": a["binding"].to_numpy(), "explanation": a["explanation"].to_numpy(),
    })
    sp_ = res.shadow_prices.get(f"stock:{resource}", {})
    return StockpileResult(table=table, min_share=res.min_share, total_allocated=float(a["allocated"].sum()),
                           stock=float(stock), stock_shadow_price=sp_.get("d_min_share"),
                           stock_marginal_coverage=sp_.get("d_covered"), solve_seconds=res.solve_seconds,
                           result=res, stock_level=sp_.get("level"), stock_level_shadow_price=sp_.get("d_level"))
