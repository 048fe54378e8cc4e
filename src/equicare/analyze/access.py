"""Spatial access to care: the floating-catchment family, gravity, RAAM and nearest-facility cost.

All measures work on a sparse origin x destination cost matrix (see :mod:`equicare.analyze.costs`:
only pairs in reach are stored, zero costs are explicit entries) and are vectorised over its
non-zeros; there is no Python loop over origins or destinations (RAAM's iteration runs in a
compiled numba kernel). ``demand`` has one value per origin (row), ``supply`` one value per
destination (column) or a 2-D array with one column per supply type (e.g. doctors and dentists),
in which case the result has one column per type.

Parameter semantics follow PySAL ``access`` (Saxon et al. 2022, "An open software environment to
make spatial access metrics more accessible", J. Comput. Soc. Sci. 5:265-284), so that, given the
same long cost table, the numbers agree to rounding (the tests check a relative 1e-9 on the
Chicago example data):

* ``max_cost`` keeps pairs with ``cost <= max_cost`` (as ``access``' ``weighted_catchment``).
* step weights ``{c_1: w_1, c_2: w_2, ...}``: a pair at cost ``x`` gets the weight of the
  smallest threshold ``c_k >= x`` and 0 beyond the largest (``access.weights.step_fn``).
* gravity ``f(x) = (max(x, min_dist) / scale) ** alpha`` with ``alpha`` given with its sign
  (negative for decay), ``access.weights.gravity``.
* Gaussian ``f(x) = exp(-x^2 / (2 sigma^2))``, not normalised (``access.weights.gaussian``).
* RAAM's ``tau`` is the travel cost equivalent to a congestion of 100% of the mean
  demand-to-supply ratio ``rho`` (``access.raam``).

Every parameter is range-checked here, in the library, with an
:class:`~equicare.errors.EquicareError` naming it and its value (the command line only passes them
on): ``max_cost >= 0`` (``inf`` allowed), step thresholds and weights finite and ``>= 0`` with at
least one weight ``> 0``, gravity ``scale > 0``, ``alpha <= 0``, ``min_dist >= 0``, Gaussian
``sigma > 0``, RAAM ``tau > 0``, ``rho > 0``, ``max_cycles >= 1`` (whole), ``0 < initial_step <= 1``,
``0 < min_step <= initial_step``, ``half_life > 0`` and ``limit_initial >= 0`` (whole). Where no
default is sensible the parameter is required: 2SFCA without decay weights needs ``max_cost``
(without a catchment every pair in the cost table counts, and on a complete table every origin
gets the same value; pass ``max_cost=inf`` to mean exactly that), E2SFCA and 3SFCA need their
step weights (``access``' default bands are in minutes and fit no other cost unit; they are kept
here as :data:`E2SFCA_DEFAULT_WEIGHTS` and :data:`THREE_SFCA_DEFAULT_WEIGHTS` for costs in minutes),
and RAAM needs ``tau`` (``access``' default, 60, is also in minutes).

Documented differences from ``access`` (none affects an origin with a finite ``access`` value):
an origin with no destination in reach gets 0 (``access`` leaves it missing), and a destination
whose catchment holds no weighted demand contributes nothing (``access`` divides by zero and
propagates ``inf``/``NaN``). ``nearest_cost`` has no ``access`` counterpart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from equicare.analyze.costs import _subset
from equicare.data.readers import rows_text, sheet_row
from equicare.errors import EquicareError

__all__ = [
    "E2SFCA_DEFAULT_WEIGHTS",
    "METHODS",
    "METHOD_PARAMETERS",
    "RAAM_MAX_CYCLES",
    "THREE_SFCA_DEFAULT_WEIGHTS",
    "WeightFunction",
    "access_table",
    "compute_access",
    "enhanced_two_step_fca",
    "fca_ratio",
    "gaussian_weights",
    "gravity",
    "gravity_weights",
    "nearest_cost",
    "normalize_access",
    "parse_step_weights",
    "raam",
    "step_weights",
    "three_step_fca",
    "two_step_fca",
    "weighted_catchment",
]

WeightFunction = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- parameter checks
def _number(name: str, value, *, low: float | None = None, low_open: bool = False, high: float | None = None,
            whole: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a float if it is a number in range, else an :class:`EquicareError` naming ``name``."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else float("nan")
    rule = []
    if low is not None:
        rule.append(f"> {low:g}" if low_open else f">= {low:g}")
    if high is not None:
        rule.append(f"<= {high:g}")
    what = ("a whole number" if whole else "a number") + (" " + " and ".join(rule) if rule else "")
    bad = (not ok or np.isnan(v) or (np.isinf(v) and not allow_inf)
           or (low is not None and (v <= low if low_open else v < low))
           or (high is not None and v > high) or (whole and np.isfinite(v) and v != int(v)))
    if bad:
        shown = f"{v:g}" if ok and not np.isnan(v) else repr(value)
        raise EquicareError(f"{name} must be {what} (value: {shown})")
    return v


def _max_cost(max_cost) -> float | None:
    return None if max_cost is None else _number("max_cost (--max-cost)", max_cost, low=0.0, allow_inf=True)


#: ``access``' default E2SFCA steps (minutes): Luo & Qi (2009).
E2SFCA_DEFAULT_WEIGHTS: dict[float, float] = {10: 1.0, 20: 0.68, 30: 0.22}
#: ``access``' default 3SFCA steps (minutes): Wan, Zou & Sternberg (2012).
THREE_SFCA_DEFAULT_WEIGHTS: dict[float, float] = {10: 0.962, 20: 0.704, 30: 0.377, 60: 0.042}
#: RAAM iterations unless told otherwise (``access``' default).
RAAM_MAX_CYCLES = 150


# --------------------------------------------------------------------------- weight functions
def step_weights(steps: Mapping[float, float]) -> WeightFunction:
    """Step distance-decay weights, vectorised, with ``access.weights.step_fn`` semantics.

    A cost ``x`` gets the weight ``w_k`` of the smallest threshold ``c_k`` with ``x <= c_k``, and 0
    beyond the largest threshold. E.g. ``{4000: 1, 8000: 0.68, 12000: 0.22}`` gives 1 up to 4000,
    0.68 in (4000, 8000], 0.22 in (8000, 12000] and 0 above.
    """
    if not isinstance(steps, Mapping) or not steps:
        raise EquicareError("step weights must be a non-empty mapping threshold -> weight")
    for k, v in steps.items():
        _number("a step weight threshold (--weights)", k, low=0.0)
        _number(f"the step weight at {float(k):g} (--weights)", v, low=0.0)
    keys = np.array(sorted(steps), dtype=float)
    vals = np.array([steps[k] for k in sorted(steps)], dtype=float)
    if not np.any(vals > 0):
        raise EquicareError("step weights are all 0: nothing would be in reach")
    ext = np.append(vals, 0.0)

    def weight(x: np.ndarray) -> np.ndarray:
        return ext[np.searchsorted(keys, np.asarray(x, float), side="left")]

    weight.__doc__ = f"step weights {dict(zip(keys.tolist(), vals.tolist()))}"
    return weight


def gravity_weights(scale: float, alpha: float, min_dist: float = 0.0) -> WeightFunction:
    """Power decay ``f(x) = (max(x, min_dist) / scale) ** alpha`` (``access.weights.gravity``).

    ``alpha`` carries its sign (use a negative value for decay); ``min_dist`` caps the weight of
    very short trips (with ``min_dist = 0`` a zero cost and a negative ``alpha`` give ``inf``).
    """
    scale = _number("gravity scale (--scale)", scale, low=0.0, low_open=True)
    alpha = _number("gravity alpha (--alpha; negative for decay with cost, 0 for none)", alpha, high=0.0)
    min_dist = _number("gravity min_dist (--min-dist)", min_dist, low=0.0)

    def weight(x: np.ndarray) -> np.ndarray:
        return np.power(np.maximum(np.asarray(x, float), min_dist) / scale, alpha)

    return weight


def gaussian_weights(sigma: float) -> WeightFunction:
    """Gaussian decay ``f(x) = exp(-x^2 / (2 sigma^2))``, with ``f(0) = 1`` (``access.weights.gaussian``)."""
    sigma = _number("gaussian sigma (--sigma)", sigma, low=0.0, low_open=True)

    def weight(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        return np.exp(-x * x / (2.0 * sigma**2))

    return weight


# --------------------------------------------------------------------------- helpers
def _prepare(cost: sp.spmatrix, demand: np.ndarray | None, supply: np.ndarray | None):
    if not sp.issparse(cost):
        raise EquicareError("cost must be a scipy sparse matrix (origins x destinations)")
    cost = sp.csr_matrix(cost)
    if not cost.has_canonical_format:
        cost = cost.copy()
        cost.sum_duplicates()
    n, m = cost.shape
    if cost.nnz and not (cost.data.min() >= 0 and np.isfinite(cost.data.max())):
        raise EquicareError("costs must be finite and not negative")
    d = None
    if demand is not None:
        d = np.asarray(demand, float)
        if d.shape != (n,):
            raise EquicareError(f"demand has shape {d.shape}; expected ({n},), one value per origin")
        if np.any(~np.isfinite(d)) or np.any(d < 0):
            raise EquicareError("demand values must be finite and not negative")
    s = None
    if supply is not None:
        s = np.asarray(supply, float)
        if s.ndim not in (1, 2) or s.shape[0] != m:
            raise EquicareError(f"supply has shape {s.shape}; expected ({m},) or ({m}, k), one row per destination")
        if np.any(~np.isfinite(s)) or np.any(s < 0):
            raise EquicareError("supply values must be finite and not negative")
    return cost, d, s


def _within(cost: sp.csr_matrix, max_cost: float | None) -> sp.csr_matrix:
    max_cost = _max_cost(max_cost)
    if max_cost is None:
        return cost
    return _subset(cost, cost.data <= max_cost)


def _weighted(cost: sp.csr_matrix, weight: WeightFunction | None, max_cost: float | None = None) -> sp.csr_matrix:
    """Same structure as ``cost`` with data = weight(cost) (or 1), and 0 beyond ``max_cost``.

    Pairs beyond ``max_cost`` stay as explicit zero entries (cheaper than rebuilding the structure,
    and they add exactly 0 to every sum).
    """
    max_cost = _max_cost(max_cost)
    if weight is None:
        data = np.ones(cost.nnz) if max_cost is None else (cost.data <= max_cost).astype(float)
    else:
        data = np.asarray(weight(cost.data), float)
        if max_cost is not None:
            data = np.where(cost.data <= max_cost, data, 0.0)
    w = sp.csr_matrix((data, cost.indices, cost.indptr), shape=cost.shape, copy=False)
    w.has_sorted_indices = cost.has_sorted_indices
    return w


def _dot(w: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """``w @ x``; a 2-D ``x`` column by column, which scipy does about twice as fast as the
    several-column product (same sums in the same order, so the same numbers)."""
    if x.ndim == 1:
        return np.asarray(w @ x)
    return np.column_stack([w @ x[:, k] for k in range(x.shape[1])])


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    den = den.reshape(den.shape + (1,) * (num.ndim - den.ndim))
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    np.divide(num, den, out=out, where=np.broadcast_to(den != 0, out.shape))
    return out


# --------------------------------------------------------------------------- measures
def weighted_catchment(cost: sp.spmatrix, supply: np.ndarray, weight: WeightFunction | None = None,
                       max_cost: float | None = None) -> np.ndarray:
    """Supply in reach of each origin, optionally distance-weighted (cumulative opportunities).

    .. math:: A_i = \\sum_{j:\\, c_{ij} \\le d_{max}} S_j\\, f(c_{ij})

    Equals ``access.Access.weighted_catchment`` (with ``weight_fn=f``, ``max_cost``).
    Origins with nothing in reach get 0.
    """
    cost, _, s = _prepare(cost, None, supply)
    w = _weighted(cost, weight, max_cost)
    return _dot(w, s)


def gravity(cost: sp.spmatrix, supply: np.ndarray, scale: float, alpha: float, min_dist: float = 0.0,
            max_cost: float | None = None) -> np.ndarray:
    """Gravity (potential) access with power decay.

    .. math:: A_i = \\sum_j S_j \\left(\\frac{\\max(c_{ij}, x_{min})}{s}\\right)^{\\alpha}

    over pairs with :math:`c_{ij} \\le d_{max}`. Same numbers as ``access``'
    ``weighted_catchment(weight_fn=weights.gravity(scale, alpha, min_dist), max_cost=...)``
    (Hansen 1959, "How accessibility shapes land use", J. Am. Inst. Planners 25:73-76).
    For Gaussian decay use :func:`weighted_catchment` with :func:`gaussian_weights`.
    """
    f = gravity_weights(scale, alpha, min_dist)  # checks the parameters
    if alpha < 0 and min_dist <= 0 and sp.issparse(cost):
        c = cost.tocsr().data
        if np.any((c == 0) if max_cost is None else ((c == 0) & (c <= max_cost))):
            raise EquicareError("gravity: a zero cost with min_dist = 0 and a negative alpha gives infinite "
                                "access; set min_dist (e.g. half the smallest non-zero cost)")
    return weighted_catchment(cost, supply, f, max_cost)


def fca_ratio(cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray, max_cost: float,
              demand_cost: sp.spmatrix | None = None) -> np.ndarray:
    """Provider-to-population ratio within a floating catchment (FCA ratio).

    .. math:: A_i = \\frac{\\sum_{j:\\, c_{ij} \\le d} S_j}{\\sum_{k:\\, c^{D}_{ik} \\le d} P_k}

    ``cost`` is origin x destination (supply locations) and ``demand_cost`` is origin x origin
    (the catchment's population); when the destinations are the origins themselves (as for
    census tracts holding both population and doctors) ``demand_cost`` defaults to ``cost``.
    Same numbers as ``access.Access.fca_ratio`` (Luo & Wang 2003, Environ. Plann. B 30:865-884).
    An origin with no population in its catchment gets 0.
    """
    same = demand_cost is None or demand_cost is cost
    cost, d, s = _prepare(cost, demand, supply)
    if same and cost.shape[0] != cost.shape[1]:
        raise EquicareError("fca_ratio: demand_cost (origin x origin) is required when the "
                            "destinations are not the origins themselves")
    w = _weighted(cost, None, max_cost)
    if same:
        pop = np.asarray(w @ d)
    else:
        dcost, _, _ = _prepare(demand_cost, None, None)
        if dcost.shape != (cost.shape[0], cost.shape[0]):
            raise EquicareError(f"fca_ratio: demand_cost has shape {dcost.shape}; expected "
                                f"({cost.shape[0]}, {cost.shape[0]})")
        pop = np.asarray(_weighted(dcost, None, max_cost) @ d)
    sup = _dot(w, s)
    return _safe_ratio(sup, pop)


def two_step_fca(cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray, max_cost: float | None = None,
                 weight: WeightFunction | None = None) -> np.ndarray:
    """Two-step floating catchment area (2SFCA), optionally with distance-decay weights.

    Step 1, for each destination :math:`j`: :math:`R_j = S_j / \\sum_{i:\\, c_{ij} \\le d} P_i f(c_{ij})`.
    Step 2, for each origin :math:`i`: :math:`A_i = \\sum_{j:\\, c_{ij} \\le d} R_j f(c_{ij})`.

    With ``weight=None`` (:math:`f = 1`) this is Luo & Wang (2003) 2SFCA; with step weights it is
    the enhanced 2SFCA (Luo & Qi 2009, Health & Place 15:1100-1107), see
    :func:`enhanced_two_step_fca`. Same numbers as ``access.Access.two_stage_fca``.
    Vectorised as ``D = W^T P``, ``R = S / D``, ``A = W R`` with ``W`` the sparse weight matrix.
    Without ``weight``, ``max_cost`` is required (``np.inf`` counts every pair of the cost matrix,
    which on a complete table gives every origin the same value).

    Returns
    -------
    numpy.ndarray
        ``(n_origins,)``, or ``(n_origins, k)`` for a 2-D ``supply``; supply per unit of demand.
    """
    if max_cost is None and weight is None:
        raise EquicareError("2SFCA needs max_cost (the catchment: pairs with cost <= max_cost are in reach) "
                            "or distance-decay weights; without either, every pair of the cost table counts "
                            "and on a complete table every origin gets the same value (pass max_cost=inf "
                            "if that is what you mean)")
    cost, d, s = _prepare(cost, demand, supply)
    w = _weighted(cost, weight, max_cost)
    dem = np.asarray(w.T @ d)  # weighted demand in each destination's catchment
    ratio = _safe_ratio(s, dem)
    return _dot(w, ratio)


def enhanced_two_step_fca(cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray,
                          weights: Mapping[float, float] | WeightFunction,
                          max_cost: float | None = None) -> np.ndarray:
    """Enhanced 2SFCA (E2SFCA, Luo & Qi 2009): 2SFCA with step weights by travel-cost zone.

    ``weights`` (required) maps zone upper bounds to weights (``access.weights.step_fn`` semantics,
    see :func:`step_weights`), in the unit of ``cost``; ``access``' default for costs in minutes is
    :data:`E2SFCA_DEFAULT_WEIGHTS` ``{10: 1, 20: 0.68, 30: 0.22}``. Same numbers as
    ``access.Access.enhanced_two_stage_fca(weight_fn=step_fn(weights), max_cost=max_cost)``.
    """
    f = _step_or_function(weights, "E2SFCA", E2SFCA_DEFAULT_WEIGHTS)
    return two_step_fca(cost, demand, supply, max_cost=max_cost, weight=f)


def _step_or_function(weights, method: str, usual: Mapping[float, float]) -> WeightFunction:
    if weights is None:
        bands = ",".join(f"{k:g}:{v:g}" for k, v in usual.items())
        raise EquicareError(f"{method} needs step weights 'cost:weight,...' in the unit of the costs (--weights); "
                            f"for costs in minutes the usual bands are {bands}")
    return weights if callable(weights) else step_weights(weights)


def three_step_fca(cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray,
                   weights: Mapping[float, float] | WeightFunction,
                   max_cost: float | None = None) -> np.ndarray:
    """Three-step floating catchment area (3SFCA, Wan, Zou & Sternberg 2012, IJGIS 26:1073-1089).

    Selection weights :math:`G_{ij} = W_{ij} / \\sum_k W_{ik}` (the sum over **all** destinations
    in the cost matrix, as ``access`` does, regardless of ``max_cost``), then
    :math:`R_j = S_j / \\sum_i P_i G_{ij} W_{ij}` and :math:`A_i = \\sum_j R_j G_{ij} W_{ij}`,
    both sums over pairs with :math:`c_{ij} \\le d`. ``weights`` (required) are step weights in the
    unit of ``cost`` or a weight function; ``access``' default for costs in minutes is
    :data:`THREE_SFCA_DEFAULT_WEIGHTS` ``{10: 0.962, 20: 0.704, 30: 0.377, 60: 0.042}``.
    Same numbers as ``access.Access.three_stage_fca``.
    """
    f = _step_or_function(weights, "3SFCA", THREE_SFCA_DEFAULT_WEIGHTS)
    cost, d, s = _prepare(cost, demand, supply)
    wall = np.asarray(f(cost.data), float)
    rows = np.repeat(np.arange(cost.shape[0]), np.diff(cost.indptr))
    wsum = np.bincount(rows, weights=wall, minlength=cost.shape[0])
    g = _safe_ratio(wall, wsum[rows])
    gw = _weighted(cost, None, max_cost)
    gw.data *= g * wall
    dem = np.asarray(gw.T @ d)
    ratio = _safe_ratio(s, dem)
    return _dot(gw, ratio)


def raam(cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray, tau: float | None = None,
         rho: float | None = None, max_cycles: int = RAAM_MAX_CYCLES, initial_step: float = 0.2,
         min_step: float = 0.005, half_life: float = 50, limit_initial: int = 20) -> np.ndarray:
    """Rational Agent Access Model (RAAM, Saxon & Snow 2020, Geogr. Anal. 52:27-53).

    Each origin's demand is assigned to destinations so as to minimise, for each agent, the
    total cost :math:`c_{ij}/\\tau + \\rho^{-1}\\,(\\text{demand at } j) / S_j`; the returned value
    is the demand-weighted total cost of each origin's final assignment (lower is better).
    ``rho`` defaults to the mean demand-to-supply ratio ``sum(P) / sum(S)``; ``tau`` (required, in
    the unit of the costs; ``access``' default is 60 minutes) is the travel cost that equals
    congestion at 100% of ``rho``. The iteration (shifting demand from each
    origin's costliest to its cheapest destination with a step that halves every ``half_life``
    cycles) replicates ``access.raam.iterate_raam`` step for step, on the sparse pairs only, in a
    compiled kernel (:mod:`equicare.analyze._raam_kernel`, numba; compiled on the first call and
    cached on disk where possible) that keeps, per origin, the list of destinations it uses. Ties
    between exactly equal total costs go to the lowest column of ``cost`` (``access``: to the
    first in its own column order, that of a Python set).

    Only origins with demand > 0 and destinations with supply > 0 take part; other origins, and
    origins with no positive-supply destination in reach, get NaN. With a 2-D ``supply`` each
    column is solved separately. Parameters are range-checked (module docstring): ``rho <= 0`` or
    ``max_cycles < 1`` would drop the congestion term and leave travel cost only.
    """
    if tau is None:
        raise EquicareError("RAAM needs tau (--tau): the travel cost, in the unit of the costs, that weighs as "
                            "much as congestion at 100% of the mean demand-to-supply ratio (access' default "
                            "60 is for costs in minutes)")
    tau = _number("RAAM tau (--tau)", tau, low=0.0, low_open=True)
    if rho is not None:
        rho = _number("RAAM rho (--rho, the demand-to-supply ratio)", rho, low=0.0, low_open=True)
    max_cycles = int(_number("RAAM max_cycles (--max-cycles)", max_cycles, low=1.0, whole=True))
    initial_step = _number("RAAM initial_step (share of demand moved per cycle)", initial_step, low=0.0,
                           low_open=True, high=1.0)
    min_step = _number("RAAM min_step", min_step, low=0.0, low_open=True, high=initial_step)
    half_life = _number("RAAM half_life (cycles)", half_life, low=0.0, low_open=True)
    limit_initial = int(_number("RAAM limit_initial (cycles)", limit_initial, low=0.0, whole=True))
    cost, d, s = _prepare(cost, demand, supply)
    if s.ndim == 2:
        return np.column_stack([raam(cost, d, s[:, k], tau, rho, max_cycles, initial_step, min_step,
                                     half_life, limit_initial) for k in range(s.shape[1])])
    n = cost.shape[0]
    out = np.full(n, np.nan)
    if not (s > 0).any() or not (d > 0).any():
        return out
    rho_ = d[d > 0].sum() / s[s > 0].sum() if rho is None else rho
    rows_all = np.repeat(np.arange(n), np.diff(cost.indptr))
    keep = (d[rows_all] > 0) & (s[cost.indices] > 0)
    if not keep.any():
        return out
    sub = _subset(cost, keep)
    active = np.flatnonzero(np.diff(sub.indptr) > 0)
    sub = sub[active]
    sub.sort_indices()
    # numba: imported (and the kernel compiled) on the first call only
    from equicare.analyze import _raam_kernel

    out[active] = _raam_kernel.run(sub, d[active], s * rho_, tau, max_cycles, initial_step, min_step, half_life,
                                   limit_initial)
    return out


def nearest_cost(cost: sp.spmatrix, supply: np.ndarray | None = None, max_cost: float | None = None) -> np.ndarray:
    """Cost from each origin to the nearest destination with supply > 0 (NaN if none in reach).

    .. math:: A_i = \\min_{j:\\, S_j > 0,\\, c_{ij} \\le d} c_{ij}

    With ``supply=None`` every destination counts. Lower is better. No ``access`` counterpart.
    """
    cost, _, s = _prepare(cost, None, supply)
    cost = _within(cost, max_cost)
    if s is None:
        s = np.ones(cost.shape[1])
    two_d = s.ndim == 2
    s2 = s if two_d else s[:, None]
    n = cost.shape[0]
    rows = np.repeat(np.arange(n), np.diff(cost.indptr))
    out = np.full((n, s2.shape[1]), np.nan)
    for k in range(s2.shape[1]):  # loop over supply types only
        ok = s2[cost.indices, k] > 0
        best = np.full(n, np.inf)
        np.minimum.at(best, rows[ok], cost.data[ok])
        out[:, k] = np.where(np.isfinite(best), best, np.nan)
    return out if two_d else out[:, 0]


def normalize_access(values: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Divide access by its demand-weighted mean (``access``' ``normalize=True``).

    .. math:: \\tilde A_i = A_i \\Big/ \\frac{\\sum_k P_k A_k}{\\sum_k P_k}

    Missing values (NaN) are left out of the numerator, as pandas' ``sum`` does in ``access``.
    A value of 1 means "as good as the average person's access".
    """
    a = np.asarray(values, float)
    p = np.asarray(demand, float)
    if p.shape != a.shape[:1] or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise EquicareError("normalize: demand must be one finite value >= 0 per origin, not all 0")
    pw = p if a.ndim == 1 else p[:, None]
    mean = np.nansum(a * pw, axis=0) / p.sum()
    if np.any(mean == 0):
        raise EquicareError("normalize: the population-weighted mean access is 0, so access cannot be "
                            "expressed relative to it")
    return a / mean


#: Methods understood by :func:`compute_access` (and the ``equicare access --method`` option).
METHODS = ("fca", "2sfca", "e2sfca", "gravity", "3sfca", "raam", "nearest")
#: The parameters of :func:`compute_access` each method uses; giving another one is an error.
METHOD_PARAMETERS: dict[str, tuple[str, ...]] = {
    "fca": ("max_cost", "demand_cost"),
    "2sfca": ("max_cost", "weights"),
    "e2sfca": ("max_cost", "weights"),
    "3sfca": ("max_cost", "weights"),
    "gravity": ("max_cost", "scale", "alpha", "min_dist", "sigma"),
    "raam": ("max_cost", "tau", "rho", "max_cycles"),
    "nearest": ("max_cost",),
}


def check_access_parameters(method: str, *, max_cost: float | None = None, weights=None, scale: float | None = None,
                            alpha: float | None = None, min_dist: float | None = None, sigma: float | None = None,
                            tau: float | None = None, rho: float | None = None, max_cycles: int | None = None,
                            demand_cost=None) -> str:
    """The checks :func:`compute_access` makes before computing (also used by the chunked computation).

    Returns the method's name in lower case. Raises :class:`~equicare.errors.EquicareError` for an unknown
    method, a parameter the method does not use, a missing required parameter or a ``max_cost`` out of range.
    """
    method = method.lower()
    if method not in METHODS:
        raise EquicareError(f"unknown access method {method!r}; choose one of {', '.join(METHODS)}")
    given = {"max_cost": max_cost, "weights": weights, "scale": scale, "alpha": alpha, "min_dist": min_dist,
             "sigma": sigma, "tau": tau, "rho": rho, "max_cycles": max_cycles, "demand_cost": demand_cost}
    unused = [k for k, v in given.items() if v is not None and k not in METHOD_PARAMETERS[method]]
    if unused:
        names = ", ".join(f"{k} (--{k.replace('_', '-')})" for k in unused)
        takes = ", ".join(METHOD_PARAMETERS[method])
        raise EquicareError(f"method {method!r} does not use {names}; it takes {takes}")
    _max_cost(max_cost)
    if method == "fca" and max_cost is None:
        raise EquicareError("method 'fca' needs max_cost (the catchment size)")
    if method == "2sfca" and max_cost is None and weights is None:
        raise EquicareError("method '2sfca' needs max_cost (--max-cost: the catchment, in the unit of the costs); "
                            "without it every pair of the cost table counts, and on a complete table every "
                            "origin gets the same value")
    if method in ("e2sfca", "3sfca"):
        _step_or_function(weights, method.upper(), E2SFCA_DEFAULT_WEIGHTS if method == "e2sfca"
                          else THREE_SFCA_DEFAULT_WEIGHTS)
    if method == "gravity":
        if sigma is not None and (scale is not None or alpha is not None or min_dist is not None):
            raise EquicareError("method 'gravity': give sigma (Gaussian decay) or scale, alpha and min_dist "
                                "(power decay), not both")
        if sigma is None and (scale is None or alpha is None):
            raise EquicareError("method 'gravity' needs scale and alpha (power decay) or sigma (Gaussian)")
    return method


def default_notes(method: str, *, max_cost: float | None = None, min_dist: float | None = None,
                  sigma: float | None = None, rho: float | None = None, max_cycles: int | None = None,
                  **_other) -> list[str]:
    """The defaults a method used because a parameter was not given, as notes for the output (issue 11).

    RAAM: ``rho`` = the mean demand-to-supply ratio and ``max_cycles`` = :data:`RAAM_MAX_CYCLES`; gravity
    with power decay: ``min_dist`` = 0; nearest without ``max_cost``: every pair of the table is in reach.
    """
    m = method.lower()
    notes = []
    if m == "raam":
        if rho is None:
            notes.append("RAAM rho not given: the mean demand-to-supply ratio (sum of demand / sum of supply) "
                         "is used (--rho to set it)")
        if max_cycles is None:
            notes.append(f"RAAM max_cycles not given: {RAAM_MAX_CYCLES} iterations (--max-cycles to set it)")
    if m == "gravity" and sigma is None and min_dist is None:
        notes.append("gravity min_dist not given: 0, costs are used as they are (--min-dist to set it)")
    if m == "nearest" and max_cost is None:
        notes.append("nearest without max_cost: every pair of the cost table is in reach (--max-cost to set it)")
    return notes


def compute_access(method: str, cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray, *,
                   max_cost: float | None = None, weights: Mapping[float, float] | None = None,
                   scale: float | None = None, alpha: float | None = None, min_dist: float | None = None,
                   sigma: float | None = None, tau: float | None = None, rho: float | None = None,
                   max_cycles: int | None = None, demand_cost: sp.spmatrix | None = None,
                   normalize: bool = False) -> np.ndarray:
    """Dispatch to one measure by name (one of :data:`METHODS`), with its parameters.

    ``gravity`` uses power decay (``scale``, ``alpha``, ``min_dist``) or, if ``sigma`` is given,
    Gaussian decay, not both. ``2sfca`` needs ``max_cost`` unless ``weights`` are given (then it is
    an E2SFCA); ``e2sfca`` and ``3sfca`` need ``weights`` (in the unit of the costs); ``fca`` needs
    ``max_cost``; ``raam`` needs ``tau`` (``max_cycles`` defaults to :data:`RAAM_MAX_CYCLES`).
    A parameter the method does not use (:data:`METHOD_PARAMETERS`) is refused rather than
    ignored. ``normalize`` divides the result by its demand-weighted mean
    (:func:`normalize_access`). Every parameter is range-checked (see the module docstring).
    """
    method = check_access_parameters(method, max_cost=max_cost, weights=weights, scale=scale, alpha=alpha,
                                     min_dist=min_dist, sigma=sigma, tau=tau, rho=rho, max_cycles=max_cycles,
                                     demand_cost=demand_cost)
    if method == "fca":
        out = fca_ratio(cost, demand, supply, max_cost, demand_cost)
    elif method == "2sfca":
        out = two_step_fca(cost, demand, supply, max_cost, None if weights is None else step_weights(weights))
    elif method == "e2sfca":
        out = enhanced_two_step_fca(cost, demand, supply, weights, max_cost)
    elif method == "3sfca":
        out = three_step_fca(cost, demand, supply, weights, max_cost)
    elif method == "gravity":
        if sigma is not None:
            if scale is not None or alpha is not None or min_dist is not None:
                raise EquicareError("method 'gravity': give sigma (Gaussian decay) or scale, alpha and min_dist "
                                    "(power decay), not both")
            out = weighted_catchment(cost, supply, gaussian_weights(sigma), max_cost)
        else:
            if scale is None or alpha is None:
                raise EquicareError("method 'gravity' needs scale and alpha (power decay) or sigma (Gaussian)")
            out = gravity(cost, supply, scale, alpha, 0.0 if min_dist is None else min_dist, max_cost)
    elif method == "raam":
        c = cost if max_cost is None else _within(sp.csr_matrix(cost), max_cost)
        out = raam(c, demand, supply, tau=tau, rho=rho,
                   max_cycles=RAAM_MAX_CYCLES if max_cycles is None else max_cycles)
    else:
        out = nearest_cost(cost, supply, max_cost)
    if normalize:
        out = normalize_access(out, demand)
    return out


# --------------------------------------------------------------------------- tables and files
def parse_step_weights(text: str) -> dict[float, float]:
    """Parse ``"4000:1,8000:0.68,12000:0.22"`` into ``{4000.0: 1.0, 8000.0: 0.68, 12000.0: 0.22}``."""
    out: dict[float, float] = {}
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            k, v = part.split(":")
            key = float(k)
            if key in out:
                raise EquicareError(f"--weights: threshold {key:g} is given twice")
            out[key] = float(v)
        except ValueError as exc:
            raise EquicareError(f"--weights: cannot read {part!r}; write threshold:weight pairs such as "
                                f"'4000:1,8000:0.68,12000:0.22'") from exc
    if not out:
        raise EquicareError("--weights is empty")
    return out


def _numeric_columns(df: pd.DataFrame, cols: list[str], file: str, blank_notes: list[str] | None = None
                     ) -> tuple[np.ndarray, list]:
    """The columns ``cols`` as numbers, with the problems (file, row, column). With ``blank_notes`` (supply
    columns), a blank cell is not an error: it makes only that column's value unknown for that row, which is left
    out of that column's supply (0) while its other columns count; one note per blank cell is appended."""
    from equicare.errors import Problem

    problems: list = []
    out = np.zeros((len(df), len(cols)))
    for k, c in enumerate(cols):
        if c not in df.columns:
            problems.append(Problem(file, None, c, f"column is missing (columns: {', '.join(map(str, df.columns))})"))
            continue
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce")
        blank = (raw.isna() | raw.astype("string").str.strip().eq("").fillna(True)).to_numpy() \
            if blank_notes is not None else np.zeros(len(df), bool)
        for r in np.flatnonzero(num.isna().to_numpy() & ~blank)[:20]:
            problems.append(Problem(file, sheet_row(df, r), c, "value is missing or not a number", raw.iloc[r]))
        for r in np.flatnonzero((num < 0).to_numpy())[:20]:
            problems.append(Problem(file, sheet_row(df, r), c, "value must not be negative", raw.iloc[r]))
        out[:, k] = num.fillna(0.0).to_numpy(float) if blank.any() else num.to_numpy(float)
        pos = np.flatnonzero(blank)
        if len(pos) == 1:
            who = f"{df['id'].astype(str).iloc[pos[0]]}'s" if "id" in df.columns else "its"
            blank_notes.append(f"{file}, row {sheet_row(df, pos[0])}, column '{c}': blank, so {who} {c} is unknown: "
                               f"left out of the {c} supply only (its other columns count)")
        elif len(pos):
            blank_notes.append(f"{file}, column '{c}': {len(pos):,} blank cells ({rows_text(df, blank, 5)}), so "
                               f"those sites' {c} is unknown: left out of the {c} supply only (their other columns "
                               "count)")
    return out, problems


def _ids(df: pd.DataFrame, file: str) -> tuple[pd.Index, list]:
    from equicare.errors import Problem

    if "id" not in df.columns:
        return pd.Index([]), [Problem(file, None, "id", "required column is missing")]
    ids = df["id"].astype(str).str.strip()
    problems = [Problem(file, sheet_row(df, r), "id", "id is missing") for r in np.flatnonzero((ids == "") | df["id"].isna())[:20]]
    dup = ids.duplicated()
    problems += [Problem(file, sheet_row(df, r), "id", "duplicate id", ids.iloc[r]) for r in np.flatnonzero(dup.to_numpy())[:20]]
    return pd.Index(ids), problems


def access_table(demand: pd.DataFrame, supply: pd.DataFrame, costs: pd.DataFrame, method: str, *,
                 demand_value: str = "population", supply_values: list[str] | tuple[str, ...] = ("capacity",),
                 demand_costs: pd.DataFrame | None = None, normalize: bool = False,
                 files: tuple[str, str, str] = ("demand", "supply", "cost"),
                 engine: Callable[..., np.ndarray] | None = None, **params) -> pd.DataFrame:
    """Access scores from three tables, as the ``equicare access`` command computes them.

    ``demand`` has ``id`` and ``demand_value``; ``supply`` has ``id`` and each of
    ``supply_values``; ``costs`` has ``origin, destination, cost`` with origins among the demand
    ids and destinations among the supply ids. ``params`` go to :func:`compute_access`
    (``max_cost``, ``weights``, ``scale``, ``alpha``, ``min_dist``, ``sigma``, ``tau``, ...).
    For ``fca`` the catchment population comes from ``demand_costs`` (origin x origin), or from
    ``costs`` itself when every destination is also a demand id.

    ``engine`` replaces :func:`compute_access` with a function of the same signature (e.g. the chunked
    computation on a Dask cluster, :func:`equicare.scale.chunked_access.access_engine`).

    Returns a table with ``id`` and one column ``<method>_<supply column>`` per supply column; a blank supply
    cell leaves that site out of that column's supply only, said in ``table.attrs["notes"]`` (file, row, column).
    Raises :class:`~equicare.errors.ValidationError` naming file, row and column for bad input
    (unknown ids, negative or missing values or costs, duplicates) and
    :class:`~equicare.errors.EquicareError` when no pair joins demand to supply.
    """
    from equicare.analyze.costs import cost_matrix_from_long
    from equicare.errors import ValidationError

    fd, fs, fc = files
    supply_values = list(supply_values)
    if params.get("max_cost") is not None:  # range first: a bad value is not "no pair within it"
        params["max_cost"] = _max_cost(params["max_cost"])
    d_ids, p1 = _ids(demand, fd)
    s_ids, p2 = _ids(supply, fs)
    dem, p3 = _numeric_columns(demand, [demand_value], fd)
    blank_notes: list[str] = []
    sup, p4 = _numeric_columns(supply, supply_values, fs, blank_notes)
    problems = p1 + p2 + p3 + p4
    if problems:
        raise ValidationError(problems)
    if len(d_ids) == 0 or len(s_ids) == 0:
        raise EquicareError(f"{fd if len(d_ids) == 0 else fs}: no rows")
    cost = cost_matrix_from_long(costs, d_ids, s_ids, file=fc)
    max_cost = params.get("max_cost")
    reach = cost.nnz if max_cost is None else int(np.count_nonzero(cost.data <= max_cost))
    if reach == 0:
        raise EquicareError(f"{fc}: no origin-destination pair joins the demand and supply ids"
                            + ("" if max_cost is None else f" within max cost {max_cost:g}"))
    dcost = None
    if method.lower() == "fca":
        if demand_costs is not None:
            dcost = cost_matrix_from_long(demand_costs, d_ids, d_ids, file="demand cost")
        else:
            dest = pd.Index(costs["destination"].astype(str).str.strip())
            if not dest.isin(d_ids).all():
                raise EquicareError(f"method 'fca' needs the population around each demand location: the "
                                    f"destinations in {fc} are not demand ids, so give a demand-to-demand "
                                    "cost table (--demand-cost)")
            dcost = cost_matrix_from_long(costs, d_ids, d_ids, file=fc)
    values = (engine or compute_access)(method, cost, dem[:, 0], sup, demand_cost=dcost, normalize=normalize, **params)
    out = pd.DataFrame({"id": d_ids.to_numpy()})
    for k, col in enumerate(supply_values):
        out[f"{method.lower()}_{col}"] = values[:, k]
    out.attrs["notes"] = blank_notes
    return out
