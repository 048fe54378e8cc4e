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
        Extra figures (e.g. covered share, iterations of the truncated p-median).
    """

    model: str
    objective: float
    selected_sites: list[str]
    assignment: dict[str, str | None]
    gap: float
    solve_seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "objective": float(self.objective),
                "selected_sites": list(self.selected_sites), "assignment": dict(self.assignment),
                "gap": float(self.gap), "solve_seconds": float(self.solve_seconds), "details": self.details}
