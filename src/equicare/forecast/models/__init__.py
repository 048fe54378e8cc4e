"""Forecast models, each producing the hub's 23 quantiles for every location and horizon.

``MODELS`` maps a model name (as accepted by :func:`equicare.forecast.forecast` and the CLI ``--model``
option) to its class; every class can be built without arguments.
"""

from __future__ import annotations

from equicare.forecast.models.base import ForecastModel
from equicare.forecast.models.baselines import FlatBaseline, SeasonalNaive
from equicare.forecast.models.counts import CountEnsemble
from equicare.forecast.models.ensemble import QuantileEnsemble
from equicare.forecast.models.gbqr import PooledGBQR
from equicare.forecast.models.linear import LinearRegression
from equicare.forecast.models.pooled import PooledAR, PooledGBM
from equicare.forecast.models.smoothing import DampedTrend

MODELS: dict[str, type[ForecastModel]] = {
    cls.name: cls
    for cls in (SeasonalNaive, FlatBaseline, LinearRegression, PooledAR, PooledGBM, PooledGBQR, DampedTrend,
                QuantileEnsemble)
}
"""Models of the US flu path (:mod:`equicare.forecast.run`), which works on rates per 100,000."""

SERIES_MODELS: dict[str, type[ForecastModel]] = {**MODELS, CountEnsemble.name: CountEnsemble}
"""Models of any count series (:mod:`equicare.forecast.series`): the flu path's names plus ``count_ensemble``, which
works on counts and so is not offered on the flu path's rates."""

__all__ = ["MODELS", "SERIES_MODELS", "CountEnsemble", "DampedTrend", "FlatBaseline", "ForecastModel", "LinearRegression", "PooledAR",
           "PooledGBM", "PooledGBQR", "QuantileEnsemble", "SeasonalNaive"]
