"""Locations whose latest weeks are missing: forecast from the last observed week, or from a model of the gap.

With real-time data (:mod:`equicare.forecast.vintages`) the latest week ``R - 7`` is sometimes not yet published
at the Wednesday deadline, for one location (a reporting gap) or for all of them (holiday weeks, when the release
came on Thursday).  Three ways of forecasting such a location, with ``k`` the number of weeks missing
(``missing_weeks=``):

``"carry"``
    Forecast from its own last observed week: hub horizon ``h`` is step ``k + h + 1`` of the model, given the
    panel cut at that week (so its interval widens with the gap).
``"model-sqrt"``
    For ``1 <= k <=`` :data:`MAX_IMPUTED_WEEKS`: fill the missing weeks with the median of an *imputer* (the
    pooled AR), its direct step-``j`` forecasts made at the location's last observed week, then forecast from the
    filled panel as if observed (step ``h + 1``), and widen the quantiles around the median on the fourth-root
    scale by ``sqrt((k + h + 1) / (h + 1))`` (:func:`widen_root`): on that scale the weekly changes are roughly
    independent with constant variance, so the variance of a ``n``-step change grows like ``n``.
``"model-carry"``
    The same filled-panel median, with the interval of the ``"carry"`` forecast: its quantile offsets from its
    own median on the fourth-root scale (:func:`recentre_root`).

Longer gaps are always carried.  Imputing the latest value by a one-step forecast and forecasting from it is the
*iterated* multi-step forecast; ``"carry"`` is the *direct* one (Marcellino, Stock & Watson 2006, "A comparison of
direct and iterated multistep AR methods for forecasting macroeconomic time series", J. Econometrics 135:499-526).
The choice between them was made in the fifth selection round (``bench/selection-round5.md``).
"""

from __future__ import annotations

import numpy as np

from equicare.errors import EquicareError
from equicare.forecast.models.base import ForecastModel
from equicare.forecast.truth import Panel

#: Ways of forecasting a location whose latest weeks are missing (see the module docstring).
MISSING_WEEKS = ("carry", "model-sqrt", "model-carry")
#: The product's default (fifth selection round).
DEFAULT_MISSING_WEEKS = "carry"
#: Longest gap (weeks) filled by the imputer; longer gaps are carried.
MAX_IMPUTED_WEEKS = 2
#: Offset ``c`` of the fourth-root scale ``z = (rate per 100k + c)^(1/4)`` (as the ensemble's root-scale spread).
ROOT_OFFSET = 0.01
MEDIAN = 11


def check_missing_weeks(value: str) -> str:
    """``value`` if it is one of :data:`MISSING_WEEKS`; raises :class:`EquicareError` naming the choices."""
    if value not in MISSING_WEEKS:
        raise EquicareError(f"missing weeks must be one of {', '.join(MISSING_WEEKS)}, got {value!r}")
    return value


def gaps(cut: Panel) -> np.ndarray:
    """Weeks between each location's last observation and the panel's last week, ``(L,)`` integers."""
    observed = ~np.isnan(cut.values)
    last = observed.shape[0] - 1 - np.argmax(observed[::-1], axis=0)
    return (observed.shape[0] - 1) - last


def impute_missing(cut: Panel, imputer: ForecastModel, max_gap: int = MAX_IMPUTED_WEEKS) -> tuple[Panel, np.ndarray]:
    """The panel with each location's missing latest weeks (gap ``1..max_gap``) filled by the imputer's median.

    A location last observed ``k`` weeks before the panel's last week gets, for ``j = 1..k``, the median
    (level 0.5) of ``imputer.predict(panel cut at its last week, [1..k])[:, j - 1]``; the imputer only ever sees
    data up to that week.

    Returns
    -------
    (panel, filled)
        The filled panel (same dates and locations) and a boolean ``(L,)`` mask of the locations filled.
    """
    gap = gaps(cut)
    values = cut.values.copy()
    filled = (gap >= 1) & (gap <= max_gap)
    T = len(cut.dates)
    for k in np.unique(gap[filled]):
        idx = np.flatnonzero(gap == k)
        sub = Panel(cut.dates[: T - k], cut.locations, cut.values[: T - k], cut.population)
        med = imputer.predict(sub, list(range(1, int(k) + 1)))[:, :, MEDIAN]
        values[T - k:, idx] = np.maximum(med[idx].T, 0.0)
    return Panel(cut.dates, cut.locations, values, cut.population), filled


def _z(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (np.maximum(values, 0.0) / scale + ROOT_OFFSET) ** 0.25


def _back(z: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    out = (np.maximum(z, 0.0) ** 4 - ROOT_OFFSET) * scale
    return np.sort(np.where(zero, 0.0, np.maximum(out, 0.0)), axis=-1)


def widen_root(values: np.ndarray, factor: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Quantiles ``(L, H, 23)`` stretched around their median on the fourth-root scale by ``factor`` (``(L, H)``).

    ``z = (q / (N / 10^5) + 0.01)^(1/4)`` becomes ``z_med + factor (z - z_med)``, mapped back; a quantile at 0 stays
    at 0 (it stands for the mass at or below zero).  Sorted, non-negative output."""
    scale = (np.asarray(population, float) / 1e5)[:, None, None]
    z = _z(values, scale)
    zm = z[..., MEDIAN:MEDIAN + 1]
    return _back(zm + np.asarray(factor, float)[..., None] * (z - zm), scale, values <= 0.0)


def recentre_root(median_from: np.ndarray, spread_from: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Quantiles with the median of ``median_from`` and the offsets of ``spread_from`` (both ``(L, H, 23)``) on
    the fourth-root scale: ``z = z_med(median_from) + (z(spread_from) - z_med(spread_from))``, mapped back."""
    scale = (np.asarray(population, float) / 1e5)[:, None, None]
    zs = _z(spread_from, scale)
    zm = _z(median_from[..., MEDIAN:MEDIAN + 1], scale)
    return _back(zm + zs - zs[..., MEDIAN:MEDIAN + 1], scale, np.zeros(spread_from.shape, bool))


def sqrt_factor(gap: np.ndarray, horizons: tuple[int, ...]) -> np.ndarray:
    """``sqrt((k + h + 1) / (h + 1))`` for each location's gap ``k`` and horizon ``h``: ``(L, H)``."""
    h = np.asarray(horizons, float)[None, :]
    return np.sqrt((np.asarray(gap, float)[:, None] + h + 1.0) / (h + 1.0))
