"""One definition of each planning parameter: its default, its allowed range and what it means.

The demo (:class:`equicare.pipeline.DemoParams`), the service's run form
(:class:`equicare.service.scenarios.ScenarioParams`), the scenario builder
(:func:`equicare.optimize.scenario.flu_surge_tables`) and the allocation model
(:class:`equicare.optimize.AllocationProblem`) take their defaults and bounds from here, so they cannot
disagree.  :meth:`Param.check` raises :class:`~equicare.errors.EquicareError` naming the parameter, the
range and the value given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from equicare.errors import EquicareError

#: The 23 quantile levels of the FluSight hub (the scenarios of a quantile forecast).
QUANTILES: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6,
                                0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99)

#: The fairness rules of the allocation model (see :mod:`equicare.optimize.allocation`).
OBJECTIVES: tuple[str, ...] = ("leximin", "min_unmet", "weighted")


@dataclass(frozen=True)
class Param:
    """A numeric parameter: default and interval ``lo .. hi`` (open or closed at each end).

    ``optional`` parameters also accept ``None`` (e.g. no Gini cap); ``none_word`` says what ``None`` means
    in messages.
    """

    name: str
    default: Any
    doc: str
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False
    none_word: str = ""

    @property
    def interval(self) -> str:
        def g(v: float) -> str:
            return f"{v:,.0f}" if abs(v) >= 1e4 and float(v).is_integer() else f"{v:g}"

        if self.hi == math.inf:
            return f"{'>' if self.lo_open else '>='} {g(self.lo)}"
        return f"{'(' if self.lo_open else '['}{g(self.lo)}, {g(self.hi)}{')' if self.hi_open else ']'}"

    def ok(self, value) -> bool:
        if value is None:
            return self.optional
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        if math.isnan(v):
            return False
        above = v > self.lo if self.lo_open else v >= self.lo
        below = v < self.hi if self.hi_open else v <= self.hi
        return above and below

    def check(self, value, label: str | None = None):
        """Return ``value`` if allowed, else raise EquicareError ``"<label> must be in (0, 1], got 1.5"``."""
        if not self.ok(value):
            label = label or f"parameter '{self.name}'"
            extra = f" ({self.none_word})" if self.optional and self.none_word else ""
            raise EquicareError(f"{label} must be {'in ' if self.hi != math.inf else ''}{self.interval}{extra}, "
                                f"got {value}")
        return value


# --- the allocation model ----------------------------------------------------------------------------
FAIRNESS_WEIGHT = Param("fairness_weight", 0.5, "w in the weighted objective w z + (1 - w) coverage/need.", 0, 1)
MAX_GINI = Param("max_gini", None, "Cap on the need-weighted Gini coefficient of the shares of need met across "
                 "regions (per resource), in [0, 1] (0: equal shares; 1: no constraint); None: no cap.", 0, 1,
                 optional=True, none_word="blank: no cap")
COVERAGE_FLOOR = Param("coverage_floor", None, "No region's share below this fraction of the national share.",
                       0, 1, optional=True, none_word="blank: no floor")
MAX_GAP = Param("max_gap", None, "Cap on the largest minus the smallest share of need met (per resource).",
                0, 1, optional=True, none_word="blank: no cap")
QUALITY_WEIGHT = Param("quality_weight", 0.0, "Value per unit placed per quality point, relative to covering "
                       "one unit of need.", 0)

# --- the flu-surge scenario (demo, service, scenario builder) ----------------------------------------
SEVERITY = Param("severity", 2.0, "Multiplier on forecast flu ICU patients for the severe-season scenario.",
                 0, 100, lo_open=True)
STOCKPILE = Param("stockpile", 2500, "National stockpile of surge ICU beds.", 0, 10_000_000)
SCENARIO_QUANTILE = Param("scenario_quantile", 0.9, "Forecast quantile used as the planning peak (0.5 = "
                          "median; 0.9 = a bad but plausible peak); one of QUANTILES.", 0, 1, True, True)
ICU_FRACTION = Param("icu_fraction", 0.15, "Share of influenza admissions that need an ICU bed.", 0, 1)
ICU_LOS_DAYS = Param("icu_los_days", 7.0, "Average ICU length of stay of those patients, in days.", 0,
                     lo_open=True)
TARGET_OCCUPANCY = Param("target_occupancy", 0.85, "ICU occupancy to stay at or below.", 0, 1, lo_open=True)
SURGE_CAP_RATIO = Param("surge_cap_ratio", 0.2, "At most this fraction of a region's staffed ICU beds can be "
                        "added as surge beds (staffing limit).", 0)
HOSPITAL_SHARE = Param("hospital_share", 0.2, "With placement at hospitals: a hospital takes at most this share "
                       "of its staffed ICU beds.", 0, 1, lo_open=True)
AS_OF = "2023-12-30"
"""Planning reference date (a Saturday): forecasts use data up to one week before it."""
FORECAST_MODEL = "ensemble"
"""Forecast model for the planning scenario (the best-scoring on seasons before 2023-24)."""


def check_quantile(q: float, label: str = "parameter 'scenario_quantile'") -> float:
    """``q`` if it is one of :data:`QUANTILES`, else EquicareError listing them."""
    if not any(abs(float(q) - v) < 1e-9 for v in QUANTILES):
        raise EquicareError(f"{label} must be a forecast quantile ({', '.join(map(str, QUANTILES))}), got {q}")
    return q
