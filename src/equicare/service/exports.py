"""Exports and downloads: every table leaving the service has its person counts small-cell suppressed.

A column holds *person counts* when it is numeric, holds only whole numbers, and its name says it counts
people or events (``count``, ``*admissions*``, ``*patients*``, ``*cases*``, ``*deaths*``, ``*visits*``,
``persons``/``people``, or ``value`` in a table of region x date observations), unless the table already
carries its ``<column>_suppressed`` flag (a suppressed release keeps its own suppression). Counts of facilities
or beds (``n_facilities``, ``cap_*``) are not about people and are left alone. Those columns go through
:func:`equicare.privacy.suppress.suppress_small_cells` (1..10 hidden, with complementary suppression),
grouped by date when the table has one (so each date's total over regions is protected) -- capacity,
rates, forecasts and allocations are not person counts and are left as they are.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from equicare.privacy.suppress import suppress_small_cells

__all__ = ["PERSON_COUNT", "person_count_columns", "suppressed_table", "suppressed_csv"]

PERSON_COUNT = re.compile(r"(^count$|admission|patient|cases?$|^cases|death|visit|^persons?$|^people$)", re.I)


def person_count_columns(df: pd.DataFrame) -> list[str]:
    """The columns of ``df`` treated as counts of people (see the module docstring)."""
    out = []
    observation_table = "date" in df.columns and "value" in df.columns
    for c in df.columns:
        name = str(c)
        if name.endswith("_suppressed") or f"{name}_suppressed" in df.columns or not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
            continue
        if not (PERSON_COUNT.search(name) or (observation_table and name == "value")):
            continue
        v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        v = v[~np.isnan(v)]
        if v.size and np.all(v >= 0) and np.all(np.abs(v - np.round(v)) < 1e-9):
            out.append(name)
    return out


def suppressed_table(df: pd.DataFrame, threshold: int = 11) -> tuple[pd.DataFrame, dict]:
    """``df`` with its person-count columns suppressed; the report names the columns and the cells hidden."""
    cols = person_count_columns(df)
    if not cols:
        return df, {"columns": [], "n_primary": 0, "n_complementary": 0}
    group = "date" if "date" in df.columns and len(df) else None
    out, rep = suppress_small_cells(df, cols, threshold=threshold, group_column=group)
    return out, {"columns": cols, **rep.to_dict()}


def suppressed_csv(df: pd.DataFrame, threshold: int = 11) -> str:
    """CSV text of :func:`suppressed_table` (suppressed cells are empty, flagged in ``<col>_suppressed``)."""
    out, _ = suppressed_table(df, threshold)
    return out.to_csv(index=False)
