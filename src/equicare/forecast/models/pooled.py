"""Pooled models on a variance-stabilised scale: linear and gradient-boosted autoregressions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from equicare.forecast.models.base import ForecastModel, Q
from equicare.forecast.models.design import Design, pooled_design
from equicare.forecast.truth import Panel


class _Pooled(ForecastModel):
    r"""Shared machinery: transform, pooled design per step, residual quantiles, back-transform.

    Observations are mapped to ``z = (r + c)^{1/p}`` with ``r`` admissions per 100,000 (``p = 4``: the
    fourth-root scale on which weekly counts have roughly constant variance across locations and
    seasons).  For each step ``k`` a regressor predicts the change ``z_{t+k} - z_t`` from features known at
    ``t`` (see :func:`~equicare.forecast.models.design.pooled_design`); the forecast quantile ``tau`` is
    ``z_T + f(x_T) + s * e_tau`` with ``e_tau`` the ``tau``-quantile of residuals of recent training rows and
    ``s`` a spread factor, mapped back with ``y = N/1e5 * (z^p - c)`` (a monotone map, so quantiles
    transform exactly).

    ``augment`` optionally adds the rows of other series (e.g. ILINet pseudo rates from
    :func:`~equicare.forecast.ilinet.load_ilinet`) to the training set of the regressor, only weeks dated on or
    before the panel's last week (and, with ``augment_months``, only origins in those calendar months);
    residual quantiles always come from the admissions rows.

    ``resid_regimes = G > 1``: residual quantiles by growth regime. The residual-window rows are split into ``G``
    equal-count groups by their latest weekly change ``z_t - z_{t-1}`` (known at the origin); each group's residual
    quantiles, centred on its own median, give the offsets of the locations whose latest change at the forecast
    origin falls in that group (thresholds from the training rows). The residual spread as a function of the
    features, binned, as in locally weighted conformal prediction (Lei et al. 2018, JASA 113(523), sec. 5.2).
    """

    def __init__(self, power: float = 4.0, offset: float = 0.3, n_lags: int = 3, resid_weeks: int | None = 52,
                 spread: float = 1.2, min_rows: int = 60, season: bool = True,
                 augment: Panel | None = None,
                 augment_months: tuple[int, ...] | None = (10, 11, 12, 1, 2, 3, 4, 5), peak_weeks: int = 0,
                 resid_regimes: int = 1) -> None:
        if int(resid_regimes) < 1:
            raise ValueError("resid_regimes must be a positive integer")
        self.resid_regimes = int(resid_regimes)
        self.power = power
        self.offset = offset
        self.n_lags = n_lags
        self.resid_weeks = resid_weeks
        self.spread = spread
        self.min_rows = min_rows
        self.season = season
        self.augment = augment
        self.augment_months = augment_months
        self.peak_weeks = peak_weeks

    def _fit_predict(self, X: np.ndarray, y: np.ndarray, X_new: np.ndarray, k: int,
                     X_fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fit on ``(X, y)``; return (predictions for ``X_new``, fitted values at ``X_fit``)."""
        raise NotImplementedError

    def _offsets(self, eq: np.ndarray, k: int) -> np.ndarray:
        """Quantile offsets from the median on the transformed scale: ``(23,)`` for every location or
        ``(L, 23)``; by default the centred residual quantiles ``eq`` of the last fit (``(23,)``, or ``(L, 23)``
        with growth regimes)."""
        return eq

    def _residual_offsets(self, resid: np.ndarray, change_fit: np.ndarray, change_new: np.ndarray) -> np.ndarray:
        """Centred residual quantiles: ``(23,)``, or ``(L, 23)`` by growth regime (``resid_regimes``); a regime
        with fewer than 23 rows uses the pooled quantiles."""
        eq = np.quantile(resid, Q)
        eq = eq - eq[len(Q) // 2]
        G = self.resid_regimes
        if G == 1:
            return eq
        cuts = np.quantile(change_fit, np.arange(1, G) / G)
        g_fit, g_new = np.searchsorted(cuts, change_fit), np.searchsorted(cuts, np.nan_to_num(change_new))
        out = np.repeat(eq[None, :], len(change_new), axis=0)
        for g in range(G):
            r = resid[g_fit == g]
            if len(r) >= len(Q):
                e = np.quantile(r, Q)
                out[g_new == g] = e - e[len(Q) // 2]
        return out

    def _design(self, z: np.ndarray, panel: Panel, k: int) -> Design:
        """The admissions rows for step ``k`` (:func:`~equicare.forecast.models.design.pooled_design` on ``z``);
        subclasses may replace rows (e.g. :mod:`equicare.forecast.models.revision`)."""
        return pooled_design(z, panel.dates, k, self.n_lags, season=self.season, peak_weeks=self.peak_weeks)

    def _z(self, panel: Panel) -> np.ndarray:
        rate = np.maximum(panel.values, 0.0) / (panel.population / 1e5)[None, :]
        return (rate + self.offset) ** (1.0 / self.power)

    def _augment_rows(self, aug: Panel, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Training rows ``(X, y)`` of the extra series ``aug`` (``self.augment`` cut at the panel's last week) for
        step ``k``.  They depend only on how many weeks of ``self.augment`` the cut keeps, so they are computed once
        per (kept weeks, step) and reused by later calls (a back-test's reference dates share them)."""
        cache = self.__dict__.setdefault("_aug_cache", {})
        key = (id(self.augment), len(aug.dates), int(k), self.n_lags, self.season, self.peak_weeks, self.augment_months,
               self.power, self.offset)
        if key not in cache:
            if len(cache) >= 32:
                cache.clear()
            da = pooled_design(self._z(aug), aug.dates, k, self.n_lags, season=self.season, peak_weeks=self.peak_weeks)
            keep = slice(None)
            if self.augment_months is not None:
                keep = np.isin(aug.dates.month.to_numpy()[da.origin], self.augment_months)
            cache[key] = (da.X[keep], da.y[keep])
        return cache[key]

    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        scale = panel.population / 1e5
        z = self._z(panel)
        L = z.shape[1]
        aug = None
        if self.augment is not None:
            keep = self.augment.dates <= panel.dates[-1]  # extra series obey the information rule too
            if keep.sum() > self.n_lags + max(steps) + 1:
                aug = Panel(self.augment.dates[keep], self.augment.locations, self.augment.values[keep],
                            self.augment.population)
        out = np.empty((L, len(steps), len(Q)))
        for i, k in enumerate(steps):
            d = self._design(z, panel, k)
            base = np.nan_to_num(d.base_new, nan=self.offset ** (1.0 / self.power))
            if len(d.y) < self.min_rows:
                zq = np.repeat(base[:, None], len(Q), axis=1)
            else:
                X, y = d.X, d.y
                if aug is not None:
                    Xa, ya = self._augment_rows(aug, k)
                    X, y = np.vstack([X, Xa]), np.concatenate([y, ya])
                # residuals come from the admissions rows (the first len(d.y) rows) in the window only
                use = np.ones(len(d.y), bool)
                if self.resid_weeks is not None:
                    use = d.origin >= d.origin.max() - self.resid_weeks
                pred, fitted = self._fit_predict(X, y, np.nan_to_num(d.X_new), k, d.X[use])
                resid = d.y[use] - fitted
                eq = self._offsets(self._residual_offsets(resid, d.X[use][:, 1], d.X_new[:, 1]), k)
                zq = (base + pred)[:, None] + self.spread * np.atleast_2d(eq)
            zq = np.maximum(zq, 0.0)
            out[:, i, :] = (zq ** self.power - self.offset) * scale[:, None]
        return out


class PooledAR(_Pooled):
    """Linear autoregression on the fourth-root rate scale, pooled over locations (least squares).

    See :class:`_Pooled` for the transform and the quantiles.
    """

    name = "pooled_ar"

    def _fit_predict(self, X: np.ndarray, y: np.ndarray, X_new: np.ndarray, k: int,
                     X_fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        A = np.column_stack([np.ones(len(y)), X])
        beta, *_ = np.linalg.lstsq(A, y, rcond=None)
        return np.column_stack([np.ones(len(X_new)), X_new]) @ beta, np.column_stack([np.ones(len(X_fit)), X_fit]) @ beta


class PooledGBM(_Pooled):
    """Gradient-boosted trees (LightGBM) on the fourth-root rate scale, pooled over locations.

    The same design as :class:`PooledAR`, with the linear predictor replaced by a small boosted ensemble
    (``n_estimators`` trees of ``num_leaves`` leaves, learning rate ``learning_rate``, row subsampling,
    fixed seed, one thread so results are reproducible).

    Intervals: by default the residual quantiles of :class:`_Pooled` (in-sample residuals of boosted trees
    are narrower than out-of-sample errors; ``spread`` widens them).  With ``quantile_levels`` (which must
    contain 0.5), LightGBM models trained with the quantile (pinball) objective on the same rows, one per
    level (``quantile_trees`` trees, learning rate ``quantile_rate``, trained on every
    ``quantile_row_step``-th row to save time), give each location its own offsets
    ``q_tau(x) - q_0.5(x)`` from the median; these are added to the squared-error model's median.  Levels
    between fitted ones are interpolated linearly in ``tau``; levels beyond the outermost fitted ones keep
    the shape of the residual quantiles (``e_tau / e_tau0`` times the outermost offset).  So the interval
    width follows the features (level, recent changes) instead of being one width for all locations.

    References
    ----------
    Ke et al. (2017), "LightGBM: a highly efficient gradient boosting decision tree", NeurIPS 30;
    Koenker & Bassett (1978), "Regression quantiles", Econometrica 46(1).
    """

    name = "pooled_gbm"

    def __init__(self, n_estimators: int = 100, num_leaves: int = 15, learning_rate: float = 0.05,
                 min_child_samples: int = 40, season: bool = False, offset: float = 0.01, n_lags: int = 5,
                 quantile_levels: Sequence[float] | None = None, quantile_trees: int = 20,
                 quantile_rate: float = 0.125, quantile_row_step: int = 1, **kw: object) -> None:
        super().__init__(season=season, offset=offset, n_lags=n_lags, **kw)
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.min_child_samples = min_child_samples
        if quantile_levels is not None:
            quantile_levels = tuple(sorted(float(a) for a in quantile_levels))
            if 0.5 not in quantile_levels or not all(0 < a < 1 for a in quantile_levels):
                raise ValueError("quantile_levels must lie in (0, 1) and contain 0.5")
        self.quantile_levels = quantile_levels
        self.quantile_trees = quantile_trees
        self.quantile_rate = quantile_rate
        if int(quantile_row_step) < 1:
            raise ValueError("quantile_row_step must be a positive integer")
        self.quantile_row_step = int(quantile_row_step)
        self._qoff: np.ndarray | None = None

    def _params(self, k: int, **extra: object) -> dict:
        # the LGBMRegressor defaults this model was tuned with (subsample 0.8 every round, 90% of features)
        # force_col_wise: the histogram layout LightGBM chooses for these designs anyway, without its timing test
        return dict(objective="regression", num_leaves=self.num_leaves, learning_rate=self.learning_rate,
                    min_data_in_leaf=self.min_child_samples, bagging_fraction=0.8, bagging_freq=1,
                    feature_fraction=0.9, seed=k, num_threads=1, force_col_wise=True, verbose=-1, **extra)

    def _fit_predict(self, X: np.ndarray, y: np.ndarray, X_new: np.ndarray, k: int,
                     X_fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import lightgbm as lgb

        data = lgb.Dataset(X, y, params={"verbose": -1}, free_raw_data=False)
        m = lgb.train(self._params(k), data, num_boost_round=self.n_estimators)
        self._qoff = None
        if self.quantile_levels is not None:
            if self.quantile_row_step > 1:  # every n-th row (rows run over locations within each week)
                data = data.subset(np.arange(0, len(y), self.quantile_row_step))
            qs = np.column_stack([
                lgb.train(self._params(k, alpha=a) | {"objective": "quantile", "learning_rate": self.quantile_rate},
                          data, num_boost_round=self.quantile_trees).predict(X_new, num_threads=1)
                for a in self.quantile_levels])
            qs = np.sort(qs, axis=1)
            self._qoff = qs - qs[:, [self.quantile_levels.index(0.5)]]
        # one thread: the default (every core, OpenMP) costs ~50x the CPU on these small prediction sets
        return m.predict(X_new, num_threads=1), m.predict(X_fit, num_threads=1)

    def _offsets(self, eq: np.ndarray, k: int) -> np.ndarray:
        if self._qoff is None:
            return eq
        lv = np.asarray(self.quantile_levels)
        off = np.array([np.interp(Q, lv, o) for o in self._qoff])
        edges = ((Q < lv[0], np.searchsorted(Q, lv[0])), (Q > lv[-1], np.searchsorted(Q, lv[-1], side="right") - 1))
        e = np.broadcast_to(np.atleast_2d(eq), off.shape)
        for tail, j in edges:
            if tail.any():  # beyond the outermost fitted level: offset there times the residual tail shape
                e0 = e[:, [j]]  # Q[j] is a fitted level, so the residual quantile there is e[:, j]
                safe = np.where(e0 != 0, e0, 1.0)
                ratio = np.where(e0 != 0, e[:, tail] / safe, 1.0)
                off[:, tail] = off[:, [j]] * ratio
        return off
