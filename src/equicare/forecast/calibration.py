"""Adaptive interval calibration within a season: a conformal spread factor from the forecasts already scored.

At reference date ``R``, the *scored past* is the forecaster's own earlier forecasts of this season (reference
dates ``R'`` in the last ``window`` weeks, every horizon and location, before this factor) whose target week is
``R - 7`` or earlier and has a value in the data the forecast for ``R`` uses (in real time the version published
by ``R - 3``; never a later truth).  Each such task gets the conformity score, on the fourth-root scale
``z = (y / (N / 10^5) + 0.01)^(1/4)``,

.. math:: r = \\frac{z_y - z_{0.5}}{z_{0.975} - z_{0.5}} \\ (z_y \\ge z_{0.5}), \\qquad
          r = \\frac{z_{0.5} - z_y}{z_{0.5} - z_{0.025}} \\ (z_y < z_{0.5}),

the factor by which the central 95% interval must be stretched around the median to just contain ``y`` (0 at the
median; :data:`NO_WIDTH_SCORE` when the half-width is 0 and ``y`` lies off the median).  The factor ``g`` is the
``ceil(level (n + 1))``-th smallest of the ``n`` scores (the split-conformal quantile), clipped to ``bounds``, and 1
when ``n < min_tasks``.  Every quantile of the forecast for ``R`` becomes ``z_{0.5} + g (z - z_{0.5})``.

Sources: conformalized quantile regression (Romano, Patterson & Candès 2019, NeurIPS 32), here with a scaled
(multiplicative) score; the rolling window makes the factor follow the season's changing errors, in the spirit of
adaptive conformal inference (Gibbs & Candès 2021, "Adaptive conformal inference under distribution shift",
NeurIPS 34).  The setting was chosen in the fifth selection round (``bench/selection-round5.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from equicare.errors import EquicareError
from equicare.forecast.gaps import widen_root
from equicare.forecast.truth import Panel

#: Score of a task whose interval has zero half-width on the side of an observation off the median.
NO_WIDTH_SCORE = 10.0
LO, MED, HI = 1, 11, 21  # indices of the 0.025, 0.5, 0.975 levels among the hub's 23


@dataclass(frozen=True)
class AdaptiveSpread:
    """Setting of the adaptive conformal spread factor.

    Attributes
    ----------
    window
        Weeks of earlier reference dates whose scored forecasts are used (``R - 7 window <= R' < R``).
    bounds
        ``(low, high)`` limits of the factor (``low = 1`` only ever widens).
    level
        Coverage the central interval (0.025-0.975) is calibrated to.
    min_tasks
        Fewer scored tasks than this: factor 1.
    """

    window: int = 8
    bounds: tuple[float, float] = (0.7, 2.5)
    level: float = 0.95
    min_tasks: int = 50

    def __post_init__(self) -> None:
        lo, hi = self.bounds
        if int(self.window) < 1 or not (0 < lo <= 1 <= hi) or not (0 < self.level < 1) or self.min_tasks < 1:
            raise EquicareError("adaptive spread: window >= 1 week, bounds (low <= 1 <= high, low > 0), "
                                f"level in (0, 1), min_tasks >= 1; got {self}")

    @classmethod
    def parse(cls, text: str | None) -> AdaptiveSpread | None:
        """``"off"``/``None`` -> ``None``; ``"WINDOW:both"`` or ``"WINDOW:widen"`` (e.g. ``"8:both"``)."""
        if text is None or str(text).strip().lower() in ("off", "none", ""):
            return None
        parts = str(text).strip().lower().split(":")
        if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in ("both", "widen"):
            raise EquicareError(f"adaptive spread must be 'off' or WEEKS:both / WEEKS:widen (e.g. 8:both), "
                                f"got {text!r}")
        return cls(window=int(parts[0]), bounds=(0.7, 2.5) if parts[1] == "both" else (1.0, 2.5))


@dataclass(frozen=True)
class PastForecast:
    """One reference date's forecast before the adaptive factor: ``values[location, horizon, quantile]``."""

    reference_date: pd.Timestamp
    locations: tuple[str, ...]
    horizons: tuple[int, ...]
    values: np.ndarray


def conformity_scores(q: np.ndarray, y: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Scores ``r`` (module docstring) of observations ``y`` ``(n,)`` under quantiles ``q`` ``(n, 23)``;
    ``scale`` is the population / 10^5 of each task."""
    z = (np.maximum(q, 0.0) / scale[:, None] + 0.01) ** 0.25
    zy = (np.maximum(y, 0.0) / scale + 0.01) ** 0.25
    zm = z[:, MED]
    up = zy >= zm
    half = np.where(up, z[:, HI] - zm, zm - z[:, LO])
    dist = np.abs(zy - zm)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(half > 0, dist / np.where(half > 0, half, 1.0), np.where(dist > 0, NO_WIDTH_SCORE, 0.0))
    return r


def conformal_factor(scores: np.ndarray, setting: AdaptiveSpread) -> float:
    """The ``ceil(level (n + 1))``-th smallest score (the largest when that exceeds ``n``), clipped to the bounds;
    1 when there are fewer than ``min_tasks`` scores."""
    r = np.sort(np.asarray(scores, float))
    n = len(r)
    if n < setting.min_tasks:
        return 1.0
    k = min(math.ceil(setting.level * (n + 1)), n)
    return float(np.clip(r[k - 1], *setting.bounds))


def past_scores(past: list[PastForecast], known: Panel, reference_date: pd.Timestamp, window: int) -> np.ndarray:
    """Conformity scores of the earlier forecasts in the window whose targets are in ``known`` (the panel the
    forecast for ``reference_date`` uses, cut at ``R - 7``: only values known then)."""
    ref = pd.Timestamp(reference_date)
    last = known.dates[-1]
    pos = {d: i for i, d in enumerate(known.dates)}
    col = {loc: j for j, loc in enumerate(known.locations)}
    scale_of = known.population / 1e5
    qs, ys, sc = [], [], []
    for pf in past:
        if not (ref - pd.Timedelta(weeks=window) <= pf.reference_date < ref):
            continue
        js = np.array([col.get(loc, -1) for loc in pf.locations])
        ok_loc = js >= 0
        for hi, h in enumerate(pf.horizons):
            target = pf.reference_date + pd.Timedelta(weeks=int(h))
            if target > last or target not in pos:
                continue
            y = np.full(len(js), np.nan)
            y[ok_loc] = known.values[pos[target], js[ok_loc]]
            ok = ~np.isnan(y)
            if ok.any():
                qs.append(pf.values[ok, hi, :])
                ys.append(y[ok])
                sc.append(scale_of[js[ok]])
    if not qs:
        return np.empty(0)
    return conformity_scores(np.vstack(qs), np.concatenate(ys), np.concatenate(sc))


def adapt(values: np.ndarray, population: np.ndarray, factor: float) -> np.ndarray:
    """``values`` ``(L, H, 23)`` with every quantile stretched by ``factor`` around the median on the fourth-root
    scale (a quantile at 0 stays 0)."""
    if factor == 1.0:
        return values
    return widen_root(values, np.full(values.shape[:2], factor), population)
