"""The allocation problem: what one run needs, validated once and then frozen.

:class:`AllocationProblem` stores the planner's settings (scikit-learn style: given once, checked once,
never changed afterwards; use :func:`dataclasses.replace` for a variant, which validates again).  Arrays
are normalised to their full shapes (e.g. ``stock`` ``(m,)`` with ``inf`` for "unlimited") and made
read-only.  The bounds of every numeric setting come from :mod:`equicare.params`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from equicare import params
from equicare.errors import EquicareError

OBJECTIVES = params.OBJECTIVES
UNCERTAINTY = ("expected", "quantile")


def _frozen_array(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
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
        Every region keeps at least the share of need met it gets without pooling (the reference is solved
        under the same constraints, with every transfer fixed at zero).
    """

    pairs: pd.DataFrame
    max_distance: float = np.inf
    resources: list[str] | None = None
    cost_per_unit: float = 0.0
    cost_per_unit_distance: float = 0.0
    no_worse_off: bool = True

    def __post_init__(self) -> None:
        missing = [c for c in ("origin", "destination", "distance") if c not in self.pairs.columns]
        if missing:
            raise EquicareError(f"pooling pairs need columns origin, destination, distance (missing: "
                                f"{', '.join(missing)})")
        for name in ("cost_per_unit", "cost_per_unit_distance"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise EquicareError(f"pooling {name} must be a non-negative number, not {v}")
        if not self.max_distance >= 0:
            raise EquicareError(f"pooling max_distance must be >= 0, not {self.max_distance}")


@dataclass(frozen=True, eq=False)
class AllocationProblem:
    """Everything one allocation run needs (see :mod:`equicare.optimize.allocation` for the model).

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
        Probabilities (default equal; normalised to sum 1).
    unit_cost : ndarray, shape (m,), optional
        Money per unit of each resource (default 1).
    budget : float, optional
        Money available.
    stock : ndarray, shape (m,), optional
        Units available of each type (``inf`` = unlimited).
    min_alloc, max_alloc : ndarray, shape (n, m), optional
        Per-region minimum and maximum (absorption cap) of new units.
    integer : ndarray of bool, shape (m,), optional
        Indivisible resource types (whole units).
    weight : ndarray, shape (m,), optional
        Value of covering one unit of need of each type in the coverage objective (default 1).
    objective : {"leximin", "min_unmet", "weighted"}
    fairness_weight : float
        ``w`` in the weighted objective, in [0, 1] (:data:`equicare.params.FAIRNESS_WEIGHT`).
    uncertainty : {"expected", "quantile"}
        Optimise expected coverage over all scenarios, or plan for one chosen scenario (robust).
    design_scenario : str, optional
        The scenario to meet in quantile mode.
    coverage_floor : float, optional
        ``alpha`` in [0, 1]: no region's share below ``alpha`` times the national share.
    max_gap : float, optional
        Cap in [0, 1] on the largest minus the smallest share (per resource).
    max_gini : float, optional
        Cap in [0, 1] on the need-weighted Gini coefficient of the shares across regions (per resource).
    quality : ndarray, shape (n,), optional
        Quality rating of each region/facility (higher is better), used to prefer better places.
    quality_weight : float
        Strength of the quality preference (value per unit placed per rating point, relative to covering
        one unit of need), >= 0.
    pooling : Pooling, optional
    facilities : DataFrame, optional
        Facilities under the regions (``facility, region[, name, quality]``): each region's new units are
        placed at its facilities best-rated first (:mod:`equicare.optimize.facilities`).
    facility_caps : ndarray, shape (len(facilities), m), optional
        Units of each type each facility can take (``inf`` = no cap); the region caps become at most the
        sum over its facilities.
    cap_at_need : bool
        Never place more units than the largest scenario's need minus existing capacity (for whole units:
        rounded up, so a region needing 0.3 of a unit can receive one).
    region_names : list of str, optional
    units : dict, optional
        Unit word per resource for the explanations (e.g. ``{"icu_beds": "bed"}``).

    Raises
    ------
    EquicareError
        A setting out of its range, shapes that do not match, unknown names.
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
    fairness_weight: float = params.FAIRNESS_WEIGHT.default
    uncertainty: str = "expected"
    design_scenario: str | None = None
    coverage_floor: float | None = params.COVERAGE_FLOOR.default
    max_gap: float | None = params.MAX_GAP.default
    max_gini: float | None = params.MAX_GINI.default
    quality: np.ndarray | None = None
    quality_weight: float = params.QUALITY_WEIGHT.default
    pooling: Pooling | None = None
    facilities: pd.DataFrame | None = None
    facility_caps: np.ndarray | None = None
    cap_at_need: bool = True
    region_names: list[str] | None = None
    units: dict[str, str] | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "regions", [str(r) for r in self.regions])
        put(self, "resources", [str(r) for r in self.resources])
        put(self, "scenario_names", [str(s) for s in self.scenario_names])
        n, m = len(self.regions), len(self.resources)
        try:
            capacity = np.asarray(self.capacity, dtype=float).reshape(n, m)
            demand = np.asarray(self.demand, dtype=float).reshape(-1, n, m)
        except ValueError as exc:
            raise EquicareError(f"capacity must have shape ({n}, {m}) and demand (S, {n}, {m}): {exc}") from None
        S = demand.shape[0]
        if len(self.scenario_names) != S:
            raise EquicareError(f"{S} demand scenarios but {len(self.scenario_names)} scenario names")
        w = np.full(S, 1.0 / S) if self.scenario_weights is None else np.asarray(self.scenario_weights, float)
        if w.shape != (S,) or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise EquicareError("scenario weights must be non-negative, one per scenario, not all zero")

        def vec(v, fill, dtype=float):
            return np.full(m, fill, dtype) if v is None else np.broadcast_to(np.asarray(v, dtype), (m,))

        def mat(v, fill):
            return np.full((n, m), fill) if v is None else np.broadcast_to(np.asarray(v, float), (n, m))

        max_alloc = mat(self.max_alloc, np.inf)
        for name, arr in (("capacity", capacity), ("demand", demand)):
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise EquicareError(f"{name} must be finite and non-negative")
        if self.objective not in OBJECTIVES:
            raise EquicareError(f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if self.uncertainty not in UNCERTAINTY:
            raise EquicareError(f"uncertainty must be 'expected' or 'quantile', not {self.uncertainty!r}")
        if self.uncertainty == "quantile":
            if self.design_scenario is None:
                raise EquicareError("uncertainty 'quantile' needs design_scenario (e.g. 'q0.9')")
            if self.design_scenario not in self.scenario_names:
                raise EquicareError(f"design scenario {self.design_scenario!r} is not one of the scenarios "
                                    f"{', '.join(self.scenario_names)}")
        for p in (params.FAIRNESS_WEIGHT, params.MAX_GINI, params.COVERAGE_FLOOR, params.MAX_GAP,
                  params.QUALITY_WEIGHT):
            p.check(getattr(self, p.name), label=p.name)
        if self.budget is not None:
            put(self, "budget", float(self.budget))
        if self.pooling is not None:
            for rname in self.pooling.resources or []:
                if rname not in self.resources:
                    raise EquicareError(f"pooling resource {rname!r} is not one of the resources "
                                        f"{', '.join(self.resources)}")
        if self.facilities is not None:
            from equicare.optimize.facilities import region_caps

            missing = [c for c in ("facility", "region") if c not in self.facilities.columns]
            if missing:
                raise EquicareError(f"the facilities table needs columns facility and region (missing: "
                                    f"{', '.join(missing)})")
            if "quality" not in self.facilities.columns:
                put(self, "facilities", self.facilities.assign(quality=np.nan))
            F = len(self.facilities)
            fc = np.full((F, m), np.inf) if self.facility_caps is None else np.asarray(self.facility_caps, float)
            if fc.shape != (F, m):
                raise EquicareError(f"facility_caps must have shape ({F}, {m}), not {fc.shape}")
            put(self, "facility_caps", _frozen_array(fc))
            max_alloc = np.minimum(max_alloc, region_caps(self.facilities, fc, list(self.regions)))
        if self.quality is not None:
            q = np.asarray(self.quality, float).reshape(n)
            fill = float(np.nanmean(q)) if np.any(np.isfinite(q)) else 0.0
            put(self, "quality", _frozen_array(np.nan_to_num(q, nan=fill)))
        put(self, "capacity", _frozen_array(capacity))
        put(self, "demand", _frozen_array(demand))
        put(self, "scenario_weights", _frozen_array(w / w.sum()))
        put(self, "unit_cost", _frozen_array(vec(self.unit_cost, 1.0)))
        put(self, "stock", _frozen_array(vec(self.stock, np.inf)))
        put(self, "min_alloc", _frozen_array(mat(self.min_alloc, 0.0)))
        put(self, "max_alloc", _frozen_array(max_alloc))
        put(self, "integer", _frozen_array(vec(self.integer, False, bool)))
        put(self, "weight", _frozen_array(vec(self.weight, 1.0)))
        if self.region_names is None:
            put(self, "region_names", list(self.regions))

    @property
    def n(self) -> int:
        """Number of regions."""
        return len(self.regions)

    @property
    def m(self) -> int:
        """Number of resource types."""
        return len(self.resources)

    def unit(self, r: int) -> str:
        """The unit word of resource ``r`` (``"unit"`` when none is given)."""
        u = (self.units or {}).get(self.resources[r])
        return u if u else "unit"
