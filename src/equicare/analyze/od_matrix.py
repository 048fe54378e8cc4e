"""Origin-destination cost files: the long table (``origin, destination, cost``) or the wide matrix that
spreadsheets hold (first column the origin ids, one column per destination id, a cost in each cell).

:func:`as_long` turns either layout into the long table that
:func:`equicare.analyze.costs.cost_matrix_from_long` takes; empty cells of a wide matrix mean "no route".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.errors import Problem, ValidationError

LONG_COLUMNS = ("origin", "destination", "cost")


def is_wide(df: pd.DataFrame) -> bool:
    """True unless the table has the long layout's ``origin``, ``destination`` and ``cost`` columns."""
    cols = {str(c).strip().lower() for c in df.columns}
    return not set(LONG_COLUMNS) <= cols


def wide_to_long(df: pd.DataFrame, file: str = "costs") -> pd.DataFrame:
    """A wide origin-by-destination matrix (text cells) as the long table; blanks are dropped.

    Raises
    ------
    ValidationError
        A cell that is not a number or is negative (file, spreadsheet row, column named), duplicate origin
        or destination ids, or a matrix with no destination column.
    """
    if df.shape[1] < 2:
        raise ValidationError([Problem(file, 1, None, "a wide cost matrix needs the origin ids in the first "
                                                      "column and one column per destination")])
    first = df.columns[0]
    origins = df[first].astype("string").str.strip()
    problems = [Problem(file, int(i) + 2, str(first), "duplicate origin id", origins.iloc[i])
                for i in np.flatnonzero(origins.duplicated().to_numpy())[:20]]
    dests = [str(c).strip() for c in df.columns[1:]]
    seen: set[str] = set()
    for d in dests:
        if d in seen:
            problems.append(Problem(file, 1, d, "duplicate destination id"))
        seen.add(d)
    cells = df.iloc[:, 1:].astype("string").apply(lambda s: s.str.strip())
    blank = cells.isna() | (cells == "")
    num = cells.apply(lambda s: pd.to_numeric(s.str.replace(",", ".", regex=False), errors="coerce"))
    bad = (~blank & num.isna()) | (num < 0).fillna(False)
    for i, j in list(zip(*np.nonzero(bad.to_numpy())))[:20]:
        problems.append(Problem(file, int(i) + 2, dests[j], "cost must be a number >= 0", df.iloc[i, j + 1]))
    if problems:
        raise ValidationError(problems)
    v = num.to_numpy(float)
    i, j = np.nonzero(~np.isnan(v))
    return pd.DataFrame({"origin": origins.to_numpy(dtype=object)[i], "destination": np.asarray(dests, object)[j],
                         "cost": v[i, j]})


def as_long(df: pd.DataFrame, file: str = "costs") -> pd.DataFrame:
    """A cost table in either layout as ``origin, destination, cost`` (column names matched ignoring case)."""
    if is_wide(df):
        return wide_to_long(df, file)
    ren = {c: str(c).strip().lower() for c in df.columns if str(c).strip().lower() in LONG_COLUMNS}
    return df.rename(columns=ren)
