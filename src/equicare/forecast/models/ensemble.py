"""Quantile-averaging ensemble of other models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from equicare.forecast.models.base import ForecastModel
from equicare.forecast.truth import Panel


class QuantileEnsemble(ForecastModel):
    r"""Average of the members' quantiles, level by level (Vincentisation).

    .. math:: q_\tau^{\mathrm{ens}} = \sum_m w_m\, q_\tau^{(m)}, \qquad \sum_m w_m = 1,

    or the level-wise median when ``combine="median"`` (the FluSight hub ensemble's rule).  Averaging
    monotone quantile functions gives a monotone quantile function.

    References
    ----------
    Ray et al. (2023), "Comparing trained and untrained probabilistic ensemble forecasts of COVID-19 cases
    and deaths in the United States", Int J Forecasting 39(3):1366-1383; Lichtendahl, Grushka-Cockayne &
    Winkler (2013), "Is it better to average probabilities or quantiles?", Management Science 59(7).
    """

    name = "ensemble"

    def __init__(self, members: Sequence[ForecastModel] | None = None, weights: Sequence[float] | None = None,
                 combine: str = "mean") -> None:
        from equicare.forecast.models.pooled import PooledAR, PooledGBM
        from equicare.forecast.models.smoothing import DampedTrend

        self.members = list(members) if members is not None else [PooledAR(), PooledGBM(), DampedTrend()]
        w = np.ones(len(self.members)) if weights is None else np.asarray(weights, dtype=float)
        self.weights = w / w.sum()
        if combine not in ("mean", "median"):
            raise ValueError("combine must be 'mean' or 'median'")
        self.combine = combine

    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        preds = np.stack([np.sort(m.predict(panel, steps), axis=-1) for m in self.members])
        if self.combine == "median":
            return np.median(preds, axis=0)
        return np.tensordot(self.weights, preds, axes=1)
