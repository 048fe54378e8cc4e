"""Fair allocation of scarce resources across regions: one linear/mixed-integer model on HiGHS.

Modules (imports flow down this list): :mod:`.problem` (the frozen problem), :mod:`.lp` (named column and
row blocks), :mod:`.gini` (the Gini cap), :mod:`.diagnose` (infeasibility), :mod:`.trace`, :mod:`.leximin`
and :mod:`.waterfill` (solve strategies), :mod:`.integer` (whole units), :mod:`.result`, :mod:`.explain`
(typed results with explanations) and :mod:`.api` (:func:`allocate`, :func:`allocate_stockpile`).

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
two-stage (maximise the minimum share, then total coverage at that level); for leximin they are placed by
greedy water-filling (exact for one stock per type) or, when something else couples the regions and the
size allows, by that two-stage MIP on the actual shares (:mod:`.integer`).

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


from equicare.optimize.allocation.api import METHODS, allocate, allocate_stockpile
from equicare.optimize.allocation.gini import weighted_gini
from equicare.optimize.allocation.integer import IntegerReport
from equicare.optimize.allocation.problem import OBJECTIVES, AllocationProblem, Pooling
from equicare.optimize.allocation.result import AllocationResult, ShadowPrice, StockpileResult

__all__ = ["METHODS", "OBJECTIVES", "AllocationProblem", "AllocationResult", "IntegerReport", "Pooling",
           "ShadowPrice", "StockpileResult", "allocate", "allocate_stockpile", "weighted_gini"]
