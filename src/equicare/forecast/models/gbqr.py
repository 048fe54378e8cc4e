"""Pooled quantile gradient boosting on the fourth-root scale, after UMass-flusion's GBQR component."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import norm

from equicare.forecast.models.base import ForecastModel, Q, ffill, season_angle
from equicare.forecast.truth import Panel

#: Quantile levels fitted by :class:`PooledGBQR` (the other hub levels are interpolated / extended).
GBQR_LEVELS = (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975)


def gbqr_features(z: np.ndarray, n_lags: int = 3, mean_windows: Sequence[int] = (2, 4, 8),
                  slope_windows: Sequence[int] = (3, 5, 8)) -> np.ndarray:
    """Features known at every origin ``t`` of a transformed panel, ``(T, L, F)`` (NaN without enough history).

    ``F = 1 + n_lags + len(mean_windows) + len(slope_windows)``: the level ``z_t``; the changes
    ``z_{t-i} - z_{t-i-1}`` for ``i < n_lags``; for each ``w`` in ``mean_windows`` the mean of ``z`` over the last
    ``w`` weeks minus ``z_t``; for each ``w`` in ``slope_windows`` the least-squares slope of ``z`` over the last
    ``w`` weeks (per week).  ``z`` is carried forward over missing weeks first (leading NaNs stay NaN).
    """
    zf = ffill(z)
    T, L = zf.shape
    parts = [zf[:, :, None]]
    ch = np.full((T, L, n_lags), np.nan)
    for i in range(n_lags):
        ch[i + 1:, :, i] = zf[1:T - i] - zf[:T - i - 1]
    parts.append(ch)
    for w in mean_windows:
        f = np.full((T, L), np.nan)
        if w <= T:
            f[w - 1:] = sliding_window_view(zf, w, axis=0).mean(axis=2) - zf[w - 1:]
        parts.append(f[:, :, None])
    for w in slope_windows:
        f = np.full((T, L), np.nan)
        if w <= T:
            x = np.arange(w) - (w - 1) / 2.0
            f[w - 1:] = sliding_window_view(zf, w, axis=0) @ x / (x @ x)
        parts.append(f[:, :, None])
    return np.concatenate(parts, axis=2)


def _rows(z: np.ndarray, dates: pd.DatetimeIndex, steps: Sequence[int], source: float
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows stacked over ``steps``: ``(X, y, origin)``; ``X`` = features, phase of the target week,
    step, source flag; ``y = z_{t+k} - z_t`` (carried-forward ``z_t``); rows with a missing target dropped."""
    F = gbqr_features(z)
    zf = ffill(z)
    T, L, _ = F.shape
    Xs, ys, os = [], [], []
    for k in steps:
        if T - k <= 0:
            continue
        ang = season_angle((dates[: T - k] + pd.Timedelta(weeks=int(k))).to_numpy())
        extra = np.broadcast_to(np.stack([np.sin(ang), np.cos(ang), np.full(T - k, float(k)),
                                          np.full(T - k, source)], axis=1)[:, None, :], (T - k, L, 4))
        X = np.concatenate([F[: T - k], extra], axis=2)
        y = z[k:] - zf[: T - k]
        origin = np.broadcast_to(np.arange(T - k)[:, None], (T - k, L))
        ok = ~np.isnan(y) & ~np.isnan(X).any(axis=2)
        Xs.append(X[ok]), ys.append(y[ok]), os.append(origin[ok])
    if not Xs:
        return np.empty((0, F.shape[2] + 4)), np.empty(0), np.empty(0, int)
    return np.vstack(Xs), np.concatenate(ys), np.concatenate(os)


