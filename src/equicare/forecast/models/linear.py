"""The seed's linear regression: pooled least squares on lagged rates, season and population."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from equicare.forecast.models.base import ForecastModel, Q
from equicare.forecast.models.design import pooled_design
from equicare.forecast.truth import Panel


class LinearRegression(ForecastModel):
    r"""Pooled linear regression on admissions per 100,000 with empirical-residual prediction intervals.

    For each step ``k`` one ordinary-least-squares model is fitted across all locations and origins,

    .. math:: r_{t+k} = \beta_0 + \sum_{i=0}^{p-1} \beta_{i} r_{t-i} + \gamma_1 \sin\phi_{t+k}
              + \gamma_2 \cos\phi_{t+k} + \delta \log N + \varepsilon,

    with ``r`` the weekly rate per 100,000, ``phi`` the phase of the year of the target week and ``N`` the
    population.  The quantile ``tau`` of the forecast is the point prediction plus the empirical
    ``tau``-quantile of the training residuals of that step (last ``window`` weeks of origins), converted
    back to counts.

    References
    ----------
    Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., ch. 7 (regression) and 5.5
    (prediction intervals from empirical residuals).
    """

    name = "linear"

    def __init__(self, n_lags: int = 3, window: int | None = None) -> None:
        self.n_lags = n_lags
        self.window = window

    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        scale = panel.population / 1e5
        r = panel.values / scale[None, :]
        extra = np.log(panel.population)[:, None]
        T, L = r.shape
        out = np.empty((L, len(steps), len(Q)))
        for i, k in enumerate(steps):
            d = pooled_design(r, panel.dates, k, self.n_lags - 1, extra=extra, difference=False,
                              min_origin=0 if self.window is None else T - k - self.window)
            if len(d.y) < d.X.shape[1] + 5:
                out[:, i, :] = (np.nan_to_num(d.base_new) * scale)[:, None]
                continue
            A = np.column_stack([np.ones(len(d.y)), d.X])
            beta, *_ = np.linalg.lstsq(A, d.y, rcond=None)
            resid = d.y - A @ beta
            pred = np.column_stack([np.ones(L), np.nan_to_num(d.X_new)]) @ beta
            out[:, i, :] = (pred[:, None] + np.quantile(resid, Q)[None, :]) * scale[:, None]
        return out
