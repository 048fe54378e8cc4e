"""HEAT measures of ordered dimensions (e.g. wealth quintiles): concentration indices (ACI, RCI) and
the slope and relative indices of inequality (SII, RII), as healthequal 1.0.1's ``aci``, ``rci``,
``sii`` and ``rii`` (aggregated data). Subgroups are ranked by ``subgroup_order`` (1 = most
disadvantaged) at the midpoint of their cumulative population share; subgroups of population 0
have zero width and drop out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.analyze.heat_core import Measure, all_equal, as_array, need, normal_ci, populated, z_value

__all__ = ["aci", "rci", "sii", "rii"]


def _ridit(subgroup_order, pop) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort by order; fractional rank (midpoint of each subgroup's cumulative population share)."""
    o = as_array(subgroup_order, "subgroup_order")
    idx = np.argsort(o, kind="stable")
    p = np.asarray(pop, float)[idx]
    cum = np.cumsum(p)
    prev = cum - p
    # subgroups sharing an order value share a rank (healthequal groups by subgroup_order)
    so = o[idx]
    grp_max = pd.Series(cum).groupby(so).transform("max").to_numpy()
    grp_min = pd.Series(prev).groupby(so).transform("min").to_numpy()
    rank = (grp_min + 0.5 * (grp_max - grp_min)) / p.sum()
    return idx, p, rank


def _conc(est, subgroup_order, pop, relative: bool, conf_level: float) -> Measure:
    name = "rci" if relative else "aci"
    y = as_array(est, "estimate")
    order = as_array(subgroup_order, "subgroup_order")
    need(order.size == y.size, "subgroup_order must have one value per subgroup")
    w = np.ones(y.size) if pop is None else as_array(pop, "population")
    if pop is not None:
        w, y, order = populated(w, y, order)
    n = y.size
    need(n > 2, "concentration indices need more than two subgroups (with population > 0)")
    idx, p, rank = _ridit(order, w)
    y = y[idx]
    N = p.sum()
    sigma2 = np.sum(p / N * (rank - 0.5) ** 2)
    mu = np.sum(p * y) / N
    need(not relative or mu > 0, "RCI is undefined: the mean of the estimates is 0")
    if all_equal(y):  # no gradient at all: exactly 0, not a round-off residue
        return normal_ci(name, 0.0, 0.0, conf_level)
    # convenient regression (Kakwani, Wagstaff & van Doorslaer 1997) on sqrt(pop)-scaled data
    sq = np.sqrt(p)
    lhs = 2.0 * sigma2 * y * sq * ((1.0 / mu) if relative else 1.0)
    X = np.column_stack([rank * sq, sq])
    beta, *_ = np.linalg.lstsq(X, lhs, rcond=None)
    resid = lhs - X @ beta
    # an exact fit (estimates linear in the rank) has no residual: its SE is 0, not a round-off residue
    if np.all(np.abs(resid) <= 1e-12 * max(float(np.max(np.abs(lhs))), 1e-300)):
        resid = np.zeros_like(resid)
    s2 = resid @ resid / (n - 2)
    cov = s2 * np.linalg.inv(X.T @ X)
    return normal_ci(name, beta[0], float(np.sqrt(cov[0, 0])), conf_level)


def aci(est, subgroup_order, pop=None, conf_level: float = 0.95) -> Measure:
    """Absolute concentration index (healthequal ``aci``).

    .. math:: ACI = \\sum_j p_j\\, y_j\\, (2 X_j - 1)

    with subgroups ranked from most disadvantaged to most advantaged, :math:`p_j` the population
    share and :math:`X_j` the midpoint of subgroup :math:`j`'s cumulative share. Computed, with
    its SE, as the slope of the convenient regression
    :math:`2\\sigma_X^2 y_j = \\alpha + \\beta X_j` weighted by population (OLS SE).
    """
    return _conc(est, subgroup_order, pop, relative=False, conf_level=conf_level)


def rci(est, subgroup_order, pop=None, conf_level: float = 0.95) -> Measure:
    """Relative concentration index :math:`RCI = ACI/\\mu` (healthequal ``rci``; in [-1, 1], not x100).

    Slope of :math:`2\\sigma_X^2 y_j/\\mu = \\alpha + \\beta X_j`, population-weighted, OLS SE.
    """
    return _conc(est, subgroup_order, pop, relative=True, conf_level=conf_level)


def _infer_scale(est: np.ndarray, scaleval) -> float:
    if scaleval is not None:
        s = np.asarray(scaleval, float)
        s = s[np.isfinite(s)]
        if s.size:
            return float(s.max())
    top = float(np.max(est))
    for lim in (1, 100, 1000, 10_000, 100_000):
        if top <= lim:
            return float(lim)
    return 1_000_000.0


