"""What a solve strategy hands to the explanations: the solutions, the levels and the counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from equicare.optimize.highs import Solution


@dataclass
class Trace:
    """The record of one solve strategy (progressive filling, water-filling, one LP or MIP).

    Attributes
    ----------
    sol : Solution
        The final solution (column vector over the LP's layout; its duals give ``d_covered``).
    first : Solution or None
        The first max-min LP (its duals give ``d_min_share``); None for ``min_unmet``.
    levels : ndarray, shape (F,)
        The level at which each fair pair was frozen (NaN where not applicable).
    n_solves : int
    seconds : float
    x_int : ndarray or None
        The whole-unit column vector, when some types are indivisible.
    shared_levels : dict
        ``stock:<r>``/``budget`` -> (level, d level / d bound) where that shared constraint first limited.
    gini_rows : dict
        Resource index -> rows of the Gini cuts in the final model (their duals).
    integer : IntegerReport or None
        How whole units were found (:mod:`equicare.optimize.allocation.integer`).
    """

    sol: Solution
    first: Solution | None
    levels: np.ndarray
    n_solves: int
    seconds: float
    x_int: np.ndarray | None = None
    shared_levels: dict[str, tuple[float, float]] = field(default_factory=dict)
    gini_rows: dict[int, list[int]] = field(default_factory=dict)
    integer: object | None = None
