"""Shared pieces of the HEAT summary measures: the :class:`Measure` result, input checks, the rule
that subgroups of population 0 drop out of population-weighted measures, and the analytic and
simulated confidence intervals.

Simulated intervals follow Ahn et al. (2019) as healthequal computes them: the estimates are redrawn
``n_sim`` times from normal distributions with their standard errors, truncated to ``[0, inf)``, or
to ``[0, 100]`` for percentages, and the 2.5/97.5 (for a 95% level) percentiles taken. The measures
themselves are in :mod:`equicare.analyze.heat_pairwise`, :mod:`~equicare.analyze.heat_ordered` and
:mod:`~equicare.analyze.heat_nonordered`, all re-exported by :mod:`equicare.analyze.heat`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm, truncnorm

from equicare.errors import EquicareError, plain_text

__all__ = ["N_SIM", "SEED", "Measure", "check_conf_level", "check_n_sim", "z_value", "as_array", "need", "shares",
           "populated", "all_equal", "has_se", "normal_ci", "simulated_ci", "favourable_flag", "scale_or_none"]

#: Simulations of a simulated interval (healthequal's default) and their seed.
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


def check_conf_level(conf_level: float) -> None:
    """Raise :class:`EquicareError` unless ``0 < conf_level < 1``."""
    need(isinstance(conf_level, (int, float)) and 0.0 < conf_level < 1.0,
         f"conf_level must be between 0 and 1, e.g. 0.95 (value: {plain_text(conf_level)})")


def check_n_sim(n_sim: int) -> None:
    """Raise :class:`EquicareError` unless ``n_sim`` is a whole number >= 1."""
    need(isinstance(n_sim, (int, np.integer)) and not isinstance(n_sim, bool) and n_sim >= 1,
         f"n_sim must be a whole number >= 1 (value: {plain_text(n_sim)})")


def z_value(conf_level: float) -> float:
    """Two-sided normal quantile of ``conf_level`` (1.959964 for 0.95)."""
    check_conf_level(conf_level)
    return float(norm.ppf(1.0 - (1.0 - conf_level) / 2.0))


def as_array(x, name: str) -> np.ndarray:
    """``x`` as a non-empty 1-D float array (one value per subgroup), else an error naming ``name``."""
    a = np.asarray(x, float)
    if a.ndim != 1 or a.size == 0:
        raise EquicareError(f"{name} must be a non-empty 1-D array")
    return a


def need(cond: bool, msg: str) -> None:
    """Raise :class:`EquicareError` with ``msg`` (the reason a measure does not apply) unless ``cond``."""
    if not cond:
        raise EquicareError(msg)


def shares(pop) -> np.ndarray:
    """Population shares ``pop / sum(pop)`` (every subgroup kept); population known, >= 0, not all 0."""
    p = as_array(pop, "population")
    need(np.all(np.isfinite(p)) and np.all(p >= 0) and p.sum() > 0,
         "population must be known, >= 0 and not all 0 in every subgroup")
    return p / p.sum()


def populated(pop, *arrays, keep=None):
    """``(pop, *arrays)`` without the subgroups of population 0 (they have zero width and drop out).

    ``keep`` (an index) is a subgroup kept whatever its population (MDRW's reference). ``None``
    entries of ``arrays`` stay ``None``. Raises when population is missing, negative or all 0.
    """
    p = as_array(pop, "population")
    need(np.all(np.isfinite(p)) and np.all(p >= 0) and p.sum() > 0,
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
        need(a.shape == p.shape, "every argument must have one value per subgroup")
        out.append(a[mask])
    return tuple(out)


def all_equal(y: np.ndarray) -> bool:
    """Whether every estimate is exactly equal (perfect equality: the measures are exactly 0)."""
    return bool(np.all(y == y[0]))


def has_se(se) -> bool:
    """Whether a standard error is known for every subgroup."""
    return se is not None and np.all(np.isfinite(np.asarray(se, float)))


def normal_ci(name, est, se, conf_level) -> Measure:
    """Measure with the normal interval ``est +- z se`` (no interval when ``se`` is not finite)."""
    if not np.isfinite(se):
        return Measure(name, float(est))
    z = z_value(conf_level)
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


def simulated_ci(name, est_value, fn, est, se, scale, n_sim, seed, conf_level) -> Measure:
    """Measure ``est_value`` with the percentile interval of ``fn`` over ``n_sim`` redraws of the
    estimates (Ahn et al. 2019, as healthequal); no interval without SEs, an indicator scale, or any
    finite simulated value. ``fn`` maps an ``(n_sim, k)`` array of draws to ``n_sim`` values."""
    check_conf_level(conf_level)
    check_n_sim(n_sim)
    if not has_se(se) or scale is None or not np.isfinite(scale):
        return Measure(name, float(est_value))
    sims = _simulate(est, np.asarray(se, float), scale, n_sim, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = fn(sims)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return Measure(name, float(est_value))
    a = (1.0 - conf_level) / 2.0
    return Measure(name, float(est_value), float("nan"), float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a)))


def favourable_flag(favourable_indicator) -> int:
    """``favourable_indicator`` checked: 1 when a high value is good, 0 when it is bad."""
    need(favourable_indicator in (0, 1), f"favourable_indicator must be 0 or 1 (value: {plain_text(favourable_indicator)})")
    return int(favourable_indicator)


def scale_or_none(scaleval):
    """The indicator scale (100 for percentages, 1000 per thousand, ...) from ``scaleval``, or ``None``."""
    if scaleval is None:
        return None
    s = np.asarray(scaleval, float)
    s = s[np.isfinite(s)]
    return float(s.max()) if s.size else None