def _regression(est, subgroup_order, pop, scaleval, linear):
    y = as_array(est, "estimate")
    order = as_array(subgroup_order, "subgroup_order")
    need(order.size == y.size, "subgroup_order must have one value per subgroup")
    if pop is not None:  # a subgroup of population 0 has zero width: it drops out
        pop, y, order = populated(pop, y, order)
    need(y.size > 2, "SII and RII need more than two subgroups (with population > 0)")
    need(np.unique(y).size > 1, "SII/RII not calculated: all estimates have the same value")
    need(np.all(y >= 0), "SII/RII need estimates >= 0")
    scale = _infer_scale(y, scaleval)
    need(np.all(y <= scale), f"SII/RII not calculated: an estimate exceeds the indicator scale ({scale:g})")
    w = np.ones(y.size) if pop is None else np.ceil(pop)
    cnt = np.round(y / scale * w)
    idx, w, rank = _ridit(order, w)
    y, cnt = y[idx] / scale, cnt[idx]
    X = np.column_stack([np.ones_like(rank), rank])
    n, k = X.shape
    if linear:
        W = w
        XtWX = X.T @ (W[:, None] * X)
        beta = np.linalg.solve(XtWX, X.T @ (W * y))
        score = (W * (y - X @ beta))[:, None] * X
        mu_fn = lambda b, r: b[0] + b[1] * r  # noqa: E731
        dmu = lambda b, r: np.array([1.0, r])  # noqa: E731
    else:
        # binomial GLM with logit link on cbind(y, pop - y), prior weights pop (as healthequal)
        prop = cnt / w
        pw = w * w
        beta = np.zeros(2)
        eta = np.log((prop * pw + 0.5) / ((1 - prop) * pw + 0.5))
        beta = np.linalg.lstsq(X, eta, rcond=None)[0]
        converged = False
        with np.errstate(over="ignore"):
            for _ in range(100):
                mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
                v = mu * (1 - mu)
                XtWX = X.T @ ((pw * v)[:, None] * X)
                try:
                    step = np.linalg.solve(XtWX, X.T @ (pw * (prop - mu)))
                except np.linalg.LinAlgError:
                    break
                beta = beta + step
                if not np.all(np.isfinite(beta)):
                    break
                if np.max(np.abs(step)) < 1e-12:
                    converged = True
                    break
        need(converged, "SII/RII could not be fitted: the logistic regression does not converge (the counts "
             "estimate/scale x population are 0, or all of the population, in too many subgroups)")
        mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
        XtWX = X.T @ ((pw * mu * (1 - mu))[:, None] * X)
        score = (pw * (prop - mu))[:, None] * X
        mu_fn = lambda b, r: 1.0 / (1.0 + np.exp(-(b[0] + b[1] * r)))  # noqa: E731
        dmu = lambda b, r: mu_fn(b, r) * (1 - mu_fn(b, r)) * np.array([1.0, r])  # noqa: E731
    bread = np.linalg.inv(XtWX)
    vc = bread @ (score.T @ score) @ bread * n / (n - k)  # HC1 sandwich
    return scale, beta, vc, mu_fn, dmu


def sii(est, subgroup_order, pop=None, scaleval=None, linear: bool = False, conf_level: float = 0.95) -> Measure:
    """Slope index of inequality (healthequal ``sii``, disaggregated data).

    The indicator, as counts ``round(y/scale * ceil(pop))`` out of ``ceil(pop)``, is regressed on
    the fractional rank with a logistic GLM (or, with ``linear=True``, a population-weighted
    linear model of ``y/scale``); :math:`SII = (\\hat\\mu(1) - \\hat\\mu(0)) \\times scale`. SE by the
    delta method with the HC1 sandwich covariance, reported on the 0-1 scale as healthequal
    does; the CI is on the indicator's scale. ``scaleval`` defaults to 1, 100, 1000, ... by the
    largest estimate. Subgroups of population 0 have zero width and drop out (Q1..Q5 at 20, 30,
    40, 50, 60 with populations 0, 300, 300, 300, 300 give SII 38.98, as Q2..Q5 alone). Raises
    :class:`~equicare.errors.EquicareError` when all estimates are equal, an estimate exceeds the
    scale, or fewer than three subgroups have people.
    """
    scale, b, vc, mu_fn, dmu = _regression(est, subgroup_order, pop, scaleval, linear)
    val = mu_fn(b, 1.0) - mu_fn(b, 0.0)
    g = dmu(b, 1.0) - dmu(b, 0.0)
    se = float(np.sqrt(g @ vc @ g))
    z = z_value(conf_level)
    return Measure("sii", float(val * scale), se, float((val - z * se) * scale), float((val + z * se) * scale))


def rii(est, subgroup_order, pop=None, scaleval=None, linear: bool = False, conf_level: float = 0.95) -> Measure:
    """Relative index of inequality :math:`RII = \\hat\\mu(1)/\\hat\\mu(0)` (healthequal ``rii``).

    Same regression as :func:`sii`; SE of :math:`\\ln RII` by the delta method (HC1), CI
    :math:`\\exp(\\ln RII \\pm z\\,se)`. healthequal's ``rii`` always infers the scale from the
    largest estimate (1, 100, 1000, ...), and :func:`heat_summary` does the same for equal numbers.
    """
    _, b, vc, mu_fn, dmu = _regression(est, subgroup_order, pop, scaleval, linear)
    m1, m0 = mu_fn(b, 1.0), mu_fn(b, 0.0)
    need(m1 > 0 and m0 > 0, "RII is undefined: a fitted value at the end of the ranking is <= 0")
    lr = np.log(m1 / m0)
    g = dmu(b, 1.0) / m1 - dmu(b, 0.0) / m0
    se = float(np.sqrt(g @ vc @ g))
    z = z_value(conf_level)
    return Measure("rii", float(np.exp(lr)), se, float(np.exp(lr - z * se)), float(np.exp(lr + z * se)))
