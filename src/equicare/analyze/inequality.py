"""Inequality of a quantity across regions: Gini with the Lorenz curve, Theil, mean log deviation,
Atkinson, coefficient of variation and the 20/20 (quintile) ratio, with bootstrap confidence intervals.

These are for region-level values such as hospital beds per 1,000 people or a spatial-access score,
each region weighted by its population (``weights``; unweighted if omitted). Every measure treats
the data as a population in which region ``i`` holds a share :math:`p_i = w_i / \\sum w` of the
people, all at the value :math:`x_i`, with mean :math:`\\mu = \\sum_i p_i x_i`. A region of
weight 0 holds nobody: it is left out before anything is computed (its value, even 0, changes no
measure and no bootstrap interval). Measures that cannot be negative are reported as exactly 0
(the 20/20 ratio as exactly 1) when every value is equal, never as a round-off residue such as
``-2.2e-16``.

The summary measures of health inequality across population subgroups of WHO's Health Equity
Assessment Toolkit (difference, ratio, concentration indices, SII/RII, BGV, ..., PAF) are in
:mod:`equicare.analyze.heat`; :func:`heat_summary` is re-exported here for convenience.

References
----------
Cowell F. (2011) *Measuring Inequality*, 3rd ed., Oxford University Press (Gini, Theil, MLD,
Atkinson). Atkinson A.B. (1970) "On the measurement of inequality", J. Econ. Theory 2:244-263.
Efron B., Tibshirani R. (1993) *An Introduction to the Bootstrap*, Chapman & Hall (percentile CI).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from equicare.analyze.heat import heat_summary  # noqa: F401  (re-export)
from equicare.data.readers import sheet_row
from equicare.errors import EquicareError, plain_text

__all__ = [
    "gini",
    "lorenz_curve",
    "theil",
    "mean_log_deviation",
    "atkinson",
    "coefficient_of_variation",
    "quintile_ratio",
    "bootstrap_ci",
    "region_inequality",
    "region_inequality_table",
    "REGION_MEASURES",
    "heat_summary",
]


def _prep(values, weights) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(values, float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    if x.ndim != 1 or w.shape != x.shape:
        raise EquicareError("values and weights must be 1-D arrays of the same length")
    if x.size == 0:
        raise EquicareError("no values to measure inequality on")
    if not np.all(np.isfinite(x)) or not np.all(np.isfinite(w)):
        raise EquicareError("values and weights must be finite (drop or fill missing regions first)")
    if np.any(x < 0):
        raise EquicareError("inequality measures need values >= 0 (a rate, a count per person, a score)")
    if np.any(w < 0) or w.sum() <= 0:
        raise EquicareError("weights must be >= 0 with a positive total")
    keep = w > 0  # a region with weight 0 holds nobody: it drops out of every measure
    return (x, w) if keep.all() else (x[keep], w[keep])


def _need_positive_total(x: np.ndarray, w: np.ndarray, what: str) -> None:
    if np.sum(w * x) == 0:
        raise EquicareError(f"{what} is undefined when every value is 0")


def _value(v, what: str) -> float:
    """A point estimate as a float, or an error when round-off left no finite number (never NaN/inf)."""
    v = float(v)
    if not np.isfinite(v):
        raise EquicareError(f"{what} could not be computed for these values (no finite result)")
    return v


def _clean(vals: np.ndarray, x: np.ndarray, floor: float = 0.0, ceiling: float = np.inf) -> np.ndarray:
    """Round-off guard for a measure bounded by ``floor``: exactly ``floor`` where every value of
    the row is equal (perfect equality), and never below ``floor`` or above ``ceiling``."""
    flat = x.max(1) == x.min(1)
    with np.errstate(invalid="ignore"):
        out = np.clip(vals, floor, ceiling)
    return np.where(flat & np.isfinite(vals), floor, np.where(np.isnan(vals), np.nan, out))


def _rows(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D views (replicates x regions) so each measure also works on bootstrap samples."""
    return np.atleast_2d(x), np.atleast_2d(w)


