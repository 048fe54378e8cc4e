"""Count-aware smoothing ensemble for any planner's count series (daily, weekly, monthly; small or large counts).

Why a separate model: the flu members work on the fourth-root rate scale and take their intervals from residuals
pooled over locations; on small counts (a few a day) the fourth power of an upper residual quantile explodes
(a Poisson(5) series got 0.9 quantiles of 30-80 from :class:`~equicare.forecast.models.smoothing.DampedTrend`,
whose ``alpha = 1, beta = 0.8`` also chase day-to-day noise as trend).  This model fits on the square-root
(Anscombe) scale, which stabilises Poisson variance, smooths the level, bounds the damping, weights its members
by each series' own rolling-origin errors, and draws quantiles from a negative binomial around the point forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from scipy import stats

from equicare.forecast.models.base import ForecastModel, Q, ffill
from equicare.forecast.truth import Panel

#: Smoothing constants ``(alpha, beta, phi, gamma)`` of the members on the square-root scale.  ``phi`` (damping)
#: is at most :data:`MAX_PHI`; ``gamma`` is the seasonal constant (0 = no season term).
MEMBERS: dict[str, tuple[float, float, float, float]] = {
    "level_slow": (0.05, 0.0, 0.0, 0.0),
    "level": (0.2, 0.0, 0.0, 0.0),
    "trend": (0.2, 0.05, 0.9, 0.0),
    "season": (0.1, 0.02, 0.9, 0.3),
}
#: Upper bound of the damping factor (``phi`` near 1 extrapolates a noisy trend without end).
MAX_PHI = 0.95
#: Anscombe offset: ``z = sqrt(y + 3/8)`` has variance about 1/4 for Poisson counts (Anscombe 1948).
ANSCOMBE = 3.0 / 8.0
#: Past origins (per series) whose errors weight the members and give the dispersion.
WINDOW = 120
#: Prior weight (in origins) of the dispersion pooled over series when a series' own estimate is shrunk to it.
SHRINK = 30.0


def holt_winters(z: np.ndarray, alpha: float, beta: float, phi: float, gamma: float, period: int,
                 steps: Sequence[int]) -> np.ndarray:
    r"""``k``-step forecasts from every origin of additive damped-trend Holt-Winters, column by column.

    .. math:: \ell_t = \alpha (z_t - s_{t-p}) + (1-\alpha)(\ell_{t-1} + \phi b_{t-1}),\quad
              b_t = \beta(\ell_t - \ell_{t-1}) + (1-\beta)\phi b_{t-1},\quad
              s_t = \gamma (z_t - \ell_t) + (1-\gamma) s_{t-p},

    forecast :math:`\hat z_{t+k|t} = \ell_t + (\phi + \dots + \phi^k) b_t + s_{t+k-p\lceil k/p\rceil}`; started at
    the mean of the first ``min(period, T)`` values, ``b = 0``, ``s = 0``.  ``gamma = 0`` or ``period < 2`` drops the
    season; ``beta = 0`` the trend.  Returns ``(len(steps), T, L)``; row ``t`` uses ``z[: t + 1]`` only.

    References
    ----------
    Gardner & McKenzie (1985), Management Science 31(10); Hyndman & Athanasopoulos, *Forecasting: Principles and
    Practice*, 3rd ed., sections 8.2-8.3.
    """
    T, L = z.shape
    p = max(int(period), 1) if gamma > 0 else 1
    lv = z[: max(1, min(p, T))].mean(axis=0)
    tr = np.zeros(L)
    season = np.zeros((p, L))
    damp = [float(np.sum(phi ** np.arange(1, k + 1))) for k in steps]
    out = np.empty((len(steps), T, L))
    for t in range(T):
        s_old = season[t % p]
        prev = lv
        lv = alpha * (z[t] - s_old) + (1 - alpha) * (lv + phi * tr)
        tr = beta * (lv - prev) + (1 - beta) * phi * tr
        if p > 1:
            season[t % p] = gamma * (z[t] - lv) + (1 - gamma) * s_old
        for i, k in enumerate(steps):
            out[i, t] = lv + damp[i] * tr + (season[(t + k) % p] if p > 1 else 0.0)
    return out


def count_quantiles(mu: np.ndarray, dispersion: np.ndarray, levels: np.ndarray = Q) -> np.ndarray:
    r"""Quantiles of a count with mean ``mu`` and variance ``dispersion * mu`` (``(n,)`` each; ``(n, levels)`` out).

    Negative binomial with size :math:`r = \mu / (D - 1)` and success probability :math:`1 / D` when ``D > 1``
    (its mean is :math:`r(1-p)/p = \mu`, its variance :math:`\mu / p = D\mu`), Poisson(``mu``) when ``D <= 1``.
    Quantiles are whole counts (the smallest ``y`` with ``P(Y <= y) >= tau``).

    Hand check: ``mu = 5, D = 1`` gives the Poisson(5) 0.9 quantile 8 (``P(Y <= 7) = 0.867``, ``P(Y <= 8) = 0.932``).
    """
    mu = np.maximum(np.asarray(mu, float), 1e-9)[:, None]
    d = np.asarray(dispersion, float)[:, None]
    lv = np.asarray(levels, float)[None, :]
    nb = d > 1.0 + 1e-6
    r = mu / np.where(nb, d - 1.0, 1.0)
    q_nb = stats.nbinom.ppf(lv, r, 1.0 / np.where(nb, d, 2.0))
    q_po = stats.poisson.ppf(lv, mu)
    return np.where(nb, q_nb, q_po)


class CountEnsemble(ForecastModel):
    r"""Smoothing members on the square-root scale, weighted per series by their own past errors, with
    negative-binomial quantiles.  The default model of :mod:`equicare.forecast.series`.

    1. ``z = sqrt(y + 3/8)`` per series (counts, not rates: Poisson variance is a property of counts); missing
       steps are carried forward and their errors not scored.
    2. Each member of :data:`MEMBERS` (local level slow/fast, damped trend, damped trend + season of ``period``
       steps when the series has at least two full periods) gives ``k``-step forecasts from every origin
       (:func:`holt_winters`; ``phi <= MAX_PHI``).
    3. Weights per series and step: :math:`w_m \propto 1 / \overline{(z_{t+k} - \hat z^{(m)}_{t+k|t})^2}` over its
       last :data:`WINDOW` origins whose target is observed (rolling origin: each forecast uses data up to its
       origin only, and all of them precede the forecast being made).
    4. Point forecast on the count scale :math:`\mu = \max(\hat z^2 - 1/8, 0)`, since
       :math:`E\sqrt{Y + 3/8} \approx \sqrt{\lambda + 1/8}` for Poisson :math:`Y` (Anscombe 1948).
    5. Dispersion :math:`D = \sum e^2 / \sum \mu` of the combined forecast's count-scale errors ``e`` over the
       same origins (variance-to-mean ratio, so it includes the error of the level), shrunk toward the value
       pooled over series with prior weight :data:`SHRINK` origins; quantiles from :func:`count_quantiles`.

    ``members`` restricts the members (e.g. ``("trend",)`` is a count-aware damped trend).

    References
    ----------
    Anscombe (1948), Biometrika 35:246-254; Hyndman & Athanasopoulos, *FPP3*, ch. 8 and 5.10 (time-series
    cross-validation); Bates & Granger (1969), Oper. Res. Q. 20:451-468 (inverse-MSE combination weights).
    """

    name: ClassVar[str] = "count_ensemble"

    def __init__(self, period: int = 1, members: Sequence[str] | None = None, window: int = WINDOW) -> None:
        members = tuple(MEMBERS) if members is None else tuple(members)
        bad = [m for m in members if m not in MEMBERS]
        if bad or not members:
            raise ValueError(f"members must be among {', '.join(MEMBERS)} (got {', '.join(map(str, members))})")
        self.period = int(period)
        self.members = members
        self.window = int(window)

    def predict(self, panel: Panel, steps: Sequence[int]) -> np.ndarray:
        y = np.maximum(np.asarray(panel.values, float), 0.0)
        T, L = y.shape
        yf = ffill(y)
        start = y[np.argmax(~np.isnan(y), axis=0), np.arange(L)]  # leading gaps: the first observed value
        yf = np.where(np.isnan(yf), np.nan_to_num(start)[None, :], yf)
        z = np.sqrt(yf + ANSCOMBE)
        zt = np.sqrt(y + ANSCOMBE)  # targets (NaN where missing)
        use = [m for m in self.members
               if MEMBERS[m][3] == 0 or (self.period >= 2 and T >= 2 * self.period + 8)]
        if not use:
            use = ["level"]
        fcs = []
        for m in use:
            a, b, ph, g = MEMBERS[m]
            fcs.append(holt_winters(z, a, b, min(ph, MAX_PHI), g, self.period, steps))
        fc = np.stack(fcs)  # (M, K, T, L)
        out = np.empty((L, len(steps), len(Q)))
        burn = min(10, max(T // 3, 1))
        for i, k in enumerate(steps):
            lo = max(burn, T - k - self.window)
            hi = T - k  # origins t with target t + k <= T - 1
            if hi > lo:
                tgt = zt[lo + k: hi + k]  # (n, L)
                err = fc[:, i, lo:hi] - tgt[None]  # (M, n, L)
                ok = ~np.isnan(tgt)
                n = ok.sum(axis=0)
                mse = np.where(ok[None], err ** 2, 0.0).sum(axis=1) / np.maximum(n, 1)[None]
                w = 1.0 / np.maximum(mse, 1e-6)
                w = np.where(n[None] > 0, w, 1.0)
            else:
                ok, n, w = None, np.zeros(L, int), np.ones((len(use), L))
            w = w / w.sum(axis=0, keepdims=True)
            zc = np.einsum("ml,mtl->tl", w, fc[:, i])  # (T, L) combined forecasts at every origin
            mu_all = np.maximum(zc ** 2 - 0.125, 0.0)
            if hi > lo:
                e = y[lo + k: hi + k] - mu_all[lo:hi]
                e2 = np.where(ok, e ** 2, 0.0).sum(axis=0)
                sm = np.where(ok, np.maximum(mu_all[lo:hi], 0.05), 0.0).sum(axis=0)
                pooled = e2.sum() / sm.sum() if sm.sum() > 0 else 1.0
                own = np.where(sm > 0, e2 / np.maximum(sm, 1e-9), pooled)
                disp = (n * own + SHRINK * pooled) / (n + SHRINK)
            else:
                disp = np.ones(L)
            out[:, i, :] = count_quantiles(mu_all[-1], disp)
        return out
