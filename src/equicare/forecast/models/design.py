"""Pooled training designs: one row per (forecast origin, location), features known at the origin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from equicare.forecast.models.base import ffill, season_angle


@dataclass
class Design:
    """Training rows and the rows to predict for one step ``k`` ahead.

    ``X``/``y``/``loc`` are the training features, targets and location index of each row; ``X_new`` has
    one row per location (origin = last week of the panel), ``base_new`` the transformed level at that origin.
    """

    X: np.ndarray
    y: np.ndarray
    loc: np.ndarray
    origin: np.ndarray
    X_new: np.ndarray
    base_new: np.ndarray


def lag_features(z: np.ndarray, n_lags: int) -> np.ndarray:
    """Features at every origin ``t``: level ``z_t`` and the changes ``z_{t-i} - z_{t-i-1}``, ``i < n_lags``.

    Returns a ``(T, L, 1 + n_lags)`` array; rows without enough history are NaN.
    """
    T, L = z.shape
    f = np.full((T, L, 1 + n_lags), np.nan)
    f[:, :, 0] = z
    for i in range(n_lags):
        f[i + 1:, :, 1 + i] = z[1:T - i] - z[:T - i - 1]
    return f


def pooled_design(z: np.ndarray, dates: pd.DatetimeIndex, k: int, n_lags: int,
                  extra: np.ndarray | None = None, difference: bool = True,
                  season: bool = True, min_origin: int = 0, peak_weeks: int = 0) -> Design:
    """Build the pooled regression design for ``k`` steps ahead on a transformed panel ``z``.

    Parameters
    ----------
    z
        ``(T, L)`` transformed observations (NaN where missing).
    dates
        Week-ending dates of the rows of ``z``.
    k
        Steps ahead.
    n_lags
        Number of past one-week changes used as features.
    extra
        Optional ``(L, m)`` per-location covariates appended to every row (e.g. log population).
    difference
        Target is ``z_{t+k} - z_t`` when True, ``z_{t+k}`` when False.
    season
        Append ``sin`` and ``cos`` of the target week's phase of the year.
    min_origin
        First origin row allowed in training.
    peak_weeks
        When positive, append ``z_t - max(z_{t-w+1..t})`` and the weeks since that maximum divided by ``w``
        (``w = peak_weeks``): where the location stands relative to its recent peak.

    Notes
    -----
    Features use the last observed value (carried forward) at or before each origin, so a missing week
    does not drop the forecast; training rows whose target is missing are dropped.
    """
    T, L = z.shape
    zf = ffill(z)
    feats = lag_features(zf, n_lags)
    parts = [feats]
    if season:
        ang = season_angle((dates + pd.Timedelta(weeks=k)).to_numpy())
        parts.append(np.broadcast_to(np.stack([np.sin(ang), np.cos(ang)], axis=1)[:, None, :], (T, L, 2)))
    if peak_weeks > 0:
        parts.append(peak_features(zf, peak_weeks))
    if extra is not None:
        parts.append(np.broadcast_to(extra[None, :, :], (T, L, extra.shape[1])))
    F = np.concatenate(parts, axis=2)
    X_new = F[-1]
    base_new = zf[-1]
    if T - k <= 0:
        return Design(np.empty((0, F.shape[2])), np.empty(0), np.empty(0, int), np.empty(0, int), X_new, base_new)
    Xtr = F[: T - k]
    tgt = z[k:] - (zf[: T - k] if difference else 0.0)
    origin = np.broadcast_to(np.arange(T - k)[:, None], (T - k, L))
    loc = np.broadcast_to(np.arange(L)[None, :], (T - k, L))
    ok = ~np.isnan(tgt) & ~np.isnan(Xtr).any(axis=2) & (origin >= min_origin)
    return Design(Xtr[ok], tgt[ok], loc[ok], origin[ok], X_new, base_new)


def peak_features(z: np.ndarray, w: int) -> np.ndarray:
    """``(T, L, 2)``: distance below the running ``w``-week maximum and weeks since it (over ``w``)."""
    from numpy.lib.stride_tricks import sliding_window_view

    L = z.shape[1]
    pad = np.vstack([np.full((w - 1, L), -np.inf), np.where(np.isnan(z), -np.inf, z)])
    win = sliding_window_view(pad, w, axis=0)  # (T, L, w), last element = week t
    mx = win.max(axis=2)
    since = (w - 1 - np.argmax(win[:, :, ::-1] == mx[:, :, None], axis=2)).astype(float)
    since = (w - 1 - since) / w
    out = np.stack([z - mx, since], axis=2)
    out[~np.isfinite(out)] = np.nan
    return out
