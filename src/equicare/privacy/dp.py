"""Differentially private release of per-region counts, sums and means (OpenDP).

The privacy unit is one row of a dataset (one patient record, one facility): neighbouring datasets differ
by adding or removing a row (symmetric distance 1). Every row belongs to one region.

Mechanisms (pure epsilon-DP, delta = 0)
--------------------------------------
count
    ``make_count_by_categories`` over the public list of regions (L1 sensitivity 1) followed by the
    discrete Laplace mechanism with scale ``b = 1 / epsilon``.
sum
    Values clamped to public bounds ``[L, U]`` and summed per region; the continuous Laplace mechanism
    adds noise of scale ``b = D / epsilon`` with ``D = max(|L|, |U|)`` when both bounds have one sign and
    ``D = U - L`` when they straddle 0 (OpenDP's sensitivity for a checked float sum; its map also accounts
    for floating-point rounding, so ``b`` is a hair larger). Regions are disjoint, so releasing every
    region's sum costs ``epsilon``
    once (parallel composition, [3]_).
mean
    A count and a sum, each with ``epsilon / 2`` (sequential composition); ``mean = sum / max(count, 1)``.

Accuracy: the 95% error bound ``t`` of a Laplace release satisfies ``P(|noise| >= t) = 0.05``:
``t = b ln(1/alpha)`` for the continuous and ``t = b ln(2 / (alpha (1 + e^{-1/b})))`` for the discrete
Laplace. For a mean, with ``t_s``, ``t_n`` the bounds of its sum and count at level ``alpha/2`` each (union
bound), ``|mean~ - mean| <= (t_s + |mean~| t_n) / (n~ - t_n)`` whenever ``n~ > t_n`` (else unbounded).

Any size: the sum is OpenDP's ``make_bounded_float_checked_sum`` with a public size limit of
:data:`SUM_SIZE_LIMIT` rows (pairwise summation; OpenDP's map accounts for the floating-point error of
summing that many values). OpenDP's default ``then_sum`` on unsized float data keeps only the first
``2^20`` rows, which made sums and means of larger regions silently wrong. Tables with more rows than
the limit are refused. Data are handed to OpenDP as NumPy arrays (region codes as integers), so a
million rows take a fraction of a second.

Refused (a clear :class:`~equicare.errors.EquicareError`, never an OpenDP traceback): bounds that are
not finite or whose magnitude exceeds :data:`MAX_ABS_BOUND` (``2^53``, beyond which floats cannot hold
whole numbers and OpenDP cannot bound the rounding of the sum), epsilon outside
[:data:`MIN_EPSILON`, :data:`MAX_EPSILON`], and data whose region codes mostly fall outside the public
region list (:data:`MIN_REGION_MATCH`; a release over another country's codes would be pure noise).

The budget and ledger live in :mod:`equicare.privacy.ledger`.

References
----------
.. [1] Dwork, C., McSherry, F., Nissim, K., Smith, A. (2006). Calibrating noise to sensitivity in private
   data analysis. TCC 2006, LNCS 3876, 265-284.
.. [2] The OpenDP Library (2024), https://docs.opendp.org -- measurements, privacy maps and
   ``discrete_laplacian_scale_to_accuracy``.
.. [3] McSherry, F. (2009). Privacy integrated queries. SIGMOD 2009 (parallel composition).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from equicare.errors import EquicareError

__all__ = ["DPRelease", "MAX_ABS_BOUND", "MAX_EPSILON", "MIN_EPSILON", "MIN_REGION_MATCH", "STATISTICS",
           "SUM_SIZE_LIMIT", "check_bounds", "check_epsilon", "dp_release", "discrete_laplace_error_bound",
           "laplace_error_bound"]

STATISTICS = ("count", "sum", "mean")
SUM_SIZE_LIMIT = 2**28
MAX_ABS_BOUND = float(2**53)
MIN_EPSILON = 1e-6
MAX_EPSILON = 100.0
MIN_REGION_MATCH = 0.9  # a tenth of the rows outside the list means the data use (partly) another list



def _dp():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def laplace_error_bound(scale: float, alpha: float = 0.05) -> float:
    """``t`` with ``P(|X| >= t) = alpha`` for continuous Laplace noise of scale ``b``: ``t = b ln(1/alpha)``."""
    return float(scale * math.log(1.0 / alpha))


def discrete_laplace_error_bound(scale: float, alpha: float = 0.05) -> float:
    """``t`` with ``P(|X| >= t) = alpha`` for discrete Laplace noise, ``P(X=k) ∝ exp(-|k|/b)``.

    ``P(|X| >= t) = 2 e^{-t/b} / (1 + e^{-1/b})``, solved for ``t`` (continuous in ``t``, as OpenDP's
    ``discrete_laplacian_scale_to_accuracy``).
    """
    return float(scale * math.log(2.0 / (alpha * (1.0 + math.exp(-1.0 / scale)))))


@dataclass
class DPRelease:
    """One differentially private release of a per-region statistic.

    Attributes
    ----------
    table : DataFrame
        One row per public region: the region key (column named like ``by``), ``estimate`` and
        ``error_bound`` (half-width of the ``1 - alpha`` interval); a mean also has ``count_estimate``
        and ``sum_estimate``.
    statistic, column, by : str
        What was released (``column`` is None for a count).
    epsilon : float
        Privacy loss of the whole release (all regions together).
    scale : dict
        Laplace scale per noisy component (``{"count": b}``, ``{"sum": b}`` or both).
    alpha : float
        ``error_bound`` holds with probability ``1 - alpha`` per region.
    """

    table: pd.DataFrame
    statistic: str
    column: str | None
    by: str
    epsilon: float
    scale: dict[str, float]
    alpha: float
    bounds: tuple[float, float] | None = None
    mechanism: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def error_bound(self) -> float:
        """The largest per-region error bound (for a count or sum all regions share it)."""
        return float(np.nanmax(self.table["error_bound"].to_numpy(dtype=float))) if len(self.table) else 0.0

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "column": self.column, "by": self.by, "epsilon": self.epsilon,
                "scale": self.scale, "alpha": self.alpha, "confidence": 1 - self.alpha,
                "bounds": list(self.bounds) if self.bounds else None, "mechanism": self.mechanism,
                "error_bound": self.error_bound, "notes": self.notes}


def check_epsilon(epsilon: object, what: str = "epsilon") -> float:
    """``epsilon`` as a float in [MIN_EPSILON, MAX_EPSILON] (a budget may be larger); text is refused."""
    if isinstance(epsilon, (str, bytes, bool)) or epsilon is None:
        raise EquicareError(f"{what} must be a positive number, got {epsilon!r}")
    try:
        eps = float(epsilon)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise EquicareError(f"{what} must be a positive number, got {epsilon!r}") from None
    if not (eps > 0 and math.isfinite(eps)):
        raise EquicareError(f"{what} must be a positive number, got {epsilon!r}")
    if what == "epsilon" and not MIN_EPSILON <= eps <= MAX_EPSILON:
        raise EquicareError(f"epsilon must lie between {MIN_EPSILON:g} and {MAX_EPSILON:g}, got {eps:g}")
    return eps


def check_bounds(bounds: object, column: str | None = None) -> tuple[float, float]:
    """Public clamping bounds as two finite floats with ``lower < upper`` and magnitude <= MAX_ABS_BOUND."""
    what = f" of '{column}'" if column else ""
    try:
        lo, hi = bounds  # type: ignore[misc]
        if isinstance(lo, (str, bytes, bool)) or isinstance(hi, (str, bytes, bool)):
            raise TypeError
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise EquicareError(f"bounds{what} must be two numbers (lower, upper), got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise EquicareError(f"bounds{what} must be finite numbers, got lower {lo:g} and upper {hi:g}")
    if not lo < hi:
        raise EquicareError(f"bounds{what} must have lower < upper, got lower {lo:g} and upper {hi:g}")
    if any(0 < abs(x) < sys.float_info.min for x in (lo, hi)):
        raise EquicareError(f"bounds{what} must be normal floating-point numbers (0, or a magnitude of at least "
                            f"{sys.float_info.min:g}), got lower {lo:g} and upper {hi:g}")
    if max(abs(lo), abs(hi)) > MAX_ABS_BOUND:
        raise EquicareError(f"bounds{what} are too large: lower {lo:g}, upper {hi:g}; their magnitude must be at most "
                            f"{MAX_ABS_BOUND:.0f} (2^53), beyond which a sum cannot be made differentially "
                            "private with a bounded floating-point error")
    return lo, hi


def _calibrate(build, guess: float, epsilon: float) -> tuple[object, float]:
    """The measurement ``build(scale)`` with the smallest scale near ``guess`` whose privacy map at d_in=1
    is at most ``epsilon`` (the formula's scale, nudged up past floating-point slack).

    Any OpenDP failure (an overflow from extreme parameters) becomes an :class:`EquicareError`.
    """
    dp = _dp()
    try:
        scale = guess
        for _ in range(60):
            meas = build(scale)
            if meas.map(1) <= epsilon:
                return meas, float(scale)
            scale *= 1 + 2.0 ** -22
        scale = dp.binary_search_param(build, d_in=1, d_out=epsilon)
        return build(scale), float(scale)
    except dp.OpenDPException as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise EquicareError(f"OpenDP cannot build this release with epsilon {epsilon:g}: {msg}; use smaller "
                            "bounds or a larger epsilon") from None


@lru_cache(maxsize=64)
def _count_measurement(n_regions: int, epsilon: float) -> tuple[object, float]:
    dp = _dp()
    space = (dp.vector_domain(dp.atom_domain(T="i32")), dp.symmetric_distance())
    cats = list(range(n_regions))

    def build(scale: float):
        return space >> dp.t.then_count_by_categories(categories=cats, null_category=False) \
            >> dp.m.then_laplace(scale=scale)

    return _calibrate(build, 1.0 / epsilon, epsilon)


@lru_cache(maxsize=64)
def _sum_measurement(lo: float, hi: float, epsilon: float) -> tuple[object, float]:
    dp = _dp()
    space = (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance())

    def build(scale: float):
        return (space >> dp.t.then_clamp((lo, hi))
                >> dp.t.make_bounded_float_checked_sum(SUM_SIZE_LIMIT, (lo, hi), S="Pairwise<f64>")
                >> dp.m.then_laplace(scale=scale))

    return _calibrate(build, max(abs(lo), abs(hi)) / epsilon, epsilon)


def _noisy_counts(codes: np.ndarray, n_regions: int, epsilon: float, alpha: float) -> tuple[np.ndarray, float, float]:
    """Discrete-Laplace counts of ``codes`` (int32 region indices; ``n_regions`` = not a public region)."""
    meas, scale = _count_measurement(int(n_regions), float(epsilon))
    noisy = np.asarray(meas(np.ascontiguousarray(codes, dtype=np.int32)), dtype=float)
    return noisy, float(scale), discrete_laplace_error_bound(scale, alpha)


def _noisy_sums(codes: np.ndarray, values: np.ndarray, n_regions: int, bounds: tuple[float, float],
                epsilon: float, alpha: float) -> tuple[np.ndarray, float, float]:
    """Laplace sums of ``values`` clamped to ``bounds`` per region code (checked float sum, any size up to
    :data:`SUM_SIZE_LIMIT` rows)."""
    lo, hi = float(bounds[0]), float(bounds[1])
    if len(values) > SUM_SIZE_LIMIT:
        raise EquicareError(f"a sum over {len(values):,} rows is beyond the public size limit of "
                            f"{SUM_SIZE_LIMIT:,} rows; split the data")
    meas, scale = _sum_measurement(lo, hi, float(epsilon))
    # Parallel composition: each row lies in exactly one region's partition, so one row changes one sum.
    order = np.argsort(codes, kind="stable")
    edges = np.searchsorted(codes[order], np.arange(n_regions + 1))
    sorted_vals = np.ascontiguousarray(values[order], dtype=float)
    out = np.empty(n_regions)
    for i in range(n_regions):
        out[i] = meas(np.ascontiguousarray(sorted_vals[edges[i]:edges[i + 1]]))
    return out, float(scale), laplace_error_bound(scale, alpha)


def match_regions(keys: pd.Series, regions: list[str], by: str) -> tuple[np.ndarray, list[str]]:
    """Each row's index in the public ``regions`` (``len(regions)`` when outside it) and a note on those.

    Raises
    ------
    EquicareError
        When fewer than :data:`MIN_REGION_MATCH` of the rows lie in a public region: the data use another
        region list, and a release over this one would be noise (and spend budget) for nothing.
    """
    k = keys.astype("string").str.strip()
    codes = pd.Index([str(r) for r in regions]).get_indexer(k.astype(object).where(k.notna(), None)).astype(np.int32)
    codes = np.where(codes < 0, len(regions), codes).astype(np.int32)
    n_out, n = int((codes == len(regions)).sum()), len(k)
    if n and (n - n_out) < MIN_REGION_MATCH * n:
        unknown = k[codes == len(regions)].dropna().unique()[:5].tolist()
        raise EquicareError(
            f"the data's region codes do not match the public region list: {n_out:,} of {n:,} rows have a "
            f"'{by}' outside it (e.g. {', '.join(map(str, unknown)) or 'missing'}); choose the list the data use "
            "or declare your own public region list. Nothing was released and no epsilon was spent")
    notes = [f"{n_out:,} row(s) with a '{by}' outside the public region list were left out"] if n_out else []
    return codes, notes


def dp_release(
    df: pd.DataFrame,
    *,
    by: str,
    statistic: str,
    epsilon: float,
    regions: Sequence,
    column: str | None = None,
    bounds: tuple[float, float] | None = None,
    alpha: float = 0.05,
) -> DPRelease:
    """Release a per-region count, sum or mean of ``df`` with ``epsilon``-differential privacy.

    Parameters
    ----------
    df : DataFrame
        Row-level data; one row is the privacy unit.
    by : str
        Column holding each row's region.
    statistic : {"count", "sum", "mean"}
        What to release per region.
    epsilon : float
        Privacy loss of the whole release (> 0).
    regions : sequence
        The public list of regions to report (from a public regions table, never from the private data,
        which would leak which regions occur). Rows in other regions are dropped.
    column : str, optional
        The numeric column to sum or average (required for sum and mean); a missing value counts as 0
        clamped into the bounds, and the release notes say how many there were.
    bounds : (float, float), optional
        Public lower and upper bounds of ``column`` (required for sum and mean); values are clamped.
    alpha : float, default 0.05
        Error bounds hold with probability ``1 - alpha`` per region (95% by default).

    Returns
    -------
    DPRelease

    Raises
    ------
    EquicareError
        Unknown statistic or column; epsilon not a number in [MIN_EPSILON, MAX_EPSILON]; bounds missing,
        inverted, not finite or beyond MAX_ABS_BOUND; fewer than MIN_REGION_MATCH of the rows in a public
        region; any OpenDP failure.
    """
    if statistic not in STATISTICS:
        raise EquicareError(f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
    eps = check_epsilon(epsilon)
    if not 0 < alpha < 1:
        raise EquicareError(f"alpha must lie in (0, 1), got {alpha!r}")
    if by not in df.columns:
        raise EquicareError(f"region column '{by}' is not in the table (columns: {', '.join(map(str, df.columns))})")
    regions = [str(r) for r in regions]
    if not regions:
        raise EquicareError("the public list of regions is empty")
    if len(set(regions)) != len(regions):
        raise EquicareError("the public list of regions has duplicates")
    lo = hi = 0.0
    if statistic != "count":
        if column is None or column not in df.columns:
            raise EquicareError(f"a {statistic} needs a numeric value column present in the table, got {column!r}")
        if bounds is None:
            raise EquicareError(f"a {statistic} of '{column}' needs public bounds (lower, upper) for clamping; "
                                "bounds taken from the data itself would leak it")
        lo, hi = check_bounds(bounds, column)
        raw = df[column]
        num = pd.to_numeric(raw, errors="coerce")
        text = raw.astype("string").str.strip()
        n_text = int((raw.notna() & text.notna() & (text != "") & num.isna()).sum())
        if n_text or pd.api.types.is_bool_dtype(raw):
            raise EquicareError(f"a {statistic} needs a numeric value column: '{column}' has {n_text or len(raw)} "
                                "value(s) that are not numbers")
    codes, notes = match_regions(df[by], regions, by)
    out = pd.DataFrame({by: regions})
    if statistic == "count":
        counts, b, t = _noisy_counts(codes, len(regions), eps, alpha)
        out["estimate"] = counts
        out["error_bound"] = t
        return DPRelease(out, "count", None, by, eps, {"count": b}, alpha, None,
                         "count_by_categories + discrete Laplace", notes)

    vals = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    vals = np.where(np.isinf(vals), np.nan, vals)
    n_missing = int(np.isnan(vals).sum())
    if n_missing:
        notes.append(f"{n_missing} missing value(s) of '{column}' counted as {min(max(0.0, lo), hi):g}")
        vals = np.where(np.isnan(vals), min(max(0.0, lo), hi), vals)
    if statistic == "sum":
        sums, b, t = _noisy_sums(codes, vals, len(regions), (lo, hi), eps, alpha)
        out["estimate"] = sums
        out["error_bound"] = t
        return DPRelease(out, "sum", column, by, eps, {"sum": b}, alpha, (lo, hi), "clamp + sum + Laplace", notes)

    counts, bc, tc = _noisy_counts(codes, len(regions), eps / 2, alpha / 2)
    sums, bs, ts = _noisy_sums(codes, vals, len(regions), (lo, hi), eps / 2, alpha / 2)
    n_clip = np.maximum(counts, 1.0)
    mean = np.clip(sums / n_clip, lo, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(counts > tc, (ts + np.abs(mean) * tc) / (counts - tc), np.inf)
    out["estimate"] = mean
    out["error_bound"] = np.minimum(bound, hi - lo)
    out["count_estimate"] = counts
    out["sum_estimate"] = sums
    notes.append("mean = noisy sum / noisy count, each with epsilon/2; clipped to the bounds")
    return DPRelease(out, "mean", column, by, eps, {"count": bc, "sum": bs}, alpha, (lo, hi),
                     "count (discrete Laplace) and clamped sum (Laplace)", notes)


