"""Quantile-averaging ensemble of other models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from equicare.forecast.models.base import ForecastModel, Q, ffill
from equicare.forecast.truth import Panel

#: Weights of the default members (pooled GBM, damped trend) without extra training series, chosen on 2022-23.
DEFAULT_WEIGHTS = (3.0, 1.0)

#: Spread factor per step (hub horizon 0, 1, 2, 3) applied around the median of the default ensemble; chosen on
#: the 2022-23 season (lowest mean WIS per horizon on a 0.05 grid for the GBM with ILINet; it also lowered the
#: mean WIS of the GBM + damped-trend average without ILINet, 0.695 -> 0.691 of flat_baseline).
DEFAULT_SPREAD = (0.8, 1.0, 1.1, 1.1)

#: Settings of the pooled GBM used with extra training series (``augment``), chosen on 2022-23: a squared-error
#: median of 50 trees (learning rate 0.1) and intervals from quantile-objective models at 5 levels (12 trees,
#: learning rate 0.2, every second training row).
AUGMENTED_GBM = {"n_estimators": 50, "learning_rate": 0.1, "quantile_levels": (0.05, 0.25, 0.5, 0.75, 0.95),
                 "quantile_trees": 12, "quantile_rate": 0.2, "quantile_row_step": 2}

#: Weights of the members with extra training series (that pooled GBM, the pooled AR), third selection round.
AUGMENTED_WEIGHTS = (3.0, 1.0)

#: Spread factor per step with extra training series, applied on the fourth-root scale (``spread_scale="root"``);
#: third selection round: per horizon, the lowest mean of the 2021-22 and 2022-23 ratios to the flat baseline among
#: factors whose 95% coverage over both seasons lies in [0.90, 0.97].
AUGMENTED_SPREAD = (0.8, 0.85, 0.9, 0.9)

#: Multipliers of the spread by growth regime (falling, flat, rising; :func:`growth_regimes`) with extra training
#: series: ninth selection round (``bench/selection-round9.md``), chosen per regime on 2021-22 and 2022-23 (lowest
#: mean ratio to flat_baseline with 95% coverage in [0.90, 0.97]) and adopted on the real-time 2023-24 and 2024-25.
AUGMENTED_REGIME_SPREAD = (0.9, 1.0, 1.1)

#: Offset ``c`` of the fourth-root scale ``z = (rate per 100k + c)^(1/4)`` on which a root-scale spread works.
ROOT_OFFSET = 0.01


#: Weeks of a panel whose weekly changes set the growth-regime thresholds (:func:`growth_regimes`).
REGIME_WEEKS = 52


def growth_regimes(panel: Panel, groups: int = 3, weeks: int = REGIME_WEEKS) -> np.ndarray:
    """The growth regime of each location at the panel's last week: ``(L,)`` integers ``0 .. groups - 1``
    (falling .. rising).

    On the fourth-root scale ``z = (rate per 100k + c)^{1/4}`` (``c`` = :data:`ROOT_OFFSET`; missing weeks carried
    forward), the latest change ``d = z_T - z_{T-1}`` of each location is placed among the ``groups``-quantiles
    (terciles for 3) of every weekly change between two observed weeks of every location over the panel's last
    ``weeks`` weeks; a location without two weeks is in the middle regime. Only the panel's own weeks are used.
    """
    rate = np.maximum(panel.values, 0.0) / (panel.population / 1e5)[None, :]
    z = (rate + ROOT_OFFSET) ** 0.25
    zf = ffill(z)
    mid = (groups - 1) // 2
    if len(zf) < 2:
        return np.full(z.shape[1], mid)
    tail = z[-(weeks + 1):]
    ch = np.diff(tail, axis=0)
    ch = ch[np.isfinite(ch)]
    d = zf[-1] - zf[-2]
    if ch.size < groups:
        return np.full(z.shape[1], mid)
    cuts = np.quantile(ch, np.arange(1, groups) / groups)
    return np.where(np.isfinite(d), np.searchsorted(cuts, np.nan_to_num(d)), mid)


def skew_root(q: np.ndarray, scale: np.ndarray, lower: float, upper: float) -> np.ndarray:
    r"""Quantiles scaled around their median on the fourth-root scale, by ``upper`` above it and ``lower`` below.

    .. math:: z = (q / s + c)^{1/4}, \qquad z' = z_{0.5} + m\,(z - z_{0.5}), \quad m = \text{upper if }
              z > z_{0.5} \text{ else lower}, \qquad q' = ((z')^4 - c)\, s,

    with ``s`` = ``scale`` (population / 10^5) and ``c`` = :data:`ROOT_OFFSET`; quantiles at 0 stay at 0, and the
    result is clipped at 0.  Positive factors keep the quantiles monotone.

    Parameters
    ----------
    q
        ``(..., K)`` quantiles (admissions), sorted along the last axis, median at ``K // 2``.
    scale
        Population / 10^5, broadcastable to ``q.shape[:-1]``.
    """
    sc = np.asarray(scale, dtype=float)[..., None]
    z = (q / sc + ROOT_OFFSET) ** 0.25
    zm = z[..., len(Q) // 2][..., None]
    m = np.where(z > zm, float(upper), float(lower))
    out = (np.maximum(zm + m * (z - zm), 0.0) ** 4 - ROOT_OFFSET) * sc
    return np.where(q <= 0.0, 0.0, np.maximum(out, 0.0))


#: Bisection steps of :func:`linear_pool` (the interval between the members' quantiles halves at each).
POOL_STEPS = 48


def linear_pool(preds: np.ndarray, weights: np.ndarray, levels: Sequence[float] = Q) -> np.ndarray:
    r"""Quantiles of the weighted mixture of the members' distributions (linear opinion pool).

    .. math:: F(x) = \sum_m w_m F_m(x), \qquad q_\tau = \min\{x : F(x) \ge \tau\},

    with ``F_m`` the piecewise-linear interpolation of member ``m``'s quantiles at ``levels`` (0 below its lowest
    quantile, 1 above its highest; a jump where quantiles tie).  ``q_tau`` lies between the members' own
    ``tau``-quantiles and is found by bisection there (:data:`POOL_STEPS` halvings).

    Parameters
    ----------
    preds
        ``(M, ..., K)`` members' quantiles, each sorted along the last axis, ``K = len(levels)``.
    weights
        ``(M,)`` non-negative weights (normalised here).

    Returns
    -------
    numpy.ndarray
        ``(..., K)`` the pool's quantiles, non-decreasing along the last axis.

    References
    ----------
    Stone (1961), "The opinion pool", Ann. Math. Statist. 32(4); Lichtendahl, Grushka-Cockayne & Winkler (2013),
    Management Science 59(7); the FluSight hub's ``lop_norm`` ensemble (hubEnsembles ``linear_pool``).
    """
    preds = np.asarray(preds, dtype=float)
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    tau = np.asarray(levels, dtype=float)
    lo, hi = preds.min(axis=0), preds.max(axis=0)

    def cdf(x: np.ndarray) -> np.ndarray:
        total = np.zeros_like(x)
        for wm, q in zip(w, preds):
            k = (q[..., None, :] <= x[..., :, None]).sum(axis=-1)  # quantiles at or below x
            kl = np.clip(k - 1, 0, len(tau) - 1)
            ku = np.clip(k, 0, len(tau) - 1)
            ql, qu = np.take_along_axis(q, kl, -1), np.take_along_axis(q, ku, -1)
            frac = np.where(qu > ql, (x - ql) / np.where(qu > ql, qu - ql, 1.0), 0.0)
            f = tau[kl] + frac * (tau[ku] - tau[kl])
            total += wm * np.where(k == 0, 0.0, np.where(k >= len(tau), 1.0, f))
        return total

    ok = cdf(lo) >= tau - 1e-12
    for _ in range(POOL_STEPS):
        mid = 0.5 * (lo + hi)
        reach = cdf(mid) >= tau - 1e-12
        hi = np.where(reach, mid, hi)
        lo = np.where(reach, lo, mid)
    out = np.where(ok, lo, hi)
    return np.maximum.accumulate(out, axis=-1)


class QuantileEnsemble(ForecastModel):
    r"""Average of the members' quantiles, level by level (Vincentisation), then an optional spread factor.

    .. math:: q_\tau^{\mathrm{ens}} = \sum_m w_m\, q_\tau^{(m)}, \qquad \sum_m w_m = 1,

    with ``weights`` one per member, or a ``(n_steps, n_members)`` array of per-step weights (row ``k - 1`` for
    step ``k``, the last row for further steps; each row normalised),

    or the level-wise median when ``combine="median"`` (the FluSight hub ensemble's rule), or the quantiles of the
    weighted mixture of the members' distributions when ``combine="pool"`` (:func:`linear_pool`; eleventh
    selection round: not the default, ``bench/selection-round11.md``).  Members' quantiles
    are clipped at 0 first.  Averaging monotone quantile functions gives a monotone quantile function.  With
    ``spread`` (one factor per step, the last one repeated for further steps), each quantile becomes
    ``m + s_k (q - m)`` around the median ``m``, which keeps the quantiles monotone.  With
    ``spread_scale="root"`` this happens on the fourth-root scale of the rate,
    ``z = (q / (N / 10^5) + c)^{1/4}`` with ``c`` = :data:`ROOT_OFFSET`, before mapping back; a quantile at 0
    stays at 0 (it stands for all the mass at or below zero, which narrowing should not lift), so weeks with no
    admissions stay covered.  ``skew = (l, u)`` then scales the quantiles below and above the median by ``l`` and
    ``u`` on the fourth-root scale (:func:`skew_root`; twelfth selection round: not the default).  With
    ``regime_spread`` (one multiplier per growth regime, falling .. rising), each
    location's spread is also multiplied by the multiplier of its regime at the forecast origin
    (:func:`growth_regimes` on the panel the forecast uses): wider when admissions are rising fast, narrower when
    they fall.

    Default members, chosen on the 2022-23 validation season among quantile averages of the pooled AR, pooled
    GBM and damped-trend models (weights, median vs mean) and per-horizon spread factors:

    * with ``augment`` (ILINet pseudo-rates): :class:`~equicare.forecast.models.pooled.PooledGBM` with the
      settings :data:`AUGMENTED_GBM` (quantile-objective intervals, second selection round) and
      :class:`~equicare.forecast.models.pooled.PooledAR`, weights :data:`AUGMENTED_WEIGHTS`, with the
      root-scale spread :data:`AUGMENTED_SPREAD` (third selection round, on 2021-22 and 2022-23 together; kept by
      the fourth round, chosen on real-time back-tests of 2023-24, see ``bench/selection-round4.md``) times the
      growth-regime multipliers :data:`AUGMENTED_REGIME_SPREAD` (ninth round);
    * without: PooledGBM (weight 3) and :class:`~equicare.forecast.models.smoothing.DampedTrend` (weight 1),
      with the per-horizon spread :data:`DEFAULT_SPREAD`.

    A rolling calibration (the spread for reference
    date ``R`` fitted on earlier forecasts whose targets were observed by ``R - 7``, windows of 6 to all weeks)
    raised the 2022-23 mean WIS by 0.5-4 % and was not adopted.

    References
    ----------
    Ray et al. (2023), "Comparing trained and untrained probabilistic ensemble forecasts of COVID-19 cases
    and deaths in the United States", Int J Forecasting 39(3):1366-1383; Lichtendahl, Grushka-Cockayne &
    Winkler (2013), "Is it better to average probabilities or quantiles?", Management Science 59(7).
    """

    name = "ensemble"

    def __init__(self, members: Sequence[ForecastModel] | None = None, weights: Sequence[float] | None = None,
                 combine: str = "mean", augment: Panel | None = None,
                 spread: Sequence[float] | None = None, spread_scale: str | None = None,
                 regime_spread: Sequence[float] | None = None, skew: Sequence[float] | None = None) -> None:
        from equicare.forecast.models.pooled import PooledAR, PooledGBM
        from equicare.forecast.models.smoothing import DampedTrend

        if members is None:
            if augment is not None:
                members = [PooledGBM(augment=augment, **AUGMENTED_GBM), PooledAR(augment=augment)]
                weights = AUGMENTED_WEIGHTS if weights is None else weights
                spread = AUGMENTED_SPREAD if spread is None else spread
                spread_scale = "root" if spread_scale is None else spread_scale
                regime_spread = AUGMENTED_REGIME_SPREAD if regime_spread is None else regime_spread
            else:
                members = [PooledGBM(), DampedTrend()]
                weights = DEFAULT_WEIGHTS if weights is None else weights
                spread = DEFAULT_SPREAD if spread is None else spread
        self.members = list(members)
        w = np.ones(len(self.members)) if weights is None else np.asarray(weights, dtype=float)
        if w.ndim == 1:
            w = w[None, :]
        if (w.ndim != 2 or w.shape[1] != len(self.members) or not np.isfinite(w).all() or (w < 0).any()
                or (w.sum(axis=1) <= 0).any()):
            raise ValueError("weights must be one non-negative number per member (not all zero), or one such row "
                             "per step")
        w = w / w.sum(axis=1, keepdims=True)
        self.weights = w[0] if len(w) == 1 else w
        if combine not in ("mean", "median", "pool"):
            raise ValueError("combine must be 'mean', 'median' or 'pool'")
        self.combine = combine
        if spread is not None:
            spread = tuple(float(s) for s in spread)
            if not spread or any(not np.isfinite(s) or s <= 0 for s in spread):
                raise ValueError("spread must be one or more positive factors")
        self.spread = spread
        if regime_spread is not None:
            regime_spread = tuple(float(s) for s in regime_spread)
            if len(regime_spread) < 2 or any(not np.isfinite(s) or s <= 0 for s in regime_spread):
                raise ValueError("regime_spread must be two or more positive factors (falling .. rising)")
            if spread is None:
                raise ValueError("regime_spread multiplies the spread: give spread too")
        self.regime_spread = regime_spread
        if skew is not None:
            skew = tuple(float(x) for x in skew)
            if len(skew) != 2 or any(not np.isfinite(x) or x <= 0 for x in skew):
                raise ValueError("skew must be two positive factors (below, above the median)")
        self.skew = skew
        spread_scale = "count" if spread_scale is None else spread_scale
        if spread_scale not in ("count", "root"):
            raise ValueError("spread_scale must be 'count' or 'root'")
        self.spread_scale = spread_scale

    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        out = self._spread(panel, steps)
        if self.skew is None:
            return out
        return skew_root(out, panel.population / 1e5, *self.skew)

    def _spread(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        preds = np.stack([np.sort(np.maximum(m.predict(panel, steps), 0.0), axis=-1) for m in self.members])
        if self.combine == "median":
            out = np.median(preds, axis=0)
        elif self.combine == "pool":
            if self.weights.ndim != 1:
                raise ValueError("combine='pool' takes one weight per member, not per step")
            out = linear_pool(preds, self.weights)
        elif self.weights.ndim == 1:
            out = np.tensordot(self.weights, preds, axes=1)
        else:  # one row of weights per step (the last row for further steps)
            w = self.weights[[min(k, len(self.weights)) - 1 for k in steps]]  # (S, M)
            out = np.einsum("sm,mlsq->lsq", w, preds)
        if self.spread is None:
            return out
        s = np.array([self.spread[min(k, len(self.spread)) - 1] for k in steps])[None, :, None]
        if self.regime_spread is not None:
            g = growth_regimes(panel, len(self.regime_spread))
            s = s * np.asarray(self.regime_spread)[g][:, None, None]
        if self.spread_scale == "count":
            med = out[:, :, len(Q) // 2][:, :, None]
            return med + s * (out - med)
        scale = (panel.population / 1e5)[:, None, None]
        z = (out / scale + ROOT_OFFSET) ** 0.25
        zm = z[:, :, len(Q) // 2][:, :, None]
        spread = (np.maximum(zm + s * (z - zm), 0.0) ** 4 - ROOT_OFFSET) * scale
        return np.where(out <= 0.0, 0.0, np.maximum(spread, 0.0))
