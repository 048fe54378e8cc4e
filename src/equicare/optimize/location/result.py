"""The typed result every facility-location model returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LocationResult:
    """A solved facility-location model.

    Attributes
    ----------
    model : str
    objective : float
        p-median: sum of demand x cost; MCLP: covered demand; LSCP: sites opened; p-center: the
        largest assigned cost.
    selected_sites : list of str
    assignment : dict
        Demand id -> site id (MCLP: only covered demand; others map to None).
    gap : float
        Relative MIP gap at the end (0 when proven optimal).
    solve_seconds : float
        Model build plus solve, end to end.
    details : dict
        Extra figures (e.g. covered share, the phases of the p-median solver).
    bound : float
        The best proven bound on the optimum (below it for minimisation, above for the MCLP).
    proven_optimal : bool
        True when the answer is proven optimal (``gap`` at most 1e-6); with a larger ``--gap`` the answer
        is within that gap but not called optimal.
    """

    model: str
    objective: float
    selected_sites: list[str]
    assignment: dict[str, str | None]
    gap: float
    solve_seconds: float
    details: dict[str, Any] = field(default_factory=dict)
    bound: float | None = None
    proven_optimal: bool = False

    def __post_init__(self) -> None:
        if self.bound is None:  # a model solved to optimality by its solver: the bound is the objective
            self.bound = float(self.objective)
            self.proven_optimal = self.proven_optimal or self.gap <= 1e-6

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "objective": float(self.objective),
                "selected_sites": list(self.selected_sites), "assignment": dict(self.assignment),
                "gap": float(self.gap), "bound": float(self.bound), "proven_optimal": bool(self.proven_optimal),
                "solve_seconds": float(self.solve_seconds), "details": self.details}
