"""Typed results of an allocation: :class:`AllocationResult`, :class:`ShadowPrice`, :class:`StockpileResult`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from equicare.jsonsafe import number, records
from equicare.optimize.allocation.integer import IntegerReport
from equicare.optimize.allocation.problem import AllocationProblem


@dataclass(frozen=True)
class ShadowPrice(Mapping):
    """What one more unit of a constraint's bound is worth (LP duals, HiGHS convention).

    Attributes
    ----------
    d_min_share : float or None
        Derivative of the minimum share (from the first max-min LP); None for a MIP.
    d_covered : float or None
        Derivative of total weighted expected coverage (from the final LP); None for a MIP.
    level, d_level : float or None
        Shared constraints (``stock:<r>``, ``budget``): the lowest share level it limits and d(level)/d(bound).
    gini, over_cap : float, bool or None
        Gini caps: the Gini reached and whether whole units left it above the cap.

    Reads like the dict it replaces (``sp["d_covered"]``, ``sp.get("level")``): the keys are the
    attributes that apply to this kind of constraint.
    """

    d_min_share: float | None = None
    d_covered: float | None = None
    level: float | None = None
    d_level: float | None = None
    gini: float | None = None
    over_cap: bool | None = None
    keys_: tuple[str, ...] = field(default=("d_min_share", "d_covered"), repr=False)

    def __getitem__(self, key: str):
        if key not in self.keys_:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_)

    def __len__(self) -> int:
        return len(self.keys_)

    def to_dict(self) -> dict[str, Any]:
        """The keys that apply, as JSON numbers (``over_cap`` as 1.0/0.0, as before the dataclass)."""
        return {k: number(getattr(self, k)) for k in self.keys_}


@dataclass
class AllocationResult:
    """A solved allocation.

    Attributes
    ----------
    allocation : DataFrame
        One row per region and resource: ``region, name, resource, capacity, need, allocated,
        transfers_in, transfers_out, effective, covered, share_met, level, cost, binding, explanation``.
        ``need`` is the (expected, or design-scenario) demand; ``covered`` the expected need met.
    transfers : DataFrame
        ``origin, destination, resource, amount, distance``.
    coverage : DataFrame
        Coverage under every scenario: ``scenario, region, resource, demand, covered, share_met``.
    scenario_summary : DataFrame
        Per scenario and resource: total demand, covered, shortfall, minimum share.
    shadow_prices : dict of str to ShadowPrice
        Keys ``stock:<r>``, ``budget``, ``coverage_floor:<r>``, ``max_gap:<r>``, ``max_gini:<r>``.
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
        units can reach; ``min_share_lp_bound - min_share`` is the loss from rounding.
    whole_units : IntegerReport or None
        With whole units: how they were found (greedy or MIP), the MIP's bound and the rounding loss.
    floor_violations : DataFrame
        Rows whose actual share is below the coverage floor (possible only with whole units):
        ``region, resource, share_met, floor, national_share``; empty when the floor holds or is not set.
    reference_shares : ndarray, shape (n, m), or None
        With pooling and ``no_worse_off``: each region's share without transfers (same problem otherwise),
        the least pooling may leave it.
    """

    problem: AllocationProblem
    allocation: pd.DataFrame
    transfers: pd.DataFrame
    coverage: pd.DataFrame
    scenario_summary: pd.DataFrame
    shadow_prices: dict[str, ShadowPrice]
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
    whole_units: IntegerReport | None = None
    floor_violations: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    reference_shares: np.ndarray | None = field(repr=False, default=None)

    def national_shares(self) -> dict[str, float]:
        """Need-weighted share of need met per resource (covered / need over all regions)."""
        a = self.allocation
        g = a.groupby("resource", sort=False)[["covered", "need"]].sum()
        return {r: float(c / d) if d > 0 else 1.0 for r, c, d in zip(g.index, g["covered"], g["need"])}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary plus the allocation, transfers and scenario coverage."""
        return {
            "status": self.status,
            "objective": self.problem.objective,
            "uncertainty": self.problem.uncertainty,
            "min_share": number(self.min_share),
            "min_share_lp_bound": number(self.min_share_lp_bound),
            "total_allocated": {k: number(v) for k, v in self.total_allocated.items()},
            "total_cost": number(self.total_cost),
            "total_covered": number(self.total_covered),
            "shadow_prices": {k: v.to_dict() for k, v in self.shadow_prices.items()},
            "solve_seconds": self.solve_seconds,
            "n_solves": self.n_solves,
            "allocation": records(self.allocation),
            "transfers": records(self.transfers),
            "scenarios": records(self.scenario_summary),
            "facilities": records(self.facilities),
        }


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
        keys = ("min_share", "total_allocated", "stock", "stock_shadow_price", "stock_marginal_coverage",
                "stock_level", "stock_level_shadow_price")
        return {**{k: number(getattr(self, k)) for k in keys}, "solve_seconds": self.solve_seconds,
                "regions": records(self.table)}
