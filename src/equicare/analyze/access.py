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
from equicare.errors import EquicareError

__all__ = [
    "E2SFCA_DEFAULT_WEIGHTS",
    "METHODS",
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

#: ``access``' default E2SFCA steps (minutes): Luo & Qi (2009).
E2SFCA_DEFAULT_WEIGHTS: dict[float, float] = {10: 1.0, 20: 0.68, 30: 0.22}
#: ``access``' default 3SFCA steps (minutes): Wan, Zou & Sternberg (2012).
THREE_SFCA_DEFAULT_WEIGHTS: dict[float, float] = {10: 0.962, 20: 0.704, 30: 0.377, 60: 0.042}


# --------------------------------------------------------------------------- weight functions
def step_weights(steps: Mapping[float, float]) -> WeightFunction:
    """Step distance-decay weights, vectorised, with ``access.weights.step_fn`` semantics.

    A cost ``x`` gets the weight ``w_k`` of the smallest threshold ``c_k`` with ``x <= c_k``, and 0
    beyond the largest threshold. E.g. ``{4000: 1, 8000: 0.68, 12000: 0.22}`` gives 1 up to 4000,
    0.68 in (4000, 8000], 0.22 in (8000, 12000] and 0 above.
    """
    if not isinstance(steps, Mapping) or not steps:
        raise EquicareError("step weights must be a non-empty mapping threshold -> weight")
    keys = np.array(sorted(steps), dtype=float)
    vals = np.array([steps[k] for k in sorted(steps)], dtype=float)
    if np.any(vals < 0) or not np.all(np.isfinite(vals)):
        raise EquicareError("step weights must be finite and not negative")
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
    if scale == 0:
        raise EquicareError("gravity: scale must be non-zero")

    def weight(x: np.ndarray) -> np.ndarray:
        return np.power(np.maximum(np.asarray(x, float), min_dist) / scale, alpha)

    return weight


def gaussian_weights(sigma: float) -> WeightFunction:
    """Gaussian decay ``f(x) = exp(-x^2 / (2 sigma^2))``, with ``f(0) = 1`` (``access.weights.gaussian``)."""
    if sigma == 0:
        raise EquicareError("gaussian weights: sigma must be non-zero")

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
    if max_cost is None:
        return cost
    return _subset(cost, cost.data <= max_cost)


def _weighted(cost: sp.csr_matrix, weight: WeightFunction | None, max_cost: float | None = None) -> sp.csr_matrix:
    """Same structure as ``cost`` with data = weight(cost) (or 1), and 0 beyond ``max_cost``.

    Pairs beyond ``max_cost`` stay as explicit zero entries (cheaper than rebuilding the structure,
    and they add exactly 0 to every sum).
    """
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
    if alpha < 0 and min_dist <= 0 and sp.issparse(cost):
        c = cost.tocsr().data
        if np.any((c == 0) if max_cost is None else ((c == 0) & (c <= max_cost))):
            raise EquicareError("gravity: a zero cost with min_dist = 0 and a negative alpha gives infinite "
                                "access; set min_dist (e.g. half the smallest non-zero cost)")
    return weighted_catchment(cost, supply, gravity_weights(scale, alpha, min_dist), max_cost)


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

    Returns
    -------
    numpy.ndarray
        ``(n_origins,)``, or ``(n_origins, k)`` for a 2-D ``supply``; supply per unit of demand.
    """
    cost, d, s = _prepare(cost, demand, supply)
    w = _weighted(cost, weight, max_cost)
    dem = np.asarray(w.T @ d)  # weighted demand in each destination's catchment
    ratio = _safe_ratio(s, dem)
    return _dot(w, ratio)


def enhanced_two_step_fca(cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray,
                          weights: Mapping[float, float] | WeightFunction = E2SFCA_DEFAULT_WEIGHTS,
                          max_cost: float | None = None) -> np.ndarray:
    """Enhanced 2SFCA (E2SFCA, Luo & Qi 2009): 2SFCA with step weights by travel-cost zone.

    ``weights`` maps zone upper bounds to weights (``access.weights.step_fn`` semantics, see
    :func:`step_weights`), default ``{10: 1, 20: 0.68, 30: 0.22}`` as in ``access`` (minutes;
    give thresholds in the unit of ``cost``). Same numbers as
    ``access.Access.enhanced_two_stage_fca(weight_fn=step_fn(weights), max_cost=max_cost)``.
    """
    f = weights if callable(weights) else step_weights(weights)
    return two_step_fca(cost, demand, supply, max_cost=max_cost, weight=f)


def three_step_fca(cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray,
                   weights: Mapping[float, float] | WeightFunction = THREE_SFCA_DEFAULT_WEIGHTS,
                   max_cost: float | None = None) -> np.ndarray:
    """Three-step floating catchment area (3SFCA, Wan, Zou & Sternberg 2012, IJGIS 26:1073-1089).

    Selection weights :math:`G_{ij} = W_{ij} / \\sum_k W_{ik}` (the sum over **all** destinations
    in the cost matrix, as ``access`` does, regardless of ``max_cost``), then
    :math:`R_j = S_j / \\sum_i P_i G_{ij} W_{ij}` and :math:`A_i = \\sum_j R_j G_{ij} W_{ij}`,
    both sums over pairs with :math:`c_{ij} \\le d`. ``weights`` are step weights (default
    ``{10: 0.962, 20: 0.704, 30: 0.377, 60: 0.042}`` as in ``access``) or a weight function.
    Same numbers as ``access.Access.three_stage_fca``.
    """
    cost, d, s = _prepare(cost, demand, supply)
    f = weights if callable(weights) else step_weights(weights)
    wall = np.asarray(f(cost.data), float)
    rows = np.repeat(np.arange(cost.shape[0]), np.diff(cost.indptr))
    wsum = np.bincount(rows, weights=wall, minlength=cost.shape[0])
    g = _safe_ratio(wall, wsum[rows])
    gw = _weighted(cost, None, max_cost)
    gw.data *= g * wall
    dem = np.asarray(gw.T @ d)
    ratio = _safe_ratio(s, dem)
    return _dot(gw, ratio)


def raam(cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray, tau: float = 60.0,
         rho: float | None = None, max_cycles: int = 150, initial_step: float = 0.2,
         min_step: float = 0.005, half_life: float = 50, limit_initial: int = 20) -> np.ndarray:
    """Rational Agent Access Model (RAAM, Saxon & Snow 2020, Geogr. Anal. 52:27-53).

    Each origin's demand is assigned to destinations so as to minimise, for each agent, the
    total cost :math:`c_{ij}/\\tau + \\rho^{-1}\\,(\\text{demand at } j) / S_j`; the returned value
    is the demand-weighted total cost of each origin's final assignment (lower is better).
    ``rho`` defaults to the mean demand-to-supply ratio ``sum(P) / sum(S)``; ``tau`` is the travel
    cost that equals congestion at 100% of ``rho``. The iteration (shifting demand from each
    origin's costliest to its cheapest destination with a step that halves every ``half_life``
    cycles) replicates ``access.raam.iterate_raam`` step for step, on the sparse pairs only, in a
    compiled kernel (:mod:`equicare.analyze._raam_kernel`, numba; compiled on the first call and
    cached on disk where possible) that keeps, per origin, the list of destinations it uses. Ties
    between exactly equal total costs go to the lowest column of ``cost`` (``access``: to the
    first in its own column order, that of a Python set).

    Only origins with demand > 0 and destinations with supply > 0 take part; other origins, and
    origins with no positive-supply destination in reach, get NaN. With a 2-D ``supply`` each
    column is solved separately.
    """
    cost, d, s = _prepare(cost, demand, supply)
    if tau <= 0:
        raise EquicareError(f"raam: tau must be > 0 (value: {tau!r})")
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
    pw = p if a.ndim == 1 else p[:, None]
    mean = np.nansum(a * pw, axis=0) / p.sum()
    return a / mean


#: Methods understood by :func:`compute_access` (and the ``equicare access --method`` option).
METHODS = ("fca", "2sfca", "e2sfca", "gravity", "3sfca", "raam", "nearest")


def compute_access(method: str, cost: sp.spmatrix, demand: np.ndarray, supply: np.ndarray, *,
                   max_cost: float | None = None, weights: Mapping[float, float] | None = None,
                   scale: float | None = None, alpha: float | None = None, min_dist: float = 0.0,
                   sigma: float | None = None, tau: float = 60.0, rho: float | None = None,
                   max_cycles: int = 150, demand_cost: sp.spmatrix | None = None,
                   normalize: bool = False) -> np.ndarray:
    """Dispatch to one measure by name (one of :data:`METHODS`), with its parameters.

    ``gravity`` uses power decay (``scale``, ``alpha``, ``min_dist``) or, if ``sigma`` is given,
    Gaussian decay. ``2sfca`` accepts optional ``weights`` (then it is an E2SFCA). ``normalize``
    divides the result by its demand-weighted mean (:func:`normalize_access`).
    """
    method = method.lower()
    if method not in METHODS:
        raise EquicareError(f"unknown access method {method!r}; choose one of {', '.join(METHODS)}")
    if method in ("fca",) and max_cost is None:
        raise EquicareError("method 'fca' needs max_cost (the catchment size)")
    if method == "fca":
        out = fca_ratio(cost, demand, supply, max_cost, demand_cost)
    elif method == "2sfca":
        out = two_step_fca(cost, demand, supply, max_cost, None if weights is None else step_weights(weights))
    elif method == "e2sfca":
        out = enhanced_two_step_fca(cost, demand, supply, E2SFCA_DEFAULT_WEIGHTS if weights is None else weights,
                                    max_cost)
    elif method == "3sfca":
        out = three_step_fca(cost, demand, supply, THREE_SFCA_DEFAULT_WEIGHTS if weights is None else weights,
                             max_cost)
    elif method == "gravity":
        if sigma is not None:
            out = weighted_catchment(cost, supply, gaussian_weights(sigma), max_cost)
        else:
            if scale is None or alpha is None:
                raise EquicareError("method 'gravity' needs scale and alpha (power decay) or sigma (Gaussian)")
            out = gravity(cost, supply, scale, alpha, min_dist, max_cost)
    elif method == "raam":
        c = cost if max_cost is None else _within(sp.csr_matrix(cost), max_cost)
        out = raam(c, demand, supply, tau=tau, rho=rho, max_cycles=max_cycles)
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
            out[float(k)] = float(v)
        except ValueError as exc:
            raise EquicareError(f"--weights: cannot read {part!r}; write threshold:weight pairs such as "
                                f"'4000:1,8000:0.68,12000:0.22'") from exc
    if not out:
        raise EquicareError("--weights is empty")
    return out


def _numeric_columns(df: pd.DataFrame, cols: list[str], file: str) -> tuple[np.ndarray, list]:
    from equicare.errors import Problem

    problems: list = []
    out = np.zeros((len(df), len(cols)))
    for k, c in enumerate(cols):
        if c not in df.columns:
            problems.append(Problem(file, None, c, f"column is missing (columns: {', '.join(map(str, df.columns))})"))
            continue
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce")
        for r in np.flatnonzero(num.isna().to_numpy())[:20]:
            problems.append(Problem(file, int(r) + 1, c, "value is missing or not a number", raw.iloc[r]))
        for r in np.flatnonzero((num < 0).to_numpy())[:20]:
            problems.append(Problem(file, int(r) + 1, c, "value must not be negative", raw.iloc[r]))
        out[:, k] = num.to_numpy(float)
    return out, problems


def _ids(df: pd.DataFrame, file: str) -> tuple[pd.Index, list]:
    from equicare.errors import Problem

    if "id" not in df.columns:
        return pd.Index([]), [Problem(file, None, "id", "required column is missing")]
    ids = df["id"].astype(str).str.strip()
    problems = [Problem(file, int(r) + 1, "id", "id is missing") for r in np.flatnonzero((ids == "") | df["id"].isna())[:20]]
    dup = ids.duplicated()
    problems += [Problem(file, int(r) + 1, "id", "duplicate id", ids.iloc[r]) for r in np.flatnonzero(dup.to_numpy())[:20]]
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

    Returns a table with ``id`` and one column ``<method>_<supply column>`` per supply column.
    Raises :class:`~equicare.errors.ValidationError` naming file, row and column for bad input
    (unknown ids, negative or missing values or costs, duplicates) and
    :class:`~equicare.errors.EquicareError` when no pair joins demand to supply.
    """
    from equicare.analyze.costs import cost_matrix_from_long
    from equicare.errors import ValidationError

    fd, fs, fc = files
    supply_values = list(supply_values)
    d_ids, p1 = _ids(demand, fd)
    s_ids, p2 = _ids(supply, fs)
    dem, p3 = _numeric_columns(demand, [demand_value], fd)
    sup, p4 = _numeric_columns(supply, supply_values, fs)
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
    return out
