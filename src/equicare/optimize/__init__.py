"""equicare.optimize: fair allocation of scarce resources and facility location on HiGHS.

- :func:`equicare.optimize.allocate.allocate_stockpile`: one national stockpile across regions
  (lexicographic max-min fairness, explanations, shadow price of the stock).
- :func:`equicare.optimize.allocate.allocate`: the general multi-resource model (budget, stocks,
  minimums/caps, demand scenarios, inequality bounds, pooling).
- :mod:`equicare.optimize.scenario`: the YAML scenario file behind ``equicare allocate``.
- :mod:`equicare.optimize.locate`: p-median, capacitated p-median, MCLP, LSCP and p-center.
"""

# facility location (equicare.optimize.location)
from equicare.optimize.location import (  # noqa: E402
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
