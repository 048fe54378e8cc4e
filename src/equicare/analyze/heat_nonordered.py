"""HEAT measures of non-ordered dimensions (e.g. regions): between-group variance and standard
deviation, coefficient of variation, mean differences from the best subgroup, the mean or a
reference subgroup, indices of disparity, Theil index and mean log deviation, as healthequal
1.0.1's ``bgv``, ``bgsd``, ``covar``, ``mdbu``, ``mdbw``, ``mdmu``, ``mdmw``, ``mdru``, ``mdrw``,
``idisu``, ``idisw``, ``ti`` and ``mld``. The weighted measures leave out subgroups of population 0;
the unweighted ones count every subgroup.
"""

from __future__ import annotations

import numpy as np

from equicare.analyze.heat_core import (N_SIM, SEED, Measure, all_equal, as_array, favourable_flag, has_se, need,
                                        normal_ci, populated, scale_or_none, shares, simulated_ci)

__all__ = ["bgv", "bgsd", "cov", "mdbu", "mdbw", "mdmu", "mdmw", "mdru", "mdrw", "idisu", "idisw", "theil_index",
           "mld"]


def _nonordered(est, pop, se=None):
    """Estimates, population shares and SEs of the subgroups with population > 0 (at least three)."""
    y = as_array(est, "estimate")
    p, y, s = populated(pop, y, se)
    need(y.size > 2, "this measure needs more than two subgroups (with population > 0)")
    return y, p / p.sum(), s


def bgv(est, pop, se=None, conf_level: float = 0.95) -> Measure:
    """Between-group variance :math:`BGV = \\sum_j p_j (y_j - \\mu)^2`, :math:`\\mu = \\sum_j p_j y_j`.

    Analytic SE (Ahn et al. 2018):
    :math:`\\sqrt{4\\sum p_j^2 se_j^2 (y_j-\\mu)^2 + 2[(\\sum p_j^2 se_j^2)^2 - \\sum p_j^4 se_j^4 + \\sum p_j^2(1-p_j)^2 se_j^4]}`.
    """
    y, p, s = _nonordered(est, pop, se)
    mu = np.sum(p * y)
    val = 0.0 if all_equal(y) else np.sum(p * (y - mu) ** 2)
    if not has_se(s):
        return Measure("bgv", float(val))
    se2 = np.sum(p**2 * s**2 * (y - mu) ** 2)
    s2 = np.sum(p**2 * s**2)
    s4 = np.sum(p**4 * s**4)
    se4 = np.sum(p**2 * (1 - p) ** 2 * s**4)
    return normal_ci("bgv", val, float(np.sqrt(4 * se2 + 2 * (s2**2 - s4 + se4))), conf_level)


def _bgsd_rows(sims, p):
    mu = sims @ p
    return np.sqrt(((sims - mu[:, None]) ** 2) @ p)


def bgsd(est, pop, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED, conf_level: float = 0.95) -> Measure:
    """Between-group standard deviation :math:`\\sqrt{BGV}`; simulated CI."""
    y, p, s = _nonordered(est, pop, se)
    val = 0.0 if all_equal(y) else _bgsd_rows(y[None, :], p)[0]
    return simulated_ci("bgsd", val, lambda m: _bgsd_rows(m, p), y, s, scale_or_none(scaleval), n_sim, seed, conf_level)


def cov(est, pop, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED, conf_level: float = 0.95) -> Measure:
    """Coefficient of variation :math:`COV = 100\\, BGSD/\\mu`; simulated CI. Undefined (raises) when :math:`\\mu = 0`."""
    y, p, s = _nonordered(est, pop, se)
    need(y @ p > 0, "COV is undefined: the mean of the estimates is 0")

    def f(m):
        return _bgsd_rows(m, p) / (m @ p) * 100.0

    val = 0.0 if all_equal(y) else f(y[None, :])[0]
    return simulated_ci("cov", val, f, y, s, scale_or_none(scaleval), n_sim, seed, conf_level)


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

    return simulated_ci(name, f(y[None, :])[0], f, y, s, scale_or_none(scaleval), n_sim, seed, conf_level)


def _unweighted(est, se, name):
    y = as_array(est, "estimate")
    need(y.size > 2, f"{name} needs more than two subgroups")
    s = None if se is None else np.asarray(se, float)
    return y, s


def _best(favourable_indicator):
    return np.max if favourable_flag(favourable_indicator) == 1 else np.min


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
    need(pop is not None or setting_average is not None, "mdmu needs population or the setting average")
    y, s = _unweighted(est, se, "mdmu")
    p = None if pop is None else shares(pop)
    return _md("mdmu", y, None, s, scaleval, n_sim, seed, conf_level, lambda m: _mean_ref(m, p, setting_average))


