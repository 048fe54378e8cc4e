"""A fingerprint of a table's *data*, not of the file it came from.

The privacy budget belongs to the people in the data, so it must not reset when the same rows are saved
again with Windows line ends, a trailing newline, reordered rows or columns, a quoted header, spaces after
the commas, or as Parquet instead of CSV. :func:`data_fingerprint` hashes the *typed* rows (what
:func:`equicare.data.load_table` stored) in a canonical form:

* every cell is written canonically: numbers as the shortest round-trip text of their float value
  (``120``, ``120.0`` and ``1.2e2`` agree; ``-0`` is ``0``), dates as ISO ``YYYY-MM-DDTHH:MM:SS``, text
  stripped of surrounding spaces, a missing value as one fixed token;
* columns are taken in sorted name order, each cell prefixed by its column name;
* each row is hashed (64 bits, :func:`pandas.util.hash_pandas_object` on the canonical text), the row
  hashes are sorted (so row order does not matter, and a row repeated twice counts twice) and the
  SHA-256 of the sorted hashes and the sorted column names is the fingerprint.

Derived columns (``outlier_flags``, which the loader computes from the others) are left out.

:func:`row_sketch` keeps the ``k`` smallest row hashes (a bottom-k MinHash sketch, Cohen and Kaplan 2007)
so that two datasets sharing most of their rows can be recognised: :func:`jaccard` estimates the share
of rows they have in common.

References
----------
.. [1] Broder, A. (1997). On the resemblance and containment of documents. SEQUENCES 1997.
.. [2] Cohen, E., Kaplan, H. (2007). Summarizing data using bottom-k sketches. PODC 2007.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

__all__ = ["DERIVED_COLUMNS", "SKETCH_SIZE", "canonical_cells", "canonical_column", "data_fingerprint", "jaccard",
           "row_hashes", "row_sketch"]

DERIVED_COLUMNS = ("outlier_flags",)
SKETCH_SIZE = 256
_NA = "\x00NA"


def canonical_column(s: pd.Series) -> pd.Series:
    """One column as canonical text (see the module docstring)."""
    if pd.api.types.is_bool_dtype(s):
        out = s.map(lambda v: _NA if pd.isna(v) else ("1" if v else "0"))
    elif pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        v = np.where(v == 0, 0.0, v)  # -0.0 -> 0.0
        out = pd.Series([_NA if x != x else repr(float(x)) for x in v.tolist()], index=s.index)
    elif pd.api.types.is_datetime64_any_dtype(s):
        out = pd.Series(s.dt.strftime("%Y-%m-%dT%H:%M:%S"), index=s.index).fillna(_NA)
    else:
        txt = s.astype("string").str.strip()
        # text that is a number (an untyped column) is written like a number
        num = pd.to_numeric(txt, errors="coerce")
        isnum = num.notna() & txt.notna()
        if bool(isnum.all()) and len(txt):
            return canonical_column(num.astype(float))
        out = txt.fillna(_NA).astype(object)
    return out.astype(object)


def canonical_cells(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as canonical text, columns in sorted order, derived columns dropped."""
    cols = sorted(str(c) for c in df.columns if str(c) not in DERIVED_COLUMNS)
    frame = df.copy()
    frame.columns = [str(c) for c in frame.columns]
    return pd.DataFrame({c: canonical_column(frame[c]) for c in cols}, index=frame.index)


def row_hashes(df: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each canonical row (uint64, in the rows' order)."""
    canon = canonical_cells(df)
    if canon.shape[1] == 0:
        return np.zeros(len(df), dtype=np.uint64)
    joined = canon.columns[0] + "=" + canon.iloc[:, 0]
    for c in canon.columns[1:]:
        joined = joined + "\x1f" + c + "=" + canon[c]
    return pd.util.hash_pandas_object(joined, index=False).to_numpy(dtype=np.uint64)


def data_fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 (hex) of the sorted row hashes and sorted column names: equal for the same typed rows in
    any order and any file format."""
    h = hashlib.sha256()
    cols = sorted(str(c) for c in df.columns if str(c) not in DERIVED_COLUMNS)
    h.update("\x1f".join(cols).encode())
    h.update(np.sort(row_hashes(df)).tobytes())
    return h.hexdigest()


def row_sketch(df: pd.DataFrame, k: int = SKETCH_SIZE) -> list[int]:
    """The ``k`` smallest distinct row hashes (all of them for a small table)."""
    return [int(x) for x in np.unique(row_hashes(df))[:k]]


def jaccard(a: list[int], b: list[int], k: int = SKETCH_SIZE) -> float:
    """Bottom-k estimate of ``|A & B| / |A | B|`` from two sketches (exact when both tables are small)."""
    if not a or not b:
        return 0.0
    sa, sb = set(a), set(b)
    union = sorted(sa | sb)[:k]  # the k smallest hashes of A | B; each is in A's sketch iff it is in A
    return sum(1 for x in union if x in sa and x in sb) / len(union)
