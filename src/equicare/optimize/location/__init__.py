"""Facility location on HiGHS: p-median, capacitated p-median, MCLP, LSCP and p-center.

One module per model family, each taking a cost table (demand points x candidate sites; a missing pair
means that site cannot serve that point) and returning a :class:`LocationResult`:

- :mod:`.costs`: :class:`CostTable` and the checks every model shares;
- :mod:`.median`: :func:`p_median` (engine: :mod:`.median_exact`, :mod:`.median_bound`, :mod:`.median_mip`);
- :mod:`.capacitated`: :func:`capacitated_p_median`;
- :mod:`.coverage`: :func:`mclp`;
- :mod:`.setcover`: :func:`lscp` (and the exact cover test behind the p-center);
- :mod:`.center`: :func:`p_center`;
- :mod:`.heuristics`: greedy adding, vertex substitution, reduced-cost fixing;
- :mod:`.api`: :func:`locate` (dispatch by model name) and :func:`locate_files` (``equicare locate``).

Each module's docstring gives its formulation and sources.
"""

from equicare.optimize.location.api import MODELS, locate, locate_files
from equicare.optimize.location.center import p_center
from equicare.optimize.location.costs import CostTable, cost_table_from_long
from equicare.optimize.location.coverage import mclp
from equicare.optimize.location.capacitated import capacitated_p_median
from equicare.optimize.location.median import p_median
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.setcover import lscp

__all__ = ["MODELS", "CostTable", "LocationResult", "capacitated_p_median", "cost_table_from_long", "locate",
           "locate_files", "lscp", "mclp", "p_center", "p_median"]
