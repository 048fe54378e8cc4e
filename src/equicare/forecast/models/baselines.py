"""Reference forecasters: the hub's flat baseline and a seasonal-naive model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from equicare.forecast.models.base import ForecastModel, Q, ffill, last_value
from equicare.forecast.truth import Panel


class FlatBaseline(ForecastModel):
    """Flat random walk with symmetrised empirical weekly changes (the FluSight-baseline method).

    The median of every horizon is the last observed value ``y_T``.  One-week changes
    ``d_t = y_t - y_{t-1}`` over the last ``window`` weeks (all weeks when ``None``) are pooled with their
    negatives, and ``k``-step-ahead values are ``y_T + d_1 + ... + d_k`` with ``d_i`` drawn independently
    from that symmetric set (``n_samples`` Monte-Carlo draws with a fixed seed, so the forecast is a
    deterministic function of the data).  Quantiles are rounded up to whole admissions and clipped at zero,
    as in the hub's ``simplets`` quantile baseline.

    References
    ----------
    Reich Lab, ``simplets::fit_simple_ts(model = "quantile_baseline", symmetrize = TRUE)``; the
    COVID-19 and FluSight hubs' baseline models (Cramer et al. 2022, PNAS 119:e2113561119).
    """

    name = "flat_baseline"

    def __init__(self, window: int | None = None, n_samples: int = 4000, seed: int = 20231014) -> None:
        self.window = window
        self.n_samples = n_samples
        self.seed = seed

    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        y = panel.values
        last = last_value(y)
        d = np.diff(y, axis=0)
        if self.window is not None:
            d = d[-self.window:]
        out = np.empty((y.shape[1], len(steps), len(Q)))
        rng = np.random.default_rng(self.seed)
        kmax = max(steps)
        u = rng.random((self.n_samples, kmax))
        for j in range(y.shape[1]):
            dj = d[:, j][~np.isnan(d[:, j])]
            if dj.size == 0:
                out[j] = last[j]
                continue
            sym = np.sort(np.concatenate([dj, -dj]))
            draws = sym[np.minimum((u * sym.size).astype(int), sym.size - 1)]
            paths = last[j] + np.cumsum(draws, axis=1)
            qs = np.quantile(paths[:, np.asarray(steps) - 1], Q, axis=0).T
            qs = np.ceil(qs)
            qs[:, len(Q) // 2] = last[j]
            out[j] = qs
        return out


class SeasonalNaive(ForecastModel):
    """Seasonal-naive forecaster: next weeks repeat the same weeks one year (52 weeks) earlier.

    The forecast for the week ``T + k`` is ``y_{T+k-52}`` plus the empirical quantiles of the
    location's past seasonal errors ``y_t - y_{t-52}``.  Where the location has less than a year of data
    the flat baseline is used instead.

    References
    ----------
    Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., section 5.2.
    """

    name = "seasonal_naive"

    def __init__(self, period: int = 52) -> None:
        self.period = period

    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        p = self.period
        y = panel.values
        out = FlatBaseline().predict(panel, steps)
        T = y.shape[0]
        if T <= p:
            return out
        yf = ffill(y)
        err = y[p:] - y[:-p]
        for j in range(y.shape[1]):
            e = err[:, j][~np.isnan(err[:, j])]
            if e.size < 8:
                continue
            qe = np.quantile(e, Q)
            for i, k in enumerate(steps):
                idx = T - 1 + k - p
                if 0 <= idx < T and not np.isnan(yf[idx, j]):
                    out[j, i] = yf[idx, j] + qe
        return out
