"""Demand forecasting with calibrated uncertainty: weekly influenza hospital admissions by state.

Follows the CDC FluSight hub: for a reference date ``R`` (a Saturday) and horizons 0..3, each model gives
the 23 hub quantiles of admissions in the week ending ``R + 7h``, using only data dated ``R - 7`` or earlier.

>>> from equicare.forecast import load_truth, forecast, score
>>> truth = load_truth("target-hospital-admissions.csv")          # doctest: +SKIP
>>> fc = forecast(truth, "2024-01-06")                             # doctest: +SKIP
>>> score(truth, fc)["wis"]                                        # doctest: +SKIP
"""

from equicare.forecast.hub import COLUMNS, QUANTILES, TARGET, load_forecasts
from equicare.forecast.models import MODELS, ForecastModel
from equicare.forecast.run import DEFAULT_MODEL, backtest, forecast, forecast_panel
from equicare.forecast.scenarios import demand_scenarios
from equicare.forecast.scoring import score, wis
from equicare.forecast.truth import Panel, bundled_path, load_population, load_truth, to_panel
from equicare.forecast.vintages import Vintages, load_vintages

__all__ = ["COLUMNS", "DEFAULT_MODEL", "MODELS", "QUANTILES", "TARGET", "ForecastModel", "Panel", "backtest",
           "bundled_path", "demand_scenarios", "forecast", "forecast_panel", "load_forecasts", "load_population", "load_truth",
           "load_vintages", "score", "to_panel", "Vintages", "wis"]
