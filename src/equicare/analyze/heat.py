"""Summary measures of health inequality across population subgroups, as in WHO's HEAT / healthequal.

Each function takes the subgroup estimates of one indicator in one setting and year, for one
dimension of inequality (e.g. wealth quintiles, regions, sex), and returns a :class:`Measure`
with the estimate, its standard error where there is one, and a confidence interval:
analytic where HEAT has a formula, otherwise simulation-based (Ahn et al. 2019: the estimates are
redrawn ``n_sim`` times from normal distributions with their standard errors, truncated to
``[0, inf)``, or to ``[0, 100]`` for percentages, and the 2.5/97.5 percentiles taken).

Definitions, direction rules and CI formulas follow the WHO R package ``healthequal`` (which
documents HEAT's measures) function by function; the docstrings give each formula. Direction
rules: in **ordered** dimensions (``subgroup_order`` 1 = most disadvantaged ... n = most
advantaged) the most advantaged and disadvantaged subgroups are compared; in **non-ordered**
dimensions the best and worst subgroups, or a user-selected ``reference_subgroup``; whether
high is good (``favourable_indicator = 1``) or bad (0) decides the direction.

Known, documented departures from healthequal 1.0.1: a subgroup whose population is 0 holds no
people, so it has zero width and drops out of every measure that uses population (ACI, RCI, SII,
RII, BGV, BGSD, COV, MDBW, MDMW, IDISW, TI, MLD, and PAR/PAF computed from population): adding such
a subgroup changes none of them (healthequal returns nothing for SII/RII, keeps it in the degrees
of freedom of ACI/RCI and may pick it as the best subgroup of MDBW, PAR and PAF); the unweighted
measures (D, R, MDBU, MDMU, MDRU, IDISU) still count it as a subgroup, and MDRW keeps a reference
subgroup of population 0 as its benchmark. A value that would be undefined (a ratio over 0, a mean
of 0, estimates above the indicator scale) raises :class:`~equicare.errors.EquicareError` with the
reason instead of returning NaN or infinity. Measures that cannot be negative (TI, MLD) are exactly
0 when every estimate is equal, and ACI/RCI are exactly 0 then too, never a round-off residue such
as ``-2.2e-16``. Simulated CIs use numpy's random generator, so they equal healthequal's only in
distribution, not digit for digit.

References
----------
Schlotheuber A., Hosseinpoor A.R. (2022) "Summary measures of health inequality: a review of
existing measures and their application", Int. J. Environ. Res. Public Health 19(6):3697.
WHO (2024) healthequal: Calculating summary measures of health inequality, R package 1.0.1.
Ahn J. et al. (2018) "Variance estimation and confidence intervals for 11 commonly used health
disparity measures", JCO Clin. Cancer Inform. 2:1-19. Ahn J. et al. (2019) "Improved Monte Carlo
methods for estimating confidence intervals for eleven commonly used health disparity measures",
PLoS One 14(7). Walter S.D. (1978) "Calculation of attributable risks from epidemiological data",
Int. J. Epidemiol. 7(2):175-182.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm, truncnorm

from equicare.data.readers import read_table, sheet_rows
from equicare.errors import EquicareError, Problem, ValidationError

__all__ = [
    "Measure",
    "difference", "ratio", "aci", "rci", "sii", "rii", "bgv", "bgsd", "cov",
    "mdbu", "mdbw", "mdmu", "mdmw", "mdru", "mdrw", "idisu", "idisw", "theil_index", "mld",
    "paf", "par", "HEAT_COLUMNS", "ALL_MEASURES", "read_heat_table", "heat_summary",
]

N_SIM = 100
SEED = 123456


@dataclass(frozen=True)
class Measure:
    """One summary measure: name, estimate, standard error (NaN if none) and CI bounds."""

    measure: str
    estimate: float
    se: float = float("nan")
    lowerci: float = float("nan")
    upperci: float = float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


def _check_level(conf_level: float) -> None:
    _need(isinstance(conf_level, (int, float)) and 0.0 < conf_level < 1.0,
          f"conf_level must be between 0 and 1, e.g. 0.95 (value: {conf_level})")


def _check_n_sim(n_sim: int) -> None:
    _need(isinstance(n_sim, (int, np.integer)) and not isinstance(n_sim, bool) and n_sim >= 1,
          f"n_sim must be a whole number >= 1 (value: {n_sim})")


def _z(conf_level: float) -> float:
    _check_level(conf_level)
    return float(norm.ppf(1.0 - (1.0 - conf_level) / 2.0))


def _arr(x, name: str) -> np.ndarray:
    a = np.asarray(x, float)
    if a.ndim != 1 or a.size == 0:
        raise EquicareError(f"{name} must be a non-empty 1-D array")
    return a


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise EquicareError(msg)


def _shares(pop) -> np.ndarray:
    p = _arr(pop, "population")
    _need(np.all(np.isfinite(p)) and np.all(p >= 0) and p.sum() > 0,
          "population must be known, >= 0 and not all 0 in every subgroup")
    return p / p.sum()


def _populated(pop, *arrays, keep=None):
    """``(pop, *arrays)`` without the subgroups of population 0 (they have zero width and drop out).

    ``keep`` (an index) is a subgroup kept whatever its population (MDRW's reference). ``None``
    entries of ``arrays`` stay ``None``. Raises when population is missing, negative or all 0.
    """
    p = _arr(pop, "population")
    _need(np.all(np.isfinite(p)) and np.all(p >= 0) and p.sum() > 0,
          "population must be known, >= 0 and not all 0 in every subgroup")
    mask = p > 0
    if keep is not None:
        mask[keep] = True
    out = [p[mask]]
    for a in arrays:
        if a is None:
            out.append(None)
            continue
        a = np.asarray(a, float)
        _need(a.shape == p.shape, "every argument must have one value per subgroup")
        out.append(a[mask])
    return tuple(out)


def _all_equal(y: np.ndarray) -> bool:
    return bool(np.all(y == y[0]))


def _has_se(se) -> bool:
    return se is not None and np.all(np.isfinite(np.asarray(se, float)))


def _normal_ci(name, est, se, conf_level) -> Measure:
    if not np.isfinite(se):
        return Measure(name, float(est))
    z = _z(conf_level)
    return Measure(name, float(est), float(se), float(est - z * se), float(est + z * se))


def _simulate(est: np.ndarray, se: np.ndarray, scale: float | None, n_sim: int, seed: int) -> np.ndarray:
    """``n_sim`` x k draws of N(est, se) truncated to [0, inf) (or [0, 100] for percentages)."""
    rng = np.random.default_rng(seed)
    hi = 100.0 if scale == 100 else np.inf
    out = np.repeat(est[None, :], n_sim, axis=0)
    ok = se > 0
    if ok.any():
        a = (0.0 - est[ok]) / se[ok]
        b = (hi - est[ok]) / se[ok]
        out[:, ok] = truncnorm.rvs(a, b, loc=est[ok], scale=se[ok], size=(n_sim, int(ok.sum())), random_state=rng)
    return out


def _sim_ci(name, est_value, fn, est, se, scale, n_sim, seed, conf_level) -> Measure:
    _check_level(conf_level)
    _check_n_sim(n_sim)
    if not _has_se(se) or scale is None or not np.isfinite(scale):
        return Measure(name, float(est_value))
    sims = _simulate(est, np.asarray(se, float), scale, n_sim, seed)
    vals = fn(sims)
    vals = vals[np.isfinite(vals)]
    a = (1.0 - conf_level) / 2.0
    return Measure(name, float(est_value), float("nan"), float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a)))


def _fav(favourable_indicator) -> int:
    _need(favourable_indicator in (0, 1), f"favourable_indicator must be 0 or 1 (value: {favourable_indicator})")
    return int(favourable_indicator)


def _pick_pair(est, favourable, ordered, subgroup_order, reference_subgroup):
    """Indices ``(i1, i2)`` of the two subgroups compared by D and R, as healthequal 1.0.1's ``d``/``r``.

    Ordered: favourable ``(most advantaged, most disadvantaged)``, adverse the reverse. Non-ordered
    without a reference: ``(highest, lowest)``. Non-ordered with a reference subgroup: favourable
    ``(reference, lowest of the other subgroups)``, adverse ``(highest of the other subgroups,
    reference)``. Ties go to the first subgroup.
    """
    fav = _fav(favourable)
    if ordered:
        _need(subgroup_order is not None, "an ordered dimension needs subgroup_order")
        o = _arr(subgroup_order, "subgroup_order")
        _need(o.size == est.size, "subgroup_order must have one value per subgroup")
        lo, hi = int(np.argmin(o)), int(np.argmax(o))
        return (hi, lo) if fav == 1 else (lo, hi)
    ref = None if reference_subgroup is None else np.asarray(reference_subgroup, float)
    if ref is None or np.nansum(ref) == 0:
        return int(np.argmax(est)), int(np.argmin(est))
    _need(ref.size == est.size, "reference_subgroup must have one value per subgroup")
    _need(np.nansum(ref == 1) == 1, "exactly one subgroup must be marked as the reference (reference_subgroup = 1)")
    iref = int(np.flatnonzero(ref == 1)[0])
    others = np.flatnonzero(ref != 1)
    if fav == 1:
        return iref, int(others[np.argmin(est[others])])
    return int(others[np.argmax(est[others])]), iref


def difference(est, se=None, favourable_indicator: int = 1, ordered_dimension: bool = False,
               subgroup_order=None, reference_subgroup=None, conf_level: float = 0.95) -> Measure:
    """Difference :math:`D = y_1 - y_2` between two subgroups (healthequal ``d``).

    Ordered dimension: favourable indicator :math:`y_1` = most advantaged (highest order),
    :math:`y_2` = most disadvantaged; adverse indicator the reverse. Non-ordered without a
    reference subgroup: :math:`y_1` = highest and :math:`y_2` = lowest estimate (so D >= 0 and
    R >= 1). Non-ordered with a reference subgroup, the reference is compared with the most extreme
    *other* subgroup: favourable :math:`D = y_{ref} - \\min_{j \\ne ref} y_j`, adverse
    :math:`D = \\max_{j \\ne ref} y_j - y_{ref}` (healthequal 1.0.1; e.g. a favourable reference
    at 40 with others at 60 and 70 gives D = -20). SE :math:`\\sqrt{se_1^2 + se_2^2}`, normal CI.
    """
    y = _arr(est, "estimate")
    i1, i2 = _pick_pair(y, favourable_indicator, ordered_dimension, subgroup_order, reference_subgroup)
    d = y[i1] - y[i2]
    s = np.asarray(se, float) if se is not None else None
    d_se = float(np.sqrt(s[i1] ** 2 + s[i2] ** 2)) if _has_se(se) else float("nan")
    return _normal_ci("d", d, d_se, conf_level)


def ratio(est, se=None, favourable_indicator: int = 1, ordered_dimension: bool = False,
          subgroup_order=None, reference_subgroup=None, conf_level: float = 0.95) -> Measure:
    """Ratio :math:`R = y_1 / y_2` with the subgroups of :func:`difference` (healthequal ``r``).

    SE of :math:`\\ln R` (Ahn et al. 2018): :math:`se_{\\ln R} = \\sqrt{(se_1^2 + R^2 se_2^2)/y_2^2}/R`;
    CI :math:`\\exp(\\ln R \\pm z\\, se_{\\ln R})`; the reported ``se`` is that of :math:`\\ln R`.
    """
    y = _arr(est, "estimate")
    i1, i2 = _pick_pair(y, favourable_indicator, ordered_dimension, subgroup_order, reference_subgroup)
    _need(y[i2] != 0, "R is undefined: the estimate in the denominator subgroup is 0")
    r = y[i1] / y[i2]
    if not _has_se(se) or r <= 0:
        return Measure("r", float(r))
    s = np.asarray(se, float)
    r_se = np.sqrt((1.0 / y[i2] ** 2) * (s[i1] ** 2 + r**2 * s[i2] ** 2))
    lse = r_se / r
    z = _z(conf_level)
    return Measure("r", float(r), float(lse), float(np.exp(np.log(r) - z * lse)), float(np.exp(np.log(r) + z * lse)))


def _ridit(subgroup_order, pop) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort by order; fractional rank (midpoint of each subgroup's cumulative population share)."""
    o = _arr(subgroup_order, "subgroup_order")
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
    y = _arr(est, "estimate")
    order = _arr(subgroup_order, "subgroup_order")
    _need(order.size == y.size, "subgroup_order must have one value per subgroup")
    w = np.ones(y.size) if pop is None else _arr(pop, "population")
    if pop is not None:
        w, y, order = _populated(w, y, order)
    n = y.size
    _need(n > 2, "concentration indices need more than two subgroups (with population > 0)")
    idx, p, rank = _ridit(order, w)
    y = y[idx]
    N = p.sum()
    sigma2 = np.sum(p / N * (rank - 0.5) ** 2)
    mu = np.sum(p * y) / N
    _need(not relative or mu > 0, "RCI is undefined: the mean of the estimates is 0")
    if _all_equal(y):  # no gradient at all: exactly 0, not a round-off residue
        return _normal_ci(name, 0.0, 0.0, conf_level)
    # convenient regression (Kakwani, Wagstaff & van Doorslaer 1997) on sqrt(pop)-scaled data
    sq = np.sqrt(p)
    lhs = 2.0 * sigma2 * y * sq * ((1.0 / mu) if relative else 1.0)
    X = np.column_stack([rank * sq, sq])
    beta, *_ = np.linalg.lstsq(X, lhs, rcond=None)
    resid = lhs - X @ beta
    s2 = resid @ resid / (n - 2)
    cov = s2 * np.linalg.inv(X.T @ X)
    return _normal_ci(name, beta[0], float(np.sqrt(cov[0, 0])), conf_level)


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
    y = _arr(est, "estimate")
    order = _arr(subgroup_order, "subgroup_order")
    _need(order.size == y.size, "subgroup_order must have one value per subgroup")
    if pop is not None:  # a subgroup of population 0 has zero width: it drops out
        pop, y, order = _populated(pop, y, order)
    _need(y.size > 2, "SII and RII need more than two subgroups (with population > 0)")
    _need(np.unique(y).size > 1, "SII/RII not calculated: all estimates have the same value")
    _need(np.all(y >= 0), "SII/RII need estimates >= 0")
    scale = _infer_scale(y, scaleval)
    _need(np.all(y <= scale), f"SII/RII not calculated: an estimate exceeds the indicator scale ({scale:g})")
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
        _need(converged, "SII/RII could not be fitted: the logistic regression does not converge (the counts "
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
    z = _z(conf_level)
    return Measure("sii", float(val * scale), se, float((val - z * se) * scale), float((val + z * se) * scale))


def rii(est, subgroup_order, pop=None, scaleval=None, linear: bool = False, conf_level: float = 0.95) -> Measure:
    """Relative index of inequality :math:`RII = \\hat\\mu(1)/\\hat\\mu(0)` (healthequal ``rii``).

    Same regression as :func:`sii`; SE of :math:`\\ln RII` by the delta method (HC1), CI
    :math:`\\exp(\\ln RII \\pm z\\,se)`. healthequal's ``rii`` always infers the scale from the
    largest estimate (1, 100, 1000, ...), and :func:`heat_summary` does the same for equal numbers.
    """
    _, b, vc, mu_fn, dmu = _regression(est, subgroup_order, pop, scaleval, linear)
    m1, m0 = mu_fn(b, 1.0), mu_fn(b, 0.0)
    _need(m1 > 0 and m0 > 0, "RII is undefined: a fitted value at the end of the ranking is <= 0")
    lr = np.log(m1 / m0)
    g = dmu(b, 1.0) / m1 - dmu(b, 0.0) / m0
    se = float(np.sqrt(g @ vc @ g))
    z = _z(conf_level)
    return Measure("rii", float(np.exp(lr)), se, float(np.exp(lr - z * se)), float(np.exp(lr + z * se)))


def _nonordered(est, pop, se=None):
    """Estimates, population shares and SEs of the subgroups with population > 0 (at least three)."""
    y = _arr(est, "estimate")
    p, y, s = _populated(pop, y, se)
    _need(y.size > 2, "this measure needs more than two subgroups (with population > 0)")
    return y, p / p.sum(), s


def bgv(est, pop, se=None, conf_level: float = 0.95) -> Measure:
    """Between-group variance :math:`BGV = \\sum_j p_j (y_j - \\mu)^2`, :math:`\\mu = \\sum_j p_j y_j`.

    Analytic SE (Ahn et al. 2018):
    :math:`\\sqrt{4\\sum p_j^2 se_j^2 (y_j-\\mu)^2 + 2[(\\sum p_j^2 se_j^2)^2 - \\sum p_j^4 se_j^4 + \\sum p_j^2(1-p_j)^2 se_j^4]}`.
    """
    y, p, s = _nonordered(est, pop, se)
    mu = np.sum(p * y)
    val = 0.0 if _all_equal(y) else np.sum(p * (y - mu) ** 2)
    if not _has_se(s):
        return Measure("bgv", float(val))
    se2 = np.sum(p**2 * s**2 * (y - mu) ** 2)
    s2 = np.sum(p**2 * s**2)
    s4 = np.sum(p**4 * s**4)
    se4 = np.sum(p**2 * (1 - p) ** 2 * s**4)
    return _normal_ci("bgv", val, float(np.sqrt(4 * se2 + 2 * (s2**2 - s4 + se4))), conf_level)


def _bgsd_rows(sims, p):
    mu = sims @ p
    return np.sqrt(((sims - mu[:, None]) ** 2) @ p)


def bgsd(est, pop, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED, conf_level: float = 0.95) -> Measure:
    """Between-group standard deviation :math:`\\sqrt{BGV}`; simulated CI."""
    y, p, s = _nonordered(est, pop, se)
    val = 0.0 if _all_equal(y) else _bgsd_rows(y[None, :], p)[0]
    return _sim_ci("bgsd", val, lambda m: _bgsd_rows(m, p), y, s, _scale_or_none(scaleval), n_sim, seed, conf_level)


def cov(est, pop, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED, conf_level: float = 0.95) -> Measure:
    """Coefficient of variation :math:`COV = 100\\, BGSD/\\mu`; simulated CI. Undefined (raises) when :math:`\\mu = 0`."""
    y, p, s = _nonordered(est, pop, se)
    _need(y @ p > 0, "COV is undefined: the mean of the estimates is 0")

    def f(m):
        return _bgsd_rows(m, p) / (m @ p) * 100.0

    val = 0.0 if _all_equal(y) else f(y[None, :])[0]
    return _sim_ci("cov", val, f, y, s, _scale_or_none(scaleval), n_sim, seed, conf_level)


def _scale_or_none(scaleval):
    if scaleval is None:
        return None
    s = np.asarray(scaleval, float)
    s = s[np.isfinite(s)]
    return float(s.max()) if s.size else None


def _mean_ref(m, p, setting_average):
    if setting_average is not None and np.isfinite(setting_average):
        return np.full(m.shape[0], float(setting_average))
    return m @ p


def _md(name, y, p, s, scaleval, n_sim, seed, conf_level, ref_fn) -> Measure:
    """Mean absolute difference from ``ref_fn(draws)``: weighted by shares ``p``, or unweighted (``p=None``)."""
    n = y.size

    def f(m):
        dev = np.abs(m - ref_fn(m)[:, None])
        return dev @ p if p is not None else dev.sum(1) / n

    return _sim_ci(name, f(y[None, :])[0], f, y, s, _scale_or_none(scaleval), n_sim, seed, conf_level)


def _unweighted(est, se, name):
    y = _arr(est, "estimate")
    _need(y.size > 2, f"{name} needs more than two subgroups")
    s = None if se is None else np.asarray(se, float)
    return y, s


def _best(favourable_indicator):
    return np.max if _fav(favourable_indicator) == 1 else np.min


def mdbu(est, se=None, favourable_indicator: int = 1, scaleval=None, n_sim: int = N_SIM, seed: int = SEED,
         conf_level: float = 0.95) -> Measure:
    """Mean difference from the best subgroup, unweighted: :math:`\\frac{1}{n}\\sum_j |y_j - y_{best}|`.

    Best = highest estimate for a favourable indicator, lowest for an adverse one (healthequal
    ``mdbu``; no reference subgroup involved). Simulated CI.
    """
    best = _best(favourable_indicator)
    y, s = _unweighted(est, se, "mdbu")
    return _md("mdbu", y, None, s, scaleval, n_sim, seed, conf_level, lambda m: best(m, axis=1))


def mdbw(est, pop, se=None, favourable_indicator: int = 1, scaleval=None, n_sim: int = N_SIM, seed: int = SEED,
         conf_level: float = 0.95) -> Measure:
    """Mean difference from the best subgroup, weighted: :math:`\\sum_j p_j |y_j - y_{best}|`; simulated CI.

    Best as in :func:`mdbu`, among the subgroups with population > 0.
    """
    best = _best(favourable_indicator)
    y, p, s = _nonordered(est, pop, se)
    return _md("mdbw", y, p, s, scaleval, n_sim, seed, conf_level, lambda m: best(m, axis=1))


def mdmu(est, pop=None, se=None, scaleval=None, setting_average=None, n_sim: int = N_SIM, seed: int = SEED,
         conf_level: float = 0.95) -> Measure:
    """Mean difference from the mean, unweighted: :math:`\\frac{1}{n}\\sum_j |y_j - \\mu|`.

    :math:`\\mu` is the setting average when given, else the population-weighted mean of the
    subgroups (healthequal ``mdmu``). Simulated CI.
    """
    _need(pop is not None or setting_average is not None, "mdmu needs population or the setting average")
    y, s = _unweighted(est, se, "mdmu")
    p = None if pop is None else _shares(pop)
    return _md("mdmu", y, None, s, scaleval, n_sim, seed, conf_level, lambda m: _mean_ref(m, p, setting_average))


def mdmw(est, pop, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED, conf_level: float = 0.95) -> Measure:
    """Mean difference from the mean, weighted: :math:`\\sum_j p_j |y_j - \\mu|`, :math:`\\mu=\\sum p_j y_j`."""
    y, p, s = _nonordered(est, pop, se)
    return _md("mdmw", y, p, s, scaleval, n_sim, seed, conf_level, lambda m: m @ p)


def _ref_index(reference_subgroup, n: int) -> int:
    _need(reference_subgroup is not None, "this measure needs a reference subgroup")
    r = np.asarray(reference_subgroup, float)
    _need(r.shape == (n,), "reference_subgroup must have one value per subgroup")
    _need(np.nansum(r == 1) == 1, "exactly one subgroup must be marked as the reference (reference_subgroup = 1)")
    return int(np.flatnonzero(r == 1)[0])


def mdru(est, reference_subgroup, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED,
         conf_level: float = 0.95) -> Measure:
    """Mean difference from the reference subgroup, unweighted: :math:`\\frac{1}{n}\\sum_j |y_j - y_{ref}|`."""
    y, s = _unweighted(est, se, "mdru")
    k = _ref_index(reference_subgroup, y.size)
    return _md("mdru", y, None, s, scaleval, n_sim, seed, conf_level, lambda m: m[:, k])


def mdrw(est, pop, reference_subgroup, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED,
         conf_level: float = 0.95) -> Measure:
    """Mean difference from the reference subgroup, weighted: :math:`\\sum_j p_j |y_j - y_{ref}|`.

    The reference stays the benchmark even when its own population is 0.
    """
    y = _arr(est, "estimate")
    k = _ref_index(reference_subgroup, y.size)
    refs = (np.arange(y.size) == k).astype(float)
    p, y, s, refs = _populated(pop, y, se, refs, keep=k)
    _need(y.size > 2, "mdrw needs more than two subgroups (with population > 0)")
    k = int(np.flatnonzero(refs == 1)[0])
    return _md("mdrw", y, p / p.sum(), s, scaleval, n_sim, seed, conf_level, lambda m: m[:, k])


def idisu(est, pop=None, se=None, scaleval=None, setting_average=None, n_sim: int = N_SIM, seed: int = SEED,
          conf_level: float = 0.95) -> Measure:
    """Index of disparity, unweighted: :math:`IDISU = \\frac{100}{n}\\sum_j |y_j - \\mu| / \\mu`.

    :math:`\\mu` as in :func:`mdmu` (setting average when given). Simulated CI. Undefined (raises)
    when :math:`\\mu = 0`.
    """
    _need(pop is not None or setting_average is not None, "idisu needs population or the setting average")
    y, s = _unweighted(est, se, "idisu")
    p = _shares(pop) if pop is not None else None
    n = y.size
    _need(_mean_ref(y[None, :], p, setting_average)[0] > 0, "IDISU is undefined: the mean is 0")

    def f(m):
        mu = _mean_ref(m, p, setting_average)
        return 100.0 / n * np.abs(m - mu[:, None]).sum(1) / mu

    return _sim_ci("idisu", f(y[None, :])[0], f, y, s, _scale_or_none(scaleval), n_sim, seed, conf_level)


def idisw(est, pop, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED, conf_level: float = 0.95) -> Measure:
    """Index of disparity, weighted: :math:`IDISW = 100 \\sum_j p_j |y_j - \\mu| / \\mu`; simulated CI."""
    y, p, s = _nonordered(est, pop, se)
    _need(y @ p > 0, "IDISW is undefined: the mean of the estimates is 0")

    def f(m):
        mu = m @ p
        return 100.0 * (np.abs(m - mu[:, None]) @ p) / mu

    return _sim_ci("idisw", f(y[None, :])[0], f, y, s, _scale_or_none(scaleval), n_sim, seed, conf_level)


def _tl_prep(est, pop, se):
    y, p, s = _nonordered(est, pop, se)
    flat = _all_equal(y)
    y = np.where(y == 0, 1e-6, y)
    mu = np.sum(p * y)
    return y, p, s, mu, y / mu, flat


def theil_index(est, pop, se=None, conf_level: float = 0.95) -> Measure:
    """Theil index as in HEAT: :math:`TI = 1000 \\sum_j p_j r_j \\ln r_j`, :math:`r_j = y_j/\\mu`.

    Zero estimates are replaced by 1e-6. Analytic SE (Ahn et al. 2018), as healthequal computes it
    :math:`\\sqrt{\\sum_j (1 + \\ln r_j - \\sum_k p_k r_k (1+\\ln r_k))^2 p_j^2 se_j^2/\\mu^2}` (not x1000).
    TI >= 0: exactly 0 when all estimates are equal, and never a negative round-off residue.
    """
    y, p, s, mu, r, flat = _tl_prep(est, pop, se)
    val = 0.0 if flat else max(float(np.sum(p * r * np.log(r)) * 1000.0), 0.0)
    if not _has_se(s):
        return Measure("ti", val)
    prep = np.sum(r * (1 + np.log(r)) * p)
    sev = float(np.sqrt(np.sum((1 + np.log(r) - prep) ** 2 * (p**2 * s**2 / mu**2))))
    return _normal_ci("ti", val, sev, conf_level)


def mld(est, pop, se=None, conf_level: float = 0.95) -> Measure:
    """Mean log deviation as in HEAT: :math:`MLD = 1000 \\sum_j p_j (-\\ln r_j)`, :math:`r_j = y_j/\\mu`.

    Zero estimates are replaced by 1e-6. SE (healthequal, not x1000):
    :math:`\\sqrt{\\sum_j se_j^2 p_j^2 / \\mu^2 \\,(1 - 1/r_j)^2}`. MLD >= 0 as :func:`theil_index`.
    """
    y, p, s, mu, r, flat = _tl_prep(est, pop, se)
    val = 0.0 if flat else max(float(np.sum(p * (-np.log(r))) * 1000.0), 0.0)
    if not _has_se(s):
        return Measure("mld", val)
    sev = float(np.sqrt(np.sum((s**2 * p**2) / mu**2 * (1 - 1 / r) ** 2)))
    return _normal_ci("mld", val, sev, conf_level)


def _impact(est, pop, favourable_indicator, ordered_dimension, subgroup_order, setting_average, scaleval):
    """Reference estimate, mean, whether PAF/PAR are set to 0, and Walter's SE (healthequal ``paf``/``parisk``).

    The reference is the most advantaged subgroup (highest ``subgroup_order``) of an ordered
    dimension whatever the direction, and the best estimate of a non-ordered one (highest if
    favourable, lowest if adverse); the ``reference_subgroup`` column is not used, as in
    healthequal 1.0.1. With population, subgroups of population 0 drop out first.
    """
    y = _arr(est, "estimate")
    fav = _fav(favourable_indicator)
    order = None
    if ordered_dimension:
        _need(subgroup_order is not None, "an ordered dimension needs subgroup_order")
        order = _arr(subgroup_order, "subgroup_order")
        _need(order.size == y.size, "subgroup_order must have one value per subgroup")
    P = None
    if pop is not None:
        P, y, order = _populated(pop, y, order)
    _need(y.size > 2, "PAR and PAF need more than two subgroups" + ("" if pop is None else " (with population > 0)"))
    if ordered_dimension:
        k = int(np.argmax(order))
    else:
        k = int(np.argmax(y)) if fav == 1 else int(np.argmin(y))
    if P is not None:
        mu = float(np.sum(P / P.sum() * y))
    else:
        _need(setting_average is not None and np.isfinite(setting_average),
              "PAR/PAF need population or the setting average")
        mu = float(setting_average)
    ref = float(y[k])
    zeroed = (ref - mu < 0 and fav == 1) or (ref - mu > 0 and fav == 0)
    se_frac = float("nan")
    scale = _scale_or_none(scaleval)
    if P is not None and scale is not None and mu > 0:
        N = P.sum()
        c = ref / scale * P[k]
        d = P[k] - c
        a = mu / scale * N - c
        b = N - a - P[k]
        NN = a + b + c + d
        se_frac = float(np.sqrt((c * NN * (a * d * (NN - c) + b * c**2)) / ((a + c) ** 3 * (c + d) ** 3)))
    return ref, mu, zeroed, se_frac


def paf(est, pop=None, favourable_indicator: int = 1, ordered_dimension: bool = False, subgroup_order=None,
        setting_average=None, scaleval=None, conf_level: float = 0.95) -> Measure:
    """Population attributable fraction :math:`PAF = 100 (y_{ref} - \\mu)/\\mu` (healthequal ``paf``).

    Reference: the most advantaged subgroup (ordered, whatever the direction) or the best-performing
    one (non-ordered: highest if favourable, lowest if adverse); :math:`\\mu` the population-weighted
    mean (or the setting average without population). PAF is set to 0 when no improvement is
    possible (favourable and PAF < 0, adverse and PAF > 0). SE from Walter (1978) on the fraction
    scale, as healthequal reports it; CI ``PAF +- z se``. Undefined (raises) when :math:`\\mu = 0`.
    """
    ref, mu, zeroed, se = _impact(est, pop, favourable_indicator, ordered_dimension, subgroup_order,
                                  setting_average, scaleval)
    _need(mu != 0, "PAF is undefined: the mean is 0")
    val = 0.0 if zeroed else 100.0 * (ref - mu) / mu
    return _normal_ci("paf", val, se, conf_level)


def par(est, pop=None, favourable_indicator: int = 1, ordered_dimension: bool = False, subgroup_order=None,
        setting_average=None, scaleval=None, conf_level: float = 0.95) -> Measure:
    """Population attributable risk :math:`PAR = y_{ref} - \\mu` (healthequal ``parisk``).

    Same reference subgroup, mean and zeroing rule as :func:`paf`; SE :math:`|\\mu|\\, se_{PAF}`.
    """
    ref, mu, zeroed, se = _impact(est, pop, favourable_indicator, ordered_dimension, subgroup_order,
                                  setting_average, scaleval)
    val = 0.0 if zeroed else ref - mu
    return _normal_ci("par", val, abs(mu * se) if np.isfinite(se) else float("nan"), conf_level)


# ---------------------------------------------------------------------------------- HEAT tables
#: Columns of the HEAT Plus upload template.
HEAT_COLUMNS = ("setting", "date", "source", "indicator_abbr", "indicator_name", "dimension", "subgroup",
                "estimate", "se", "population", "favourable_indicator", "indicator_scale", "ordered_dimension",
                "subgroup_order", "reference_subgroup", "setting_average")
_REQUIRED = ("setting", "date", "indicator_abbr", "dimension", "subgroup", "estimate")
_NUMERIC = ("estimate", "se", "population", "favourable_indicator", "indicator_scale", "ordered_dimension",
            "subgroup_order", "reference_subgroup", "setting_average")
GROUP_KEYS = ["setting", "date", "source", "indicator_abbr", "indicator_name", "dimension"]


def read_heat_table(data: pd.DataFrame | str | Path, file: str | None = None) -> pd.DataFrame:
    """Load and check a table in the HEAT Plus upload template (``HEAT_COLUMNS``).

    Required: ``setting, date, indicator_abbr, dimension, subgroup, estimate``; the others are
    optional (missing columns are added empty; ``favourable_indicator`` defaults to 1 and
    ``ordered_dimension`` to 0). Raises :class:`ValidationError` naming file, row and column for
    non-numeric values, flags other than 0/1, negative estimates/SEs/populations, flags that vary
    within one indicator and dimension, ordered dimensions without ``subgroup_order`` and
    duplicate subgroups.
    """
    if isinstance(data, (str, Path)):
        file = file or str(data)
        df = read_table(data, label=file, na_values=("",))
    else:
        df = data.copy()
    file = file or "HEAT table"
    df.columns = [str(c).strip() for c in df.columns]
    problems = [Problem(file, None, c, "required column is missing") for c in _REQUIRED if c not in df.columns]
    if problems:
        raise ValidationError(problems)
    for c in HEAT_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    for c in ("source", "indicator_name"):
        df[c] = df[c].astype(object).where(df[c].notna(), "")
    for c in ("setting", "date", "indicator_abbr", "dimension", "subgroup"):
        df[c] = df[c].astype(str).str.strip()
    rows = sheet_rows(df, np.arange(len(df)))
    for c in _NUMERIC:
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & num.isna() & (raw.astype(str).str.strip() != "")
        for k in np.flatnonzero(bad.to_numpy())[:20]:
            problems.append(Problem(file, int(rows[k]), c, "must be a number", raw.iloc[k]))
        df[c] = num.astype(float)
    for k in np.flatnonzero(df["estimate"].isna().to_numpy())[:20]:
        problems.append(Problem(file, int(rows[k]), "estimate", "estimate is missing"))
    for c in ("estimate", "se", "population"):
        for k in np.flatnonzero((df[c] < 0).to_numpy())[:20]:
            problems.append(Problem(file, int(rows[k]), c, "must not be negative", df[c].iloc[k]))
    df["favourable_indicator"] = df["favourable_indicator"].fillna(1.0)
    df["ordered_dimension"] = df["ordered_dimension"].fillna(0.0)
    df["reference_subgroup"] = df["reference_subgroup"].fillna(0.0)
    for c in ("favourable_indicator", "ordered_dimension", "reference_subgroup"):
        for k in np.flatnonzero(~df[c].isin([0.0, 1.0]).to_numpy())[:20]:
            problems.append(Problem(file, int(rows[k]), c, "must be 0 or 1", df[c].iloc[k]))
    if not problems:
        df["_row"] = rows
        for key, g in df.groupby(GROUP_KEYS, sort=False, dropna=False):
            r0 = int(g["_row"].iloc[0])
            for c in ("favourable_indicator", "ordered_dimension", "indicator_scale", "setting_average"):
                if g[c].nunique(dropna=True) > 1:
                    problems.append(Problem(file, r0, c, f"must be the same in all subgroups of {key[3]!r} / {key[5]!r}"))
            if g["ordered_dimension"].iloc[0] == 1 and g["subgroup_order"].isna().any():
                problems.append(Problem(file, int(g.loc[g["subgroup_order"].isna(), "_row"].iloc[0]), "subgroup_order",
                                        "an ordered dimension needs subgroup_order in every subgroup"))
            if g["reference_subgroup"].sum() > 1:
                problems.append(Problem(file, r0, "reference_subgroup", "more than one reference subgroup"))
            dup = g["subgroup"].duplicated()
            if dup.any():
                problems.append(Problem(file, int(g.loc[dup, "_row"].iloc[0]), "subgroup", "duplicate subgroup",
                                        g.loc[dup, "subgroup"].iloc[0]))
        df = df.drop(columns="_row")
    if problems:
        raise ValidationError(problems)
    return df


ORDERED_MEASURES = ("d", "r", "aci", "rci", "sii", "rii", "par", "paf")
NONORDERED_MEASURES = ("d", "r", "bgv", "bgsd", "cov", "mdbu", "mdbw", "mdmu", "mdmw", "mdru", "mdrw",
                       "idisu", "idisw", "ti", "mld", "par", "paf")
#: Every measure :func:`heat_summary` reports for each dimension, in this order.
ALL_MEASURES = ("d", "r", "aci", "rci", "sii", "rii", "bgv", "bgsd", "cov", "mdbu", "mdbw", "mdmu", "mdmw",
                "mdru", "mdrw", "idisu", "idisw", "ti", "mld", "par", "paf")
# measures that need the population of every subgroup (the ordered ones rank by population share)
_WEIGHTED = {"aci", "rci", "sii", "rii", "bgv", "bgsd", "cov", "mdbw", "mdmw", "mdrw", "idisw", "ti", "mld"}


def _not_applicable(name: str, n: int, ordered: bool, has_pop: bool, has_ref: bool, has_avg: bool) -> str | None:
    """Why measure ``name`` does not apply to a dimension (``None`` if it does)."""
    if n < 2:
        return "needs at least two subgroups"
    if name in ("d", "r"):
        return None
    if n == 2:
        return "needs more than two subgroups (two subgroups get D and R only)"
    if ordered and name not in ORDERED_MEASURES:
        return "applies to non-ordered dimensions only"
    if not ordered and name not in NONORDERED_MEASURES:
        return "applies to ordered dimensions only"
    if name in ("mdru", "mdrw") and not has_ref:
        return "needs a reference subgroup (reference_subgroup = 1)"
    if name in _WEIGHTED and not has_pop:
        return "needs the population of every subgroup"
    if name in ("mdmu", "idisu", "par", "paf") and not has_pop and not has_avg:
        return "needs the population of every subgroup or the setting average"
    return None


def _group_measures(g: pd.DataFrame, conf_level: float, n_sim: int, seed: int) -> list[tuple[Measure, str]]:
    """Every measure of ``ALL_MEASURES`` for one dimension, each with a note: empty when the measure
    was computed, else why not (its estimate is then NaN)."""
    y = g["estimate"].to_numpy(float)
    se = g["se"].to_numpy(float)
    se = se if np.all(np.isfinite(se)) else None
    pop = g["population"].to_numpy(float)
    pop = pop if np.all(np.isfinite(pop)) and pop.sum() > 0 else None
    fav = int(g["favourable_indicator"].iloc[0])
    ordered = bool(g["ordered_dimension"].iloc[0] == 1)
    order = g["subgroup_order"].to_numpy(float) if ordered else None
    ref = g["reference_subgroup"].to_numpy(float)
    has_ref = ref.sum() == 1
    scale_v = g["indicator_scale"].to_numpy(float)
    scale = scale_v if np.all(np.isfinite(scale_v)) else None
    sa = g["setting_average"].dropna()
    savg = float(sa.iloc[0]) if len(sa) else None
    kw = {"conf_level": conf_level}
    sim = {"n_sim": n_sim, "seed": seed, "conf_level": conf_level}
    refs = ref if has_ref else None
    calls = {
        "d": lambda: difference(y, se, fav, ordered, order, refs, **kw),
        "r": lambda: ratio(y, se, fav, ordered, order, refs, **kw),
        "aci": lambda: aci(y, order, pop, **kw),
        "rci": lambda: rci(y, order, pop, **kw),
        "sii": lambda: sii(y, order, pop, scale, **kw),
        "rii": lambda: rii(y, order, pop, **kw),
        "bgv": lambda: bgv(y, pop, se, **kw),
        "bgsd": lambda: bgsd(y, pop, se, scale, **sim),
        "cov": lambda: cov(y, pop, se, scale, **sim),
        "mdbu": lambda: mdbu(y, se, fav, scale, **sim),
        "mdbw": lambda: mdbw(y, pop, se, fav, scale, **sim),
        "mdmu": lambda: mdmu(y, pop, se, scale, savg, **sim),
        "mdmw": lambda: mdmw(y, pop, se, scale, **sim),
        "mdru": lambda: mdru(y, ref, se, scale, **sim),
        "mdrw": lambda: mdrw(y, pop, ref, se, scale, **sim),
        "idisu": lambda: idisu(y, pop, se, scale, savg, **sim),
        "idisw": lambda: idisw(y, pop, se, scale, **sim),
        "ti": lambda: theil_index(y, pop, se, **kw),
        "mld": lambda: mld(y, pop, se, **kw),
        "par": lambda: par(y, pop, fav, ordered, order, savg, scale, **kw),
        "paf": lambda: paf(y, pop, fav, ordered, order, savg, scale, **kw),
    }
    out: list[tuple[Measure, str]] = []
    for name in ALL_MEASURES:
        note = _not_applicable(name, y.size, ordered, pop is not None, has_ref, savg is not None)
        if note is None:
            try:
                m = _finite(calls[name]())
                if m is not None:
                    out.append((m, ""))
                    continue
                note = "undefined for these estimates (the formula gives no finite number)"
            except EquicareError as exc:  # a measure these data do not allow: say why
                note = str(exc)
            except np.linalg.LinAlgError as exc:  # e.g. a regression with no variation to fit
                note = f"could not be computed ({exc})"
        out.append((Measure(name, float("nan")), note))
    return out


def _finite(m: Measure) -> Measure | None:
    """``m`` with non-finite SE or interval bounds blanked (an estimate without an interval), or
    ``None`` when the estimate itself is not finite: never an interval beside an empty estimate,
    never infinity."""
    if not np.isfinite(m.estimate):
        return None
    if np.isfinite(m.lowerci) and np.isfinite(m.upperci):
        return m
    se = m.se if np.isfinite(m.se) else float("nan")
    return Measure(m.measure, m.estimate, se)


def heat_summary(data: pd.DataFrame | str | Path, conf_level: float = 0.95, n_sim: int = N_SIM,
                 seed: int = SEED, file: str | None = None) -> pd.DataFrame:
    """Every HEAT summary measure for every setting, date, indicator and dimension.

    ``data`` is a table (or CSV path) in the HEAT Plus upload template. Returns one row per
    setting, date, source, indicator, dimension and measure of ``ALL_MEASURES`` with columns
    ``setting, date, source, indicator_abbr, indicator_name, dimension, measure, estimate, se,
    lowerci, upperci, note``. Ordered dimensions get D, R, ACI, RCI, SII, RII, PAR, PAF; non-ordered
    ones D, R, BGV, BGSD, COV, MDBU, MDBW, MDMU, MDMW, (MDRU, MDRW with a reference subgroup), IDISU,
    IDISW, TI, MLD, PAR, PAF; two-subgroup dimensions only D and R (as HEAT). A measure that does
    not apply is still reported, with NaN values and a ``note`` saying why (e.g. "applies to
    ordered dimensions only"); ``note`` is empty for the measures that were computed.
    """
    _check_level(conf_level)
    _check_n_sim(n_sim)
    df = read_heat_table(data, file=file)
    rows = []
    for key, g in df.groupby(GROUP_KEYS, sort=False, dropna=False):
        for m, note in _group_measures(g, conf_level, n_sim, seed):
            rows.append(dict(zip(GROUP_KEYS, key)) | m.to_dict() | {"note": note})
    cols = GROUP_KEYS + ["measure", "estimate", "se", "lowerci", "upperci", "note"]
    return pd.DataFrame(rows, columns=cols)