class PooledGBQR(ForecastModel):
    r"""Quantile gradient boosting (LightGBM, pinball loss) on the fourth-root rate scale, pooled over locations
    and steps: the GBQR component of UMass-flusion.

    Observations become ``z = (r + c)^{1/4}`` with ``r`` admissions per 100,000 and ``c = offset``.  For each level
    ``tau`` of :data:`GBQR_LEVELS` one LightGBM model with the quantile objective predicts the change
    ``z_{t+k} - z_t`` from the features of :func:`gbqr_features` at the origin ``t``, the phase of the year of the
    target week (sin, cos), the step ``k`` and a source flag (0 admissions, 1 extra series); one model serves all
    requested steps (flusion trains one model across horizons).  Training rows are every (origin, location) of the
    panel with an observed target and, with ``augment`` (ILINet pseudo-rates), those of the extra series dated on or
    before the panel's last week (origins in ``augment_months`` only).  The fitted quantiles are sorted per row
    (no crossing); the hub's other levels are interpolated linearly in ``tau``; the outer levels 0.01 / 0.99 extend
    the 0.025 / 0.975 offsets from the median by the normal ratio ``Phi^{-1}(0.99) / Phi^{-1}(0.975)``.  The
    quantiles are mapped back by ``y = N/1e5 (max(z, 0)^4 - c)`` (monotone, so they stay ordered) and clipped at 0.

    Settings (round 6, ``bench/selection-round6.md``, fixed before any score was seen): 20 trees of 15 leaves,
    learning rate 0.1, at least 40 rows per leaf, 80 % row bagging, every second row of the extra series (the
    declared fallback from 40 trees and all rows, which cost 5.6 s CPU per reference date).

    The models are fitted anew at every call on the panel's data only (and extra series up to its last week), so
    nothing after the panel's last week is used; ``predict`` returns ``(L, len(steps), 23)``.

    References
    ----------
    Ray, E. L. et al. (2025), "Flusion: Integrating multiple data sources for accurate influenza predictions",
    Epidemics 50: 100810; Ke et al. (2017), "LightGBM", NeurIPS 30; Koenker & Bassett (1978), "Regression
    quantiles", Econometrica 46(1).
    """

    name = "pooled_gbqr"

    def __init__(self, n_estimators: int = 20, num_leaves: int = 15, learning_rate: float = 0.1,
                 min_child_samples: int = 40, offset: float = 0.01, levels: Sequence[float] = GBQR_LEVELS,
                 augment: Panel | None = None,
                 augment_months: tuple[int, ...] | None = (10, 11, 12, 1, 2, 3, 4, 5),
                 augment_row_step: int = 2) -> None:
        levels = tuple(sorted(float(a) for a in levels))
        if 0.5 not in levels or not all(0 < a < 1 for a in levels) or len(levels) < 3:
            raise ValueError("levels must be at least three values in (0, 1) including 0.5")
        if int(augment_row_step) < 1:
            raise ValueError("augment_row_step must be a positive integer")
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.min_child_samples = min_child_samples
        self.offset = offset
        self.levels = levels
        self.augment = augment
        self.augment_months = augment_months
        self.augment_row_step = int(augment_row_step)

    def _z(self, values: np.ndarray, population: np.ndarray) -> np.ndarray:
        return (np.maximum(values, 0.0) / (population / 1e5)[None, :] + self.offset) ** 0.25

    def training_rows(self, panel: Panel, steps: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)``: the admissions rows of ``panel`` then the extra series' rows (dated on or before the panel's
        last week), stacked over ``steps``."""
        X, y, _ = _rows(self._z(panel.values, panel.population), panel.dates, steps, 0.0)
        if self.augment is not None:
            keep = self.augment.dates <= panel.dates[-1]  # extra series obey the information rule too
            if keep.sum() > max(steps) + 2:
                Xa, ya = self._augment_rows(int(keep.sum()), tuple(steps))
                X, y = np.vstack([X, Xa]), np.concatenate([y, ya])
        return X, y

    def _augment_rows(self, n_weeks: int, steps: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The extra series' rows from its first ``n_weeks`` weeks (those on or before the panel's last week),
        computed once per (weeks kept, steps) and reused by later calls."""
        cache = self.__dict__.setdefault("_aug_cache", {})
        key = (id(self.augment), n_weeks, steps, self.offset, self.augment_months, self.augment_row_step)
        if key not in cache:
            if len(cache) >= 32:
                cache.clear()
            keep = np.arange(len(self.augment.dates)) < n_weeks  # a mask (a copy), as without the cache: the window
            dates = self.augment.dates[keep]                       # sums' rounding depends on the array's memory
            Xa, ya, oa = _rows(self._z(self.augment.values[keep], self.augment.population), dates, steps, 1.0)
            sel = np.ones(len(ya), bool)
            if self.augment_months is not None:
                sel = np.isin(dates.month.to_numpy()[oa], self.augment_months)
            idx = np.flatnonzero(sel)[:: self.augment_row_step]
            cache[key] = (Xa[idx], ya[idx])
        return cache[key]

    def new_rows(self, panel: Panel, steps: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(X_new, base)``: one row per (location, step) at the panel's last week (location-major), and each
        location's carried-forward level ``z_T``."""
        z = self._z(panel.values, panel.population)
        F = gbqr_features(z)[-1]
        L = F.shape[0]
        base = ffill(z)[-1]
        rows = []
        for k in steps:
            ang = season_angle(np.array([(panel.dates[-1] + pd.Timedelta(weeks=int(k))).to_datetime64()]))[0]
            rows.append(np.column_stack([F, np.full((L, 4), [np.sin(ang), np.cos(ang), float(k), 0.0])]))
        X_new = np.stack(rows, axis=1).reshape(L * len(steps), -1)
        return X_new, base

    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        import lightgbm as lgb

        steps = [int(k) for k in steps]
        L = len(panel.locations)
        scale = panel.population / 1e5
        X, y = self.training_rows(panel, steps)
        X_new, base = self.new_rows(panel, steps)
        base = np.nan_to_num(base, nan=self.offset ** 0.25)
        if len(y) < 60:  # too little to learn from: the last level, no spread
            zq = np.repeat(np.repeat(base[:, None, None], len(steps), axis=1), len(Q), axis=2)
        else:
            data = lgb.Dataset(X, y, params={"verbose": -1}, free_raw_data=False)
            preds = np.column_stack([
                lgb.train(dict(objective="quantile", alpha=a, num_leaves=self.num_leaves,
                               learning_rate=self.learning_rate, min_data_in_leaf=self.min_child_samples,
                               bagging_fraction=0.8, bagging_freq=1, seed=17, num_threads=1, verbose=-1),
                          data, num_boost_round=self.n_estimators).predict(np.nan_to_num(X_new), num_threads=1)
                for a in self.levels])
            preds = np.sort(preds, axis=1).reshape(L, len(steps), len(self.levels))
            zq = base[:, None, None] + hub_levels(preds, self.levels)
        zq = np.maximum(zq, 0.0)
        return np.maximum((zq ** 4 - self.offset) * scale[:, None, None], 0.0)


def hub_levels(q: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """The 23 hub levels from sorted quantiles ``q[..., j]`` at ``levels``: linear in ``tau`` inside the fitted
    range; beyond it, the outermost offset from the median scaled by the normal quantile ratio
    ``Phi^{-1}(tau) / Phi^{-1}(tau_outer)`` (so 0.01 / 0.99 extend 0.025 / 0.975 by 1.187).  Monotone in ``tau``
    when ``q`` is."""
    lv = np.asarray(levels, float)
    flat = q.reshape(-1, len(lv))
    out = np.empty((flat.shape[0], len(Q)))
    med = flat[:, [list(lv).index(0.5)]]
    for j, t in enumerate(Q):
        if t < lv[0]:
            out[:, j] = (med + (flat[:, [0]] - med) * (norm.ppf(t) / norm.ppf(lv[0])))[:, 0]
        elif t > lv[-1]:
            out[:, j] = (med + (flat[:, [-1]] - med) * (norm.ppf(t) / norm.ppf(lv[-1])))[:, 0]
        else:
            i = min(np.searchsorted(lv, t, side="right") - 1, len(lv) - 2)
            a = (t - lv[i]) / (lv[i + 1] - lv[i])
            out[:, j] = flat[:, i] * (1 - a) + flat[:, i + 1] * a
    return out.reshape(*q.shape[:-1], len(Q))
