"""HEAT measures that compare chosen subgroups: difference (D), ratio (R), population attributable
risk (PAR) and fraction (PAF), with healthequal 1.0.1's direction rules.

D and R compare two subgroups picked by the dimension (ordered or not), the direction of the
indicator (favourable or adverse) and the reference subgroup (non-ordered dimensions); PAR and PAF
compare the most advantaged (ordered) or best (non-ordered) subgroup with the mean. See
:func:`difference` and :func:`paf` for the rules, written from healthequal's ``R/d.R``, ``R/r.R``,
``R/paf.R`` and ``R/parisk.R``.
"""

from __future__ import annotations

import numpy as np

from equicare.analyze.heat_core import (Measure, as_array, favourable_flag, has_se, need, normal_ci, populated,
                                        scale_or_none, z_value)

__all__ = ["difference", "ratio", "paf", "par"]


def _pick_pair(est, favourable, ordered, subgroup_order, reference_subgroup):
    """Indices ``(i1, i2)`` of the two subgroups compared by D and R, as healthequal 1.0.1's ``d``/``r``.

    Ordered: favourable ``(most advantaged, most disadvantaged)``, adverse the reverse. Non-ordered
    without a reference: ``(highest, lowest)``. Non-ordered with a reference subgroup: favourable
    ``(reference, lowest of the other subgroups)``, adverse ``(highest of the other subgroups,
    reference)``. Ties go to the first subgroup.
    """
    fav = favourable_flag(favourable)
    if ordered:
        need(subgroup_order is not None, "an ordered dimension needs subgroup_order")
        o = as_array(subgroup_order, "subgroup_order")
        need(o.size == est.size, "subgroup_order must have one value per subgroup")
        lo, hi = int(np.argmin(o)), int(np.argmax(o))
        return (hi, lo) if fav == 1 else (lo, hi)
    ref = None if reference_subgroup is None else np.asarray(reference_subgroup, float)
    if ref is None or np.nansum(ref) == 0:
        return int(np.argmax(est)), int(np.argmin(est))
    need(ref.size == est.size, "reference_subgroup must have one value per subgroup")
    need(np.nansum(ref == 1) == 1, "exactly one subgroup must be marked as the reference (reference_subgroup = 1)")
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
    y = as_array(est, "estimate")
    i1, i2 = _pick_pair(y, favourable_indicator, ordered_dimension, subgroup_order, reference_subgroup)
    d = y[i1] - y[i2]
    s = np.asarray(se, float) if se is not None else None
    d_se = float(np.sqrt(s[i1] ** 2 + s[i2] ** 2)) if has_se(se) else float("nan")
    return normal_ci("d", d, d_se, conf_level)


def ratio(est, se=None, favourable_indicator: int = 1, ordered_dimension: bool = False,
          subgroup_order=None, reference_subgroup=None, conf_level: float = 0.95) -> Measure:
    """Ratio :math:`R = y_1 / y_2` with the subgroups of :func:`difference` (healthequal ``r``).

    SE of :math:`\\ln R` (Ahn et al. 2018): :math:`se_{\\ln R} = \\sqrt{(se_1^2 + R^2 se_2^2)/y_2^2}/R`;
    CI :math:`\\exp(\\ln R \\pm z\\, se_{\\ln R})`; the reported ``se`` is that of :math:`\\ln R`.
    """
    y = as_array(est, "estimate")
    i1, i2 = _pick_pair(y, favourable_indicator, ordered_dimension, subgroup_order, reference_subgroup)
    need(y[i2] != 0, "R is undefined: the estimate in the denominator subgroup is 0")
    r = y[i1] / y[i2]
    if not has_se(se) or r <= 0:
        return Measure("r", float(r))
    s = np.asarray(se, float)
    r_se = np.sqrt((1.0 / y[i2] ** 2) * (s[i1] ** 2 + r**2 * s[i2] ** 2))
    lse = r_se / r
    z = z_value(conf_level)
    return Measure("r", float(r), float(lse), float(np.exp(np.log(r) - z * lse)), float(np.exp(np.log(r) + z * lse)))


def _impact(est, pop, favourable_indicator, ordered_dimension, subgroup_order, setting_average, scaleval):
    """Reference estimate, mean, whether PAF/PAR are set to 0, and Walter's SE (healthequal ``paf``/``parisk``).

    The reference is the most advantaged subgroup (highest ``subgroup_order``) of an ordered
    dimension whatever the direction, and the best estimate of a non-ordered one (highest if
    favourable, lowest if adverse); the ``reference_subgroup`` column is not used, as in
    healthequal 1.0.1. With population, subgroups of population 0 drop out first.
    """
    y = as_array(est, "estimate")
    fav = favourable_flag(favourable_indicator)
    order = None
    if ordered_dimension:
        need(subgroup_order is not None, "an ordered dimension needs subgroup_order")
        order = as_array(subgroup_order, "subgroup_order")
        need(order.size == y.size, "subgroup_order must have one value per subgroup")
    P = None
    if pop is not None:
        P, y, order = populated(pop, y, order)
    need(y.size > 2, "PAR and PAF need more than two subgroups" + ("" if pop is None else " (with population > 0)"))
    if ordered_dimension:
        k = int(np.argmax(order))
    else:
        k = int(np.argmax(y)) if fav == 1 else int(np.argmin(y))
    if P is not None:
        mu = float(np.sum(P / P.sum() * y))
    else:
        need(setting_average is not None and np.isfinite(setting_average),
             "PAR/PAF need population or the setting average")
        mu = float(setting_average)
    ref = float(y[k])
    zeroed = (ref - mu < 0 and fav == 1) or (ref - mu > 0 and fav == 0)
    se_frac = float("nan")
    scale = scale_or_none(scaleval)
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
    need(mu != 0, "PAF is undefined: the mean is 0")
    val = 0.0 if zeroed else 100.0 * (ref - mu) / mu
    return normal_ci("paf", val, se, conf_level)


def par(est, pop=None, favourable_indicator: int = 1, ordered_dimension: bool = False, subgroup_order=None,
        setting_average=None, scaleval=None, conf_level: float = 0.95) -> Measure:
    """Population attributable risk :math:`PAR = y_{ref} - \\mu` (healthequal ``parisk``).

    Same reference subgroup, mean and zeroing rule as :func:`paf`; SE :math:`|\\mu|\\, se_{PAF}`.
    """
    ref, mu, zeroed, se = _impact(est, pop, favourable_indicator, ordered_dimension, subgroup_order,
                                  setting_average, scaleval)
    val = 0.0 if zeroed else ref - mu
    return normal_ci("par", val, abs(mu * se) if np.isfinite(se) else float("nan"), conf_level)