def mdmw(est, pop, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED, conf_level: float = 0.95) -> Measure:
    """Mean difference from the mean, weighted: :math:`\\sum_j p_j |y_j - \\mu|`, :math:`\\mu=\\sum p_j y_j`."""
    y, p, s = _nonordered(est, pop, se)
    return _md("mdmw", y, p, s, scaleval, n_sim, seed, conf_level, lambda m: m @ p)


def _ref_index(reference_subgroup, n: int) -> int:
    need(reference_subgroup is not None, "this measure needs a reference subgroup")
    r = np.asarray(reference_subgroup, float)
    need(r.shape == (n,), "reference_subgroup must have one value per subgroup")
    need(np.nansum(r == 1) == 1, "exactly one subgroup must be marked as the reference (reference_subgroup = 1)")
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
    y = as_array(est, "estimate")
    k = _ref_index(reference_subgroup, y.size)
    refs = (np.arange(y.size) == k).astype(float)
    p, y, s, refs = populated(pop, y, se, refs, keep=k)
    # a reference kept with population 0 is the benchmark, not one of the weighted subgroups it needs
    need(int(np.count_nonzero(p > 0)) > 2, "mdrw needs more than two subgroups (with population > 0)")
    k = int(np.flatnonzero(refs == 1)[0])
    return _md("mdrw", y, p / p.sum(), s, scaleval, n_sim, seed, conf_level, lambda m: m[:, k])


def idisu(est, pop=None, se=None, scaleval=None, setting_average=None, n_sim: int = N_SIM, seed: int = SEED,
          conf_level: float = 0.95) -> Measure:
    """Index of disparity, unweighted: :math:`IDISU = \\frac{100}{n}\\sum_j |y_j - \\mu| / \\mu`.

    :math:`\\mu` as in :func:`mdmu` (setting average when given). Simulated CI. Undefined (raises)
    when :math:`\\mu = 0`.
    """
    need(pop is not None or setting_average is not None, "idisu needs population or the setting average")
    y, s = _unweighted(est, se, "idisu")
    p = shares(pop) if pop is not None else None
    n = y.size
    need(_mean_ref(y[None, :], p, setting_average)[0] > 0, "IDISU is undefined: the mean is 0")

    def f(m):
        mu = _mean_ref(m, p, setting_average)
        return 100.0 / n * np.abs(m - mu[:, None]).sum(1) / mu

    return simulated_ci("idisu", f(y[None, :])[0], f, y, s, scale_or_none(scaleval), n_sim, seed, conf_level)


def idisw(est, pop, se=None, scaleval=None, n_sim: int = N_SIM, seed: int = SEED, conf_level: float = 0.95) -> Measure:
    """Index of disparity, weighted: :math:`IDISW = 100 \\sum_j p_j |y_j - \\mu| / \\mu`; simulated CI."""
    y, p, s = _nonordered(est, pop, se)
    need(y @ p > 0, "IDISW is undefined: the mean of the estimates is 0")

    def f(m):
        mu = m @ p
        return 100.0 * (np.abs(m - mu[:, None]) @ p) / mu

    return simulated_ci("idisw", f(y[None, :])[0], f, y, s, scale_or_none(scaleval), n_sim, seed, conf_level)


def _tl_prep(est, pop, se):
    y, p, s = _nonordered(est, pop, se)
    flat = all_equal(y)
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
    if not has_se(s):
        return Measure("ti", val)
    prep = np.sum(r * (1 + np.log(r)) * p)
    sev = float(np.sqrt(np.sum((1 + np.log(r) - prep) ** 2 * (p**2 * s**2 / mu**2))))
    return normal_ci("ti", val, sev, conf_level)


def mld(est, pop, se=None, conf_level: float = 0.95) -> Measure:
    """Mean log deviation as in HEAT: :math:`MLD = 1000 \\sum_j p_j (-\\ln r_j)`, :math:`r_j = y_j/\\mu`.

    Zero estimates are replaced by 1e-6. SE (healthequal, not x1000):
    :math:`\\sqrt{\\sum_j se_j^2 p_j^2 / \\mu^2 \\,(1 - 1/r_j)^2}`. MLD >= 0 as :func:`theil_index`.
    """
    y, p, s, mu, r, flat = _tl_prep(est, pop, se)
    val = 0.0 if flat else max(float(np.sum(p * (-np.log(r))) * 1000.0), 0.0)
    if not has_se(s):
        return Measure("mld", val)
    sev = float(np.sqrt(np.sum((s**2 * p**2) / mu**2 * (1 - 1 / r) ** 2)))
    return normal_ci("mld", val, sev, conf_level)
