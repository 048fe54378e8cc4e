"""Errors equicare raises for bad input: each says what is wrong and where, never a bare stack trace."""

from __future__ import annotations

from dataclasses import dataclass, field


class EquicareError(Exception):
    """Base class: a problem the user can fix (bad file, bad parameter, infeasible scenario).

    The CLI prints ``str(error)`` and exits with status 2; the web service answers 422 with
    :meth:`to_dict` as JSON.
    """

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "message": str(self)}


@dataclass
class Problem:
    """One broken rule: where (file, 1-based data row, column) and what (rule, value)."""

    file: str
    row: int | None
    column: str | None
    rule: str
    value: object = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        val = "" if self.value is None else f" (value: {self.value!r})"
        return f"{where}: {self.rule}{val}"

    def to_dict(self) -> dict:
        v = self.value
        if v is not None and not isinstance(v, (int, float, str, bool)):
            v = str(v)
        return {"file": self.file, "row": self.row, "column": self.column, "rule": self.rule, "value": v}


@dataclass
class ValidationError(EquicareError):
    """A file was rejected; nothing from it was loaded. ``problems`` lists every broken rule found."""

    problems: list[Problem] = field(default_factory=list)
    max_shown: int = 20
    counts: dict[str, int] = field(default_factory=dict)
    """Number of problems per ``"column: rule"`` (may exceed the problems listed, which are capped)."""

    def __post_init__(self) -> None:
        super().__init__(str(self))

    @property
    def n_problems(self) -> int:
        return max(len(self.problems), sum(self.counts.values()))

    def __str__(self) -> str:
        n = self.n_problems
        head = f"rejected: {n} problem{'s' if n != 1 else ''} found; nothing was loaded"
        lines = [head] + ["  " + str(p) for p in self.problems[: self.max_shown]]
        if n > min(self.max_shown, len(self.problems)):
            lines.append(f"  ... and {n - min(self.max_shown, len(self.problems))} more")
        if self.counts and n > len(self.problems):
            lines.append("  problems per rule: " + "; ".join(f"{k}: {v:,}" for k, v in self.counts.items()))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = {"error": "ValidationError", "message": str(self).splitlines()[0],
               "problems": [p.to_dict() for p in self.problems]}
        if self.counts:
            out["n_problems"] = self.n_problems
            out["counts"] = [{"rule": k, "count": v} for k, v in self.counts.items()]
        return out


class InfeasibleError(EquicareError):
    """An optimisation model has no solution; the message names the conflicting constraints."""
