"""p-median (the capacitated p-median is in :mod:`.capacitated`).

Formulations
------------
p-median (Hakimi 1964), solved exactly with the ordered-distance ("radius") formulation of Elloumi
(2010) in its chained form: for demand *i* with sites sorted by cost ``D_i1 <= D_i2 <= ...``, the
variable ``z_ik`` is 1 when none of its *k* nearest sites is open:

.. math::

    \\min \\sum_i w_i \\Big(D_{i1} + \\sum_{k<K_i} (D_{i,k+1}-D_{ik})\\,z_{ik}\\Big)\\quad
    z_{ik} \\ge z_{i,k-1} - y_{j_{ik}},\\; z_{i0}=1,\\; \\sum_j y_j = p,\\; y \\in \\{0,1\\}.

Its LP bound equals that of the classical strong formulation (ReVelle and Swain 1970) but it needs far
fewer variables when each demand keeps only its ``K_i`` nearest sites.  Truncation gives a lower bound;
the solution is optimal for the full problem when every demand has an open site among its kept sites,
otherwise ``K_i`` is doubled for the demands that do not and the model is re-solved (exact).  A demand
whose table lists only some sites (a sparse table) and keeps them all gets the closing row
``y_{j_iK} >= z_{i,K-1}``: one of its sites must open.

On large instances a Lagrangian relaxation of the assignment constraints (Cornuejols, Fisher and
Nemhauser 1977; Beasley 1993), vertex substitution and reduced-cost fixing of sites come first.

References
----------
Elloumi, S. (2010). A tighter formulation of the p-median problem. *Journal of Combinatorial
Optimization* 19, 69-83.
ReVelle, C. S. and Swain, R. W. (1970). Central facilities location. *Geographical Analysis* 2, 30-42.
Beasley, J. E. (1993). Lagrangean heuristics for location problems. *European Journal of Operational
Research* 65, 383-399.
Daskin, M. S. (2013). *Network and Discrete Location*, 2nd ed. Wiley.
"""

from __future__ import annotations

import time

import numpy as np

from equicare.optimize.location.costs import check_p, prepare_rows
from equicare.optimize.location.coverage import check_reach_rows
from equicare.optimize.location.median_exact import solve_p_median
from equicare.optimize.location.progress import Deadline, Progress, relative_gap
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.rows import nearest_open


def p_median(cost, weights=None, p: int | None = None, open_sites=None, site_ids=None, demand_ids=None,
             time_limit: float | None = None, gap: float = 1e-6, reduce: bool = True,
             deadline: Deadline | None = None, progress: Progress | None = None,
             method: str = "auto") -> LocationResult:
    """Minimise total demand-weighted cost of serving every demand point from its nearest of *p* open sites.

    Parameters
    ----------
    cost : ndarray, shape (n_demand, n_site), or SortedRows
        Cost of serving each demand point from each site (``inf`` = the pair is not in the table: that
        site cannot serve that point), or the allowed pairs sorted per point (sparse tables).
    weights : ndarray, shape (n_demand,)
        Demand.
    p : int
        Number of sites to open (including forced ones).
    open_sites : sequence of str, optional
        Site ids that must be open (existing facilities).
    site_ids, demand_ids : sequence of str, optional
    time_limit : float, optional
        Seconds for the whole solve (ignored when ``deadline`` is given); the best solution found is
        returned with its proven ``bound`` and ``gap``.
    gap : float
        Relative gap at which to stop (``(objective - bound) / objective``).
    reduce : bool
        Run the Lagrangian bound and variable fixing before the MIP (default).  Off: the radius MIP on
        every pair (for checking; exact either way).
    method : str
        How the model left after the fixing is solved: ``"auto"`` (default), ``"tree"`` (branch and bound
        on the sites with Lagrangian bounds) or ``"mip"`` (HiGHS on the kept pairs); see
        :func:`.median_exact.solve_p_median`.
    deadline, progress : optional
        A deadline shared with the rest of a command, and console progress.

    Returns
    -------
    LocationResult
        ``objective`` = sum of demand x cost to the assigned (nearest open) site; ``bound`` a proven lower
        bound; ``proven_optimal`` when ``gap`` is within the requested one.

    Raises
    ------
    InfeasibleError
        When no choice of *p* sites (the forced ones among them) reaches every demand point.
    """
    deadline = deadline or Deadline(time_limit)
    progress = progress or Progress(False, deadline)
    t0 = time.perf_counter()
    rows, w, forced, site_ids, demand_ids = prepare_rows(cost, weights, open_sites, site_ids, demand_ids)
    m = rows.n_site
    check_p(p, m, forced)
    check_reach_rows(rows, p, forced, demand_ids, "p-median")
    progress.label = progress.label or f"p-median p={p}"
    sol = solve_p_median(rows, w, int(p), forced, deadline, gap=gap, progress=progress, reduce=reduce,
                         method=method)
    site, d = nearest_open(rows, sol.is_open)
    objective = float(np.dot(w, d))
    bound = min(sol.bound, objective)
    g = relative_gap(objective, bound)
    assignment = {demand_ids[i]: (site_ids[site[i]] if site[i] >= 0 else None) for i in range(len(demand_ids))}
    return LocationResult("pmedian", objective, [site_ids[j] for j in np.flatnonzero(sol.is_open)], assignment,
                          g, time.perf_counter() - t0, sol.details, bound=bound, proven_optimal=g <= 1e-6)
