"""equicare.optimize: fair allocation of scarce resources and facility location on HiGHS.

- :mod:`equicare.optimize.allocation`: the allocation model.  :func:`allocate` solves an
  :class:`AllocationProblem` (budget, stocks, minimums/caps, demand scenarios, inequality bounds, pooling,
  whole units) into an :class:`AllocationResult`; :func:`allocate_stockpile` shares one national stockpile.
- :mod:`equicare.optimize.scenario`: the YAML scenario file behind ``equicare allocate``.
- :mod:`equicare.optimize.facilities`: placing a region's units at its facilities, best-rated first.
- :mod:`equicare.optimize.location`: p-median, capacitated p-median, MCLP, LSCP and p-center (a module per family).
"""

from equicare.optimize.allocation import (
    OBJECTIVES,
    AllocationProblem,
    AllocationResult,
    IntegerReport,
    Pooling,
    ShadowPrice,
    StockpileResult,
    allocate,
    allocate_stockpile,
    weighted_gini,
)
from equicare.optimize.location import (
    CostTable,
    LocationResult,
    capacitated_p_median,
    cost_table_from_long,
    locate,
    lscp,
    mclp,
    p_center,
    p_median,
)

__all__ = ["OBJECTIVES", "AllocationProblem", "AllocationResult", "CostTable", "IntegerReport", "LocationResult",
           "Pooling", "ShadowPrice", "StockpileResult", "allocate", "allocate_stockpile", "capacitated_p_median",
           "cost_table_from_long", "locate", "lscp", "mclp", "p_center", "p_median", "weighted_gini"]
