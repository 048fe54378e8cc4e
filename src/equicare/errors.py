"""Errors equicare raises for bad input: each says what is wrong and where, never a bare stack trace."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def plain(value: object) -> object:
    """A value as a user reads it: numpy scalars become Python numbers, whole floats print without ``.0``.

    >>> import numpy as np
    >>> plain(np.int64(-3)), plain(np.float64(2.0)), plain(np.float64("nan")), plain("x")
    (-3, 2, 'missing', 'x')
    """
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:
            return "missing"
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
        return float(format(value, ".12g"))
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return "missing"
    except ImportError:  # pragma: no cover
        pass
    return value


def plain_text(value: object) -> str:
    """:func:`plain` as message text: numbers bare, text quoted (``-3``, ``2.5``, ``'abc'``).

    A text cell that holds a number (as files are read, e.g. ``'-3'``) is a number too: shown bare, as
    written (leading zeros kept).

    >>> plain_text("-3"), plain_text(" 0.50 "), plain_text("01001"), plain_text("1,5"), plain_text("x")
    ('-3', '0.50', '01001', "'1,5'", "'x'")
    """
    v = plain(value)
    if isinstance(v, str) and _NUMBER.fullmatch(v.strip()):
        return v.strip()
    return repr(v) if isinstance(v, str) and v != "missing" else str(v)


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


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
            where += f", row {plain(self.row)}"
        if self.column is not None:
            where += f", column '{self.column}'"
        val = "" if self.value is None else f" (value: {plain_text(self.value)})"
        return f"{where}: {self.rule}{val}"

    def to_dict(self) -> dict:
        v = plain(self.value)
        if v is not None and not isinstance(v, (int, float, str, bool)):
            v = str(v)
        return {"file": self.file, "row": plain(self.row), "column": self.column, "rule": self.rule, "value": v}


#: How many problems of one rule a validator lists (the rest are counted, see :func:`add_capped`).
SHOWN_PER_RULE = 20
#: The caps validators apply per rule (rows listed: :data:`SHOWN_PER_RULE`, and 50 in the cost-table and weekly
#: hub readers); a rule listed exactly so often without counts may be cut.
_CAPS = (SHOWN_PER_RULE, 50)


@dataclass
class ValidationError(EquicareError):
    """A file was rejected; nothing from it was loaded. ``problems`` lists every broken rule found."""

    problems: list[Problem] = field(default_factory=list)
    max_shown: int = 20
    counts: dict[str, int] = field(default_factory=dict)
    """Number of problems per ``"column: rule"`` (may exceed the problems listed, which are capped)."""

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __reduce__(self):
        """Pickled by its fields (the service's worker processes send it back to the web process)."""
        return type(self), (self.problems, self.max_shown, self.counts)

    @property
    def n_problems(self) -> int:
        return max(len(self.problems), sum(self.counts.values()))

    @property
    def maybe_capped(self) -> bool:
        """No ``counts`` given and some rule listed exactly as often as a validator's cap (20 or 50 rows): the
        list may have been cut there, so the number found is a lower bound."""
        if self.counts:
            return False
        from collections import Counter

        per_rule = Counter((p.file, p.column, p.rule) for p in self.problems if p.row is not None)
        return any(k in _CAPS for k in per_rule.values())

    def __str__(self) -> str:
        n = self.n_problems
        least = "at least " if self.maybe_capped else ""
        head = f"rejected: {least}{n} problem{'s' if n != 1 else ''} found; nothing was loaded"
        lines = [head] + ["  " + str(p) for p in self.problems[: self.max_shown]]
        if n > min(self.max_shown, len(self.problems)):
            lines.append(f"  ... and {n - min(self.max_shown, len(self.problems))} more")
        if self.counts and n > len(self.problems):
            lines.append("  problems per rule: " + "; ".join(f"{k}: {v:,}" for k, v in self.counts.items()))
        if least:
            lines.append("  (the first rows of each rule are listed; there may be more of them)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = {"error": "ValidationError", "message": str(self).splitlines()[0],
               "problems": [p.to_dict() for p in self.problems]}
        if self.counts:
            out["n_problems"] = self.n_problems
            out["counts"] = [{"rule": k, "count": v} for k, v in self.counts.items()]
        return out


def add_capped(problems: list[Problem], counts: dict[str, int], positions, make, limit: int = SHOWN_PER_RULE) -> None:
    """Append ``make(i)`` for the first ``limit`` of ``positions`` to ``problems`` and count them all in
    ``counts`` (key ``"column: rule"``), so that :class:`ValidationError` ``(problems, counts=counts)`` says the
    true number of problems and "... and K more" when the list is capped, never a capped count as if exact."""
    positions = list(positions)
    if not positions:
        return
    made = [make(int(i)) for i in positions[:limit]]
    problems.extend(made)
    key = f"{made[0].column}: {made[0].rule}" if made[0].column else made[0].rule
    counts[key] = counts.get(key, 0) + len(positions)


class InfeasibleError(EquicareError):
    """An optimisation model has no solution; the message names the conflicting constraints."""
