"""Origin-destination cost files: the long table (``origin, destination, cost``) or the wide matrix that
spreadsheets hold (first column the origin ids, one column per destination id, a cost in each cell).

:func:`as_long` turns either layout into the long table that
:func:`equicare.analyze.costs.cost_matrix_from_long` takes; empty cells of a wide matrix mean "no route".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.data.readers import sheet_row
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
    problems = [Problem(file, sheet_row(df, int(i)), str(first), "duplicate origin id", origins.iloc[i])
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
        problems.append(Problem(file, sheet_row(df, int(i)), dests[j], "cost must be a number >= 0", df.iloc[i, j + 1]))
    if problems:
        raise ValidationError(problems)
    v = num.to_numpy(float)
    i, j = np.nonzero(~np.isnan(v))
    out = pd.DataFrame({"origin": origins.to_numpy(dtype=object)[i], "destination": np.asarray(dests, object)[j],
                        "cost": v[i, j]})
    # messages about a pair name the matrix's own row (the origin's) and column (the destination's header)
    out.attrs["sheet_rows"] = np.asarray([sheet_row(df, int(k)) for k in range(len(df))], dtype=int)[i]
    out.attrs["wide_origin_column"] = str(first)
    return out


def as_long(df: pd.DataFrame, file: str = "costs") -> pd.DataFrame:
    """A cost table in either layout as ``origin, destination, cost`` (column names matched ignoring case)."""
    if is_wide(df):
        return wide_to_long(df, file)
    ren = {c: str(c).strip().lower() for c in df.columns if str(c).strip().lower() in LONG_COLUMNS}
    return df.rename(columns=ren)


def _coordinate(df: pd.DataFrame, names: tuple[str, ...], file: str, lo: float, hi: float) -> np.ndarray:
    cols = {str(c).strip().lower(): c for c in df.columns}
    col = next((cols[n] for n in names if n in cols), None)
    if col is None:
        raise ValidationError([Problem(file, 1, names[0], f"column is missing (one of {', '.join(names)}); "
                                                          "needed for distances from coordinates")])
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(v) | (v < lo) | (v > hi)
    if bad.any():
        raise ValidationError([Problem(file, sheet_row(df, int(i)), str(col), f"must be a number in [{lo:g}, {hi:g}]",
                                       df[col].iloc[i]) for i in np.flatnonzero(bad)[:20]])
    return v


def coordinate_costs(demand: pd.DataFrame, supply: pd.DataFrame, max_km: float,
                     files: tuple[str, str] = ("demand", "supply")) -> pd.DataFrame:
    """Great-circle km (haversine on a k-d tree, :func:`equicare.analyze.costs.great_circle_costs`) from the
    ``lat``/``lon`` (or ``latitude``/``longitude``) of each demand row to each supply row within ``max_km``, as
    the long table ``origin, destination, cost`` keyed by the tables' ``id`` columns."""
    from equicare.analyze.costs import cost_matrix_to_long, great_circle_costs

    missing = [Problem(f, 1, "id", "required column is missing (the location ids); columns: "
                       + ", ".join(map(str, t.columns))) for t, f in ((demand, files[0]), (supply, files[1]))
               if "id" not in t.columns]
    if missing:
        raise ValidationError(missing)
    la1 = _coordinate(demand, ("lat", "latitude"), files[0], -90, 90)
    lo1 = _coordinate(demand, ("lon", "lng", "longitude"), files[0], -180, 180)
    la2 = _coordinate(supply, ("lat", "latitude"), files[1], -90, 90)
    lo2 = _coordinate(supply, ("lon", "lng", "longitude"), files[1], -180, 180)
    c = great_circle_costs(la1, lo1, la2, lo2, max_km)
    return cost_matrix_to_long(c, demand["id"].astype(str).str.strip(), supply["id"].astype(str).str.strip())
