"""Demand scenarios for allocation from quantile forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.errors import EquicareError


def demand_scenarios(forecasts: pd.DataFrame, levels: tuple[float, ...] = (0.5, 0.9)) -> pd.DataFrame:
    """Peak weekly admissions over the forecast horizons at given quantile levels, per location.

    For each location, reference date and level ``tau``, the scenario value is
    ``max_h q_tau(h)``, the largest ``tau``-quantile over the horizons, and ``target_end_date`` the week it
    falls in.  Because ``max_h q_tau(h) <= q_tau(max_h Y_h)``, this is a slightly optimistic stand-in for the
    ``tau``-quantile of the peak (exact when the weekly values are comonotone, as under a common level shift).

    Parameters
    ----------
    forecasts
        Hubverse quantile rows (e.g. from :func:`~equicare.forecast.run.forecast`).
    levels
        Quantile levels to report; each must be one of the forecast's levels.

    Returns
    -------
    pandas.DataFrame
        Columns ``reference_date, location, level, target_end_date, value``.
    """
    f = forecasts.assign(output_type_id=pd.to_numeric(forecasts["output_type_id"]).round(4))
    have = set(f["output_type_id"])
    missing = [lv for lv in levels if round(lv, 4) not in have]
    if missing:
        raise EquicareError(f"forecasts have no quantile level {missing}; available: {sorted(have)}")
    f = f[f["output_type_id"].isin([round(lv, 4) for lv in levels])]
    idx = f.groupby(["reference_date", "location", "output_type_id"])["value"].idxmax()
    out = f.loc[idx.to_numpy(), ["reference_date", "location", "output_type_id", "target_end_date", "value"]]
    out = out.rename(columns={"output_type_id": "level"}).sort_values(["reference_date", "location", "level"])
    return out.reset_index(drop=True).astype({"value": np.float64})
