"""The package's one rule for numbers in the tables it writes (CSV, XLSX): a number column whose values are
all whole (beds, people, counts, needs, capacities) is written without decimals (``120000``, not ``120000.0``;
missing stays empty); other columns (rates, fractions, forecast quantiles) are written with at most
:data:`SIGNIFICANT` significant digits, so floating-point noise never reaches a file (``10.825``, not
``10.824999999999996``; a value that is whole but for that noise is written as the whole number); ``-0.0`` (a
rounded-up negative) is written ``0``.

Every table writer of the command line, the project run and the service's downloads goes through
:func:`whole_numbers`, so one file never writes ``310`` where another writes ``310.0``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

_EXACT = 2 ** 53  # beyond it a float no longer holds every whole number
#: Significant digits a written number keeps: far beyond any measured or forecast quantity (a count of
#: 123,456,789 keeps its units digit and a rate its 1e-9ths), short of float noise (the 16th-17th digits).
SIGNIFICANT = 12


def significant(v: np.ndarray, digits: int = SIGNIFICANT) -> np.ndarray:
    """``v`` (float array) rounded to ``digits`` significant digits; infinities, NaN and 0 unchanged.

    ``round(v * 10**k) / 10**k`` with ``10**k`` exact (``k <= 22``) is the double nearest the decimal, which
    Python and pandas print in its short form (``10.825``)."""
    v = np.array(v, dtype=float)
    ok = np.flatnonzero(np.isfinite(v) & (v != 0))
    if not len(ok):
        return v
    k = (digits - 1 - np.floor(np.log10(np.abs(v[ok])))).astype(int)
    use = (k >= 0) & (k <= 22)  # numbers of 12+ integer digits, or below 1e-11, are left as they are
    idx, scale = ok[use], 10.0 ** k[use]
    v[idx] = np.round(v[idx] * scale) / scale
    return v


def whole_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its float columns rounded to :data:`SIGNIFICANT` significant digits (float noise removed), and
    each whose finite values are then all whole turned into nullable integers (``Int64``: missing stays missing).
    A column with an infinity, a fraction or nothing finite is kept as float (``-0.0`` becomes ``0.0``). Other dtypes are untouched; ``df`` itself is not changed (its ``attrs`` are kept).
    """
    floats = df.select_dtypes(include="floating").columns
    if not len(floats):
        return df
    fixed = {}
    for c in floats:
        v = significant(df[c].to_numpy(dtype=float, na_value=np.nan)) + 0.0  # IEEE: -0.0 + 0.0 == +0.0
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


def csv_text(df: pd.DataFrame) -> str:
    """CSV text of ``df`` (no index) under :func:`whole_numbers`."""
    return whole_numbers(df).to_csv(index=False)


def write_csv(df: pd.DataFrame, path: str | Path, atomic: bool = True) -> None:
    """Write ``df`` to ``path`` as CSV (no index) under :func:`whole_numbers`; the folder is made; with ``atomic``
    through a temporary file renamed into place, so a failed write leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = whole_numbers(df)
    if not atomic:
        table.to_csv(path, index=False)
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)
