"""Quantile-averaging ensemble of other models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from equicare.forecast.models.base import ForecastModel
from equicare.forecast.truth import Panel

#: Weights of the default members (pooled GBM, damped trend), chosen on the 2022-23 season.
DEFAULT_WEIGHTS = (3.0, 1.0)


class QuantileEnsemble(ForecastModel):
    r"""Average of the members' quantiles, level by level (Vincentisation).

    .. math:: q_\tau^{\mathrm{ens}} = \sum_m w_m\, q_\tau^{(m)}, \qquad \sum_m w_m = 1,

    or the level-wise median when ``combine="median"`` (the FluSight hub ensemble's rule).  Averaging
    monotone quantile functions gives a monotone quantile function.

    The default members are :class:`~equicare.forecast.models.pooled.PooledGBM` (weight 3, trained with
    ``augment`` extra series when given) and :class:`~equicare.forecast.models.smoothing.DampedTrend`
    (weight 1): among the quantile averages of the pooled AR, pooled GBM and damped-trend models tried on the
    2022-23 validation season (with and without ILINet augmentation), this had the lowest mean WIS.

    References
    ----------
    Ray et al. (2023), "Comparing trained and untrained probabilistic ensemble forecasts of COVID-19 cases
    and deaths in the United States", Int J Forecasting 39(3):1366-1383; Lichtendahl, Grushka-Cockayne &
    Winkler (2013), "Is it better to average probabilities or quantiles?", Management Science 59(7).
    """

    name = "ensemble"

    def __init__(self, members: Sequence[ForecastModel] | None = None, weights: Sequence[float] | None = None,
                 combine: str = "mean", augment: Panel | None = None) -> None:
        from equicare.forecast.models.pooled import PooledGBM
        from equicare.forecast.models.smoothing import DampedTrend

        if members is None:
            members = [PooledGBM(augment=augment), DampedTrend()]
            weights = DEFAULT_WEIGHTS if weights is None else weights
        self.members = list(members)
        w = np.ones(len(self.members)) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != (len(self.members),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be one non-negative number per member, not all zero")
        self.weights = w / w.sum()
        if combine not in ("mean", "median"):
            raise ValueError("combine must be 'mean' or 'median'")
        self.combine = combine

    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        preds = np.stack([np.sort(m.predict(panel, steps), axis=-1) for m in self.members])
        if self.combine == "median":
            return np.median(preds, axis=0)
        return np.tensordot(self.weights, preds, axes=1)
