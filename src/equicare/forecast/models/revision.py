"""Revision-aware training: the pooled members learn from training rows built from the data as it was published.

The pooled models (:class:`~equicare.forecast.models.pooled.PooledGBM`, :class:`~equicare.forecast.models.pooled.
PooledAR`) learn ``z_{t+k} - z_t`` (fourth-root rate scale) from features at past origins ``t``.  Built from the
panel a forecast uses, those features come from weeks that have long been revised, while the features a forecast
is made from are the preliminary latest weeks.  Here every past origin ``t`` whose **snapshot published by
``t + 4`` days** exists (the version a forecast for the reference date ``t + 7`` could use, the hub's Wednesday
deadline; :meth:`~equicare.forecast.vintages.Vintages.realtime`) gets its features (and the base ``z_t`` of the
difference target) from that snapshot, and its target ``z_{t+k}`` from the panel the model is given (the data as
known at the forecast's own deadline ``R - 3``, never a later version).  So the model learns the mapping from
preliminary values to the later ones implicitly: the regression is fitted on real-time vintages, as in the
real-time forecasting literature (Koenig, Dolmas & Piger 2003, "The use and abuse of real-time data in economic
forecasting", Review of Economics and Statistics 85(3); Clements & Galvão 2013, "Real-time forecasting of inflation
and output growth with autoregressive models in the presence of data revisions", J. Applied Econometrics 28(3)).

Rows keep their revised features where no snapshot exists (origins before the first version), or where the
snapshot lacks a week of the feature window of that location.  No look-ahead: the model receives a panel cut at
its last usable week ``T <= R - 7``; every snapshot used is published on or before ``t + 4 <= T + 4 <= R - 3``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.forecast.models.design import Design, pooled_design
from equicare.forecast.models.pooled import PooledAR, PooledGBM
from equicare.forecast.truth import Panel
from equicare.forecast.vintages import DEADLINE_DAYS, Vintages

#: Days after an origin week's end at which its as-published snapshot is taken (the deadline of ``t + 7``).
PUBLISHED_AFTER_DAYS = 7 - DEADLINE_DAYS


class _PublishedRows:
    """Mixin for the pooled models: admissions training rows from the snapshots published at each origin."""

    vintages: Vintages | None

    def _window(self) -> int:
        return max(self.n_lags + 1, self.peak_weeks)

    def _published(self, origin: pd.Timestamp, panel: Panel, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X (L, F), base (L,), ok (L,))``: features and level at ``origin`` from the snapshot published by
        ``origin + 4`` days, for the panel's locations; ``ok`` where the snapshot has every week of the window."""
        cache = self.__dict__.setdefault("_pub_cache", {})
        key = (origin, int(k), panel.locations, self.n_lags, self.season, self.peak_weeks, self.power, self.offset)
        hit = cache.get(key)
        if hit is not None:
            return hit
        w = self._window()
        dates = pd.date_range(end=origin, periods=w, freq="7D")
        snap = self.vintages.snapshot(origin + pd.Timedelta(days=PUBLISHED_AFTER_DAYS))
        snap = snap[(snap["date"] >= dates[0]) & (snap["date"] <= origin)]
        wide = snap.pivot(index="date", columns="location", values="value").reindex(index=dates,
                                                                                    columns=list(panel.locations))
        values = wide.to_numpy(dtype=float)
        zw = self._z(Panel(dates, panel.locations, values, panel.population))
        zw[np.isnan(values)] = np.nan
        d = pooled_design(zw, dates, k, self.n_lags, season=self.season, peak_weeks=self.peak_weeks)
        ok = ~np.isnan(values).any(axis=0) & ~np.isnan(d.X_new).any(axis=1)
        cache[key] = (d.X_new, d.base_new, ok)
        return cache[key]

    def _design(self, z: np.ndarray, panel: Panel, k: int) -> Design:
        d = super()._design(z, panel, k)
        if self.vintages is None or not len(d.y):
            return d
        first = self.vintages.first - pd.Timedelta(days=PUBLISHED_AFTER_DAYS)
        X, y = d.X.copy(), d.y.copy()
        for o in np.unique(d.origin):
            t = panel.dates[o]
            if t < first:
                continue
            Xs, bs, ok = self._published(pd.Timestamp(t), panel, k)
            rows = np.flatnonzero((d.origin == o) & ok[d.loc])
            if not len(rows):
                continue
            locs = d.loc[rows]
            X[rows] = Xs[locs]
            y[rows] = z[o + k, locs] - bs[locs]
        return Design(X, y, d.loc, d.origin, d.X_new, d.base_new)


class PublishedGBM(_PublishedRows, PooledGBM):
    """:class:`~equicare.forecast.models.pooled.PooledGBM` trained on the data as published (module docstring).

    ``vintages``: the published versions (:func:`~equicare.forecast.vintages.load_vintages`); ``None`` gives the
    plain model.  Other arguments as :class:`~equicare.forecast.models.pooled.PooledGBM`.
    """

    name = "pooled_gbm_published"

    def __init__(self, vintages: Vintages | None = None, **kw: object) -> None:
        super().__init__(**kw)
        self.vintages = vintages


class PublishedAR(_PublishedRows, PooledAR):
    """:class:`~equicare.forecast.models.pooled.PooledAR` trained on the data as published (module docstring)."""

    name = "pooled_ar_published"

    def __init__(self, vintages: Vintages | None = None, **kw: object) -> None:
        super().__init__(**kw)
        self.vintages = vintages
