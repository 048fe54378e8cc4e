"""Normalisation of any numeric column: min-max to [0, 1] and z-scores.

Missing values stay missing.  A column with no spread maps to 0 (min-max) and 0 (z-score) rather
than dividing by zero; ``feature_range`` and ``ddof`` follow scikit-learn's ``MinMaxScaler`` and
``StandardScaler`` (population standard deviation, ``ddof=0``) so results agree with them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ArrayLike = pd.Series | np.ndarray | list


def _as_float(x: ArrayLike) -> tuple[np.ndarray, pd.Index | None, str | None]:
    if isinstance(x, pd.Series):
        return x.to_numpy(dtype=float, na_value=np.nan), x.index, x.name
    return np.asarray(x, dtype=float), None, None


def _wrap(values: np.ndarray, index: pd.Index | None, name: str | None) -> ArrayLike:
    return values if index is None else pd.Series(values, index=index, name=name)


def minmax(x: ArrayLike, feature_range: tuple[float, float] = (0.0, 1.0)) -> ArrayLike:
    """Rescale to ``feature_range``: ``lo + (x - min) (hi - lo) / (max - min)``.

    Examples
    --------
    >>> minmax([2.0, 4.0, 6.0]).tolist()
    [0.0, 0.5, 1.0]
    """
    a, idx, name = _as_float(x)
    lo, hi = feature_range
    if not np.isfinite(a).any():
        return _wrap(a.copy(), idx, name)
    mn, mx = np.nanmin(a), np.nanmax(a)
    span = mx - mn
    out = np.where(np.isnan(a), np.nan, lo) if span == 0 else lo + (a - mn) * (hi - lo) / span
    return _wrap(out, idx, name)


def zscore(x: ArrayLike, ddof: int = 0) -> ArrayLike:
    """Standardise: ``(x - mean) / sd`` with ``sd`` using ``ddof`` (0 = population, as scikit-learn).

    Examples
    --------
    >>> zscore([1.0, 3.0]).tolist()
    [-1.0, 1.0]
    """
    a, idx, name = _as_float(x)
    if np.isfinite(a).sum() <= ddof:
        return _wrap(np.full_like(a, np.nan), idx, name)
    mu = np.nanmean(a)
    sd = np.nanstd(a, ddof=ddof)
    # a spread within rounding error of the mean is no spread (as scikit-learn treats it)
    constant = sd <= 10 * np.finfo(float).eps * max(abs(mu), np.finfo(float).tiny)
    out = np.where(np.isnan(a), np.nan, 0.0) if constant else (a - mu) / sd
    return _wrap(out, idx, name)


def normalize_columns(df: pd.DataFrame, columns: list[str], method: str = "minmax") -> pd.DataFrame:
    """Add ``<col>_minmax`` or ``<col>_z`` columns for each named column."""
    fn = {"minmax": minmax, "zscore": zscore}.get(method)
    if fn is None:
        raise ValueError(f"method must be 'minmax' or 'zscore', not {method!r}")
    out = df.copy()
    suffix = "minmax" if method == "minmax" else "z"
    for c in columns:
        out[f"{c}_{suffix}"] = fn(out[c])
    return out
