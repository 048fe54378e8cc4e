"""The package's one rule for numbers in the tables it writes (CSV, XLSX): a number column whose values are
all whole (beds, people, counts, needs, capacities) is written without decimals (``120000``, not ``120000.0``;
missing stays empty); other columns (rates, fractions) are written as they are, except columns a writer
rounds to a number of decimals (``decimals=``: the forecast writers round quantile values, so floating-point
noise never reaches a forecast file: ``10.825``, not ``10.824999999999996``, and a value whole but for that
noise is written as the whole number); ``-0.0`` (a rounded-up negative) is written ``0``.

Every table writer of the command line, the project run and the service's downloads goes through
:func:`whole_numbers`, so one file never writes ``310`` where another writes ``310.0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

_EXACT = 2 ** 53  # beyond it a float no longer holds every whole number


def whole_numbers(df: pd.DataFrame, decimals: Mapping[str, int] | None = None) -> pd.DataFrame:
    """``df`` with each float column whose finite values are all whole turned into nullable integers
    (``Int64``: missing stays missing), the columns named in ``decimals`` first rounded to that many decimals
    (``numpy.round``: the double nearest the decimal, printed short). A column with an infinity, a fraction or
    nothing finite is kept as float (``-0.0`` becomes ``0.0``). Other dtypes are untouched; ``df`` itself is not
    changed (its ``attrs`` are kept).
    """
    floats = df.select_dtypes(include="floating").columns
    if not len(floats):
        return df
    fixed = {}
    for c in floats:
        v = df[c].to_numpy(dtype=float, na_value=np.nan) + 0.0  # IEEE: -0.0 + 0.0 == +0.0; NaN stays NaN
        if decimals and c in decimals:
            v = np.round(v, int(decimals[c])) + 0.0
        ok = np.isfinite(v)
        whole = ok.any() and bool(np.all(v[ok] == np.round(v[ok]))) and bool(np.all(np.abs(v[ok]) < _EXACT))
        if whole and not np.isinf(v).any():
            s = pd.array(np.where(ok, v, 0).astype(np.int64), dtype="Int64")
            s[~ok] = pd.NA
            fixed[c] = pd.Series(s, index=df.index)
        else:
            fixed[c] = pd.Series(v, index=df.index)
    out = df.assign(**fixed)
    out.attrs = dict(df.attrs)
    return out


def csv_text(df: pd.DataFrame, decimals: Mapping[str, int] | None = None) -> str:
    """CSV text of ``df`` (no index) under :func:`whole_numbers` (``decimals`` as there)."""
    return whole_numbers(df, decimals).to_csv(index=False)


def write_csv(df: pd.DataFrame, path: str | Path, atomic: bool = True,
              decimals: Mapping[str, int] | None = None) -> None:
    """Write ``df`` to ``path`` as CSV (no index) under :func:`whole_numbers`; the folder is made; with ``atomic``
    through a temporary file renamed into place, so a failed write leaves no half file; ``decimals`` as in
    :func:`whole_numbers`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = whole_numbers(df, decimals)
    if not atomic:
        table.to_csv(path, index=False)
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)