def _gini_rows(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    x, w = _rows(x, w)
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, 1)
    ws = np.take_along_axis(w, order, 1)
    p = ws / ws.sum(1, keepdims=True)
    v = p * xs
    with np.errstate(divide="ignore", invalid="ignore"):
        L = np.cumsum(v, 1) / v.sum(1, keepdims=True)
    Lprev = np.concatenate([np.zeros((L.shape[0], 1)), L[:, :-1]], 1)
    return _clean(1.0 - (p * (L + Lprev)).sum(1), x, 0.0, 1.0)


def gini(values, weights=None) -> float:
    """Population-weighted Gini coefficient.

    .. math:: G = \\frac{1}{2\\mu} \\sum_i \\sum_j p_i p_j |x_i - x_j|
              = 1 - \\sum_k p_k (L_{k-1} + L_k)

    with regions sorted by value and :math:`L_k` the Lorenz ordinate (share of the total held by
    the first :math:`k` regions). 0 is perfect equality; the maximum is :math:`1 - p_{min}`. No
    small-sample correction :math:`n/(n-1)` is applied (Cowell 2011, ch. 2).
    """
    x, w = _prep(values, weights)
    _need_positive_total(x, w, "Gini")
    return _value(_gini_rows(x, w)[0], "Gini")


def lorenz_curve(values, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve: cumulative population share vs cumulative share of the total, from (0, 0).

    Regions are sorted by value (ascending); returns two arrays of length ``k + 1`` ending at 1,
    ``k`` the number of regions with weight > 0. The area between the diagonal and this curve is
    ``gini / 2``.
    """
    x, w = _prep(values, weights)
    order = np.argsort(x, kind="stable")
    p = np.concatenate([[0.0], np.cumsum(w[order]) / w.sum()])
    tot = np.sum(w * x)
    if tot == 0:
        raise EquicareError("the Lorenz curve is undefined when every value is 0")
    L = np.concatenate([[0.0], np.cumsum(w[order] * x[order]) / tot])
    return p, L


def _theil_rows(x, w):
    x, w = _rows(x, w)
    p = w / w.sum(1, keepdims=True)
    mu = (p * x).sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = x / mu
        t = np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0)
        t = np.where(np.isfinite(r), t, np.nan)  # every value 0: undefined
    return _clean((p * t).sum(1), x)


def theil(values, weights=None) -> float:
    """Theil index :math:`T = \\sum_i p_i (x_i/\\mu) \\ln(x_i/\\mu)` (a zero value contributes 0).

    0 is equality; the maximum is :math:`\\ln(1/p_{min})`. This is the GE(1) index of Cowell
    (2011); :func:`equicare.analyze.heat.theil_index` is HEAT's subgroup version (x1000, zero
    estimates replaced by 1e-6).
    """
    x, w = _prep(values, weights)
    _need_positive_total(x, w, "the Theil index")
    return _value(_theil_rows(x, w)[0], "the Theil index")


def _mld_rows(x, w):
    x, w = _rows(x, w)
    p = w / w.sum(1, keepdims=True)
    mu = (p * x).sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _clean((p * np.log(mu / x)).sum(1), x)


def mean_log_deviation(values, weights=None) -> float:
    """Mean log deviation (GE(0)) :math:`MLD = \\sum_i p_i \\ln(\\mu / x_i)`; needs all values > 0."""
    x, w = _prep(values, weights)
    if np.any(x == 0):
        raise EquicareError("mean log deviation needs every value > 0")
    return _value(_mld_rows(x, w)[0], "the mean log deviation")


def _atkinson_rows(x, w, epsilon):
    x, w = _rows(x, w)
    p = w / w.sum(1, keepdims=True)
    mu = (p * x).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if epsilon == 1:
            ede = np.exp((p * np.log(x)).sum(1))
        else:
            ede = (p * x ** (1.0 - epsilon)).sum(1) ** (1.0 / (1.0 - epsilon))
        return _clean(1.0 - ede / mu, x, 0.0, 1.0)


def _check_epsilon(epsilon) -> None:
    if not (isinstance(epsilon, (int, float, np.integer, np.floating)) and np.isfinite(epsilon) and epsilon >= 0):
        raise EquicareError(f"Atkinson epsilon (inequality aversion) must be a number >= 0 (value: {plain_text(epsilon)})")


def atkinson(values, weights=None, epsilon: float = 0.5) -> float:
    """Atkinson index with inequality aversion :math:`\\varepsilon \\ge 0` (Atkinson 1970).

    .. math:: A_\\varepsilon = 1 - \\frac{1}{\\mu}\\Big(\\sum_i p_i x_i^{1-\\varepsilon}\\Big)^{1/(1-\\varepsilon)},
              \\qquad A_1 = 1 - \\frac{\\exp\\sum_i p_i \\ln x_i}{\\mu}

    The share of the mean that could be given up for perfect equality without loss of welfare.
    """
    _check_epsilon(epsilon)
    x, w = _prep(values, weights)
    _need_positive_total(x, w, "the Atkinson index")
    if epsilon >= 1 and np.any(x == 0):
        raise EquicareError("Atkinson index with epsilon >= 1 needs every value > 0")
    return _value(_atkinson_rows(x, w, epsilon)[0], "the Atkinson index")


def _cov_rows(x, w):
    x, w = _rows(x, w)
    p = w / w.sum(1, keepdims=True)
    mu = (p * x).sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _clean(np.sqrt((p * (x - mu) ** 2).sum(1)) / mu[:, 0], x)


def coefficient_of_variation(values, weights=None) -> float:
    """Weighted coefficient of variation :math:`\\sqrt{\\sum_i p_i (x_i-\\mu)^2}/\\mu` (a ratio, not %)."""
    x, w = _prep(values, weights)
    _need_positive_total(x, w, "the coefficient of variation")
    return _value(_cov_rows(x, w)[0], "the coefficient of variation")


def _share_mean(xs, p, lo, hi):
    """Mean value of the population between cumulative shares lo and hi (regions sorted by value)."""
    c1 = np.cumsum(p, 1)
    c0 = c1 - p
    part = np.clip(np.minimum(c1, hi) - np.maximum(c0, lo), 0.0, None)
    return (part * xs).sum(1) / (hi - lo)


def _sorted_shares(x, w):
    x, w = _rows(x, w)
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, 1)
    return xs, np.take_along_axis(w, order, 1) / w.sum(1, keepdims=True)


def _quintile_rows(x, w):
    x, w = _rows(x, w)
    xs, p = _sorted_shares(x, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = _share_mean(xs, p, 0.8, 1.0) / _share_mean(xs, p, 0.0, 0.2)
    return _clean(np.where(np.isfinite(r), r, np.nan), x, 1.0)


def quintile_ratio(values, weights=None) -> float:
    """20/20 ratio: mean value of the best-off 20% of the population over the worst-off 20%.

    Regions are sorted by value and the population split at the 20% and 80% points of its
    cumulative share; a region straddling a cut counts in proportion to the part of its
    population on each side. Unweighted with ``n`` a multiple of 5, this is the mean of the top
    ``n/5`` values over the mean of the bottom ``n/5``.
    """
    x, w = _prep(values, weights)
    _need_positive_total(x, w, "the 20/20 ratio")
    if _share_mean(*_sorted_shares(x, w), 0.0, 0.2)[0] == 0:
        raise EquicareError("20/20 ratio is undefined: the bottom 20% of the population has value 0")
    return _value(_quintile_rows(x, w)[0], "the 20/20 ratio")


def _check_bootstrap(n_boot, level) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise EquicareError(f"n_boot (bootstrap replicates) must be a whole number >= 1 (value: {plain_text(n_boot)})")
    if not (isinstance(level, (int, float, np.floating)) and 0.0 < level < 1.0):
        raise EquicareError(f"the confidence level must be between 0 and 1, e.g. 0.95 (value: {plain_text(level)})")


def bootstrap_ci(stat: Callable[[np.ndarray, np.ndarray], np.ndarray], values, weights=None,
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval, resampling regions (with their weights) with replacement.

    ``stat`` takes 2-D arrays ``(replicates, regions)`` of values and weights and returns one value
    per replicate (the ``_*_rows`` kernels of this module are vectorised this way). Regions of
    weight 0 are left out first; replicates where the statistic is undefined are dropped.
    Deterministic for a given ``seed``. Raises for ``n_boot < 1`` or a level outside (0, 1).
    """
    _check_bootstrap(n_boot, level)
    x, w = _prep(values, weights)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(int(n_boot), x.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = np.asarray(stat(x[idx], w[idx]), float)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    return float(np.quantile(reps, a)), float(np.quantile(reps, 1.0 - a))


#: Measures of :func:`region_inequality`, in its order.
REGION_MEASURES = ("gini", "theil", "mld", "atkinson", "cov", "quintile_ratio")


def region_inequality(values, weights=None, *, epsilon: float = 0.5, n_boot: int = 1000,
                      level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """All region-level measures with percentile-bootstrap confidence intervals.

    Returns a table with columns ``measure, estimate, lowerci, upperci, note`` and one row each for
    ``gini``, ``theil``, ``mld``, ``atkinson`` (with ``epsilon``), ``cov`` and ``quintile_ratio``.
    ``note`` is empty for a measure that was computed; a measure that is undefined for the data
    (e.g. MLD with a region at value 0) has empty estimate *and* interval and a note saying why,
    rather than failing the whole table. Regions of weight 0 are left out. Raises
    :class:`~equicare.errors.EquicareError` for ``epsilon < 0``, ``n_boot < 1`` or a level outside (0, 1).
    """
    _check_epsilon(epsilon)
    _check_bootstrap(n_boot, level)
    x, w = _prep(values, weights)
    kernels: dict[str, tuple[Callable, Callable]] = {
        "gini": (gini, _gini_rows),
        "theil": (theil, _theil_rows),
        "mld": (mean_log_deviation, _mld_rows),
        "atkinson": (lambda a, b: atkinson(a, b, epsilon), lambda a, b: _atkinson_rows(a, b, epsilon)),
        "cov": (coefficient_of_variation, _cov_rows),
        "quintile_ratio": (quintile_ratio, _quintile_rows),
    }
    rows = []
    for name in REGION_MEASURES:
        point, rows_fn = kernels[name]
        try:
            est = point(x, w)
        except EquicareError as exc:
            rows.append({"measure": name, "estimate": np.nan, "lowerci": np.nan, "upperci": np.nan,
                         "note": str(exc)})
            continue
        lo, hi = bootstrap_ci(rows_fn, x, w, n_boot=n_boot, level=level, seed=seed)
        rows.append({"measure": name, "estimate": est, "lowerci": lo, "upperci": hi, "note": ""})
    return pd.DataFrame(rows, columns=["measure", "estimate", "lowerci", "upperci", "note"])


def region_inequality_table(regions: pd.DataFrame, value: str, weight: str | None = None, *,
                            unweighted: bool = False, file: str = "regions", **kwargs) -> pd.DataFrame:
    """:func:`region_inequality` on columns of a region table (the ``equicare inequality --regions`` command).

    ``value`` is the rate column (e.g. beds per 1,000), ``weight`` the population column. An
    unweighted table (every region counts once, whatever its population) must be asked for with
    ``unweighted=True``: with neither a weight column nor ``unweighted`` the call is refused, as
    a silently unweighted Gini of a per-capita rate is rarely what a planner means.
    Missing, non-numeric or negative cells are a :class:`~equicare.errors.ValidationError` naming
    the file, the 1-based row and the column. ``kwargs`` go to :func:`region_inequality`.
    """
    from equicare.errors import Problem, ValidationError

    if weight is None and not unweighted:
        raise EquicareError(f"{file}: say how regions are weighted: give the population column as the weight "
                            "(--weight COLUMN) or ask for an unweighted summary (--unweighted)")
    if weight is not None and unweighted:
        raise EquicareError("give either a weight column (--weight) or --unweighted, not both")
    problems: list[Problem] = []
    cols = [value] + ([weight] if weight else [])
    arrays = []
    for c in cols:
        if c not in regions.columns:
            problems.append(Problem(file, None, c, f"column is missing (columns: {', '.join(map(str, regions.columns))})"))
            continue
        num = pd.to_numeric(regions[c], errors="coerce")
        for r in np.flatnonzero(num.isna().to_numpy())[:20]:
            problems.append(Problem(file, sheet_row(regions, r), c, "value is missing or not a number", regions[c].iloc[r]))
        for r in np.flatnonzero((num < 0).to_numpy())[:20]:
            problems.append(Problem(file, sheet_row(regions, r), c, "value must not be negative", regions[c].iloc[r]))
        arrays.append(num.to_numpy(float))
    if problems:
        raise ValidationError(problems)
    if len(regions) == 0:
        raise EquicareError(f"{file}: no rows")
    return region_inequality(arrays[0], arrays[1] if weight else None, **kwargs)
