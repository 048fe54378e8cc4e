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

Derived columns (``outlier_flags``, which the loader computes from the others) are left out, and so are
*blank* columns (every cell empty, or every cell 0) of a table with more than one row: a copy with an
added all-zero or all-empty column holds no more about anyone than the original, so it has the same
fingerprint (and shares the original's budget and disclosure record).

:func:`row_sketch` keeps the ``k`` smallest row hashes (a bottom-k MinHash sketch, Cohen and Kaplan 2007)
so that two datasets sharing most of their rows can be recognised: :func:`jaccard` estimates the share
of rows they have in common and :func:`containment` the share of the smaller one found in the larger
(a filtered subset). :func:`content_sketch` is the same sketch over the rows' *measurements* only: the
non-constant numeric columns, without their names, taken in an order fixed by their contents. A copy
whose columns were renamed, that has an added constant column, or whose identifiers and names (text)
were replaced, has the same content sketch as the original.

References
----------
.. [1] Broder, A. (1997). On the resemblance and containment of documents. SEQUENCES 1997.
.. [2] Cohen, E., Kaplan, H. (2007). Summarizing data using bottom-k sketches. PODC 2007.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

__all__ = ["DERIVED_COLUMNS", "SKETCH_SIZE", "canonical_cells", "canonical_column", "containment",
           "content_sketch", "data_fingerprint", "jaccard", "row_hashes", "row_sketch"]

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


def _is_numeric(s: pd.Series) -> bool:
    """True for a numeric column, or a text column whose every present cell is a number."""
    if pd.api.types.is_bool_dtype(s):
        return False
    if pd.api.types.is_numeric_dtype(s):
        return True
    if pd.api.types.is_datetime64_any_dtype(s):
        return False
    txt = s.astype("string").str.strip()
    txt = txt[txt.notna() & (txt != "")]
    return bool(len(txt)) and bool(pd.to_numeric(txt, errors="coerce").notna().all())


_BLANK = {_NA, "", "0.0"}


def canonical_cells(df: pd.DataFrame, all_constants: bool = False) -> pd.DataFrame:
    """``df`` as canonical text, columns in sorted order, derived columns dropped, and so are constant
    columns of a table of two rows or more: those whose one value is missing, empty or 0 (they say
    nothing), or with ``all_constants`` every constant column."""
    cols = sorted(str(c) for c in df.columns if str(c) not in DERIVED_COLUMNS)
    frame = df.copy()
    frame.columns = [str(c) for c in frame.columns]
    canon = {c: canonical_column(frame[c]) for c in cols}
    if len(frame) > 1:
        canon = {c: v for c, v in canon.items()
                 if v.nunique(dropna=False) > 1 or not (all_constants or str(v.iloc[0]) in _BLANK)}
    return pd.DataFrame(canon, index=frame.index)


def _hash_rows(canon: pd.DataFrame, named: bool = True) -> np.ndarray:
    if canon.shape[1] == 0:
        return np.zeros(len(canon), dtype=np.uint64)
    cols = list(canon.columns)
    joined = (cols[0] + "=" if named else "") + canon[cols[0]]
    for c in cols[1:]:
        joined = joined + "\x1f" + (c + "=" if named else "") + canon[c]
    return pd.util.hash_pandas_object(joined, index=False).to_numpy(dtype=np.uint64)


def row_hashes(df: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each canonical row (uint64, in the rows' order)."""
    return _hash_rows(canonical_cells(df))


def content_hashes(df: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's measurements: its non-constant numeric columns (all non-constant columns
    when none is numeric), unnamed, in the order of a hash of each column's sorted values."""
    canon = canonical_cells(df, all_constants=True)
    frame = df.copy()
    frame.columns = [str(c) for c in frame.columns]
    numeric = [c for c in canon.columns if _is_numeric(frame[c])]
    canon = canon[numeric] if numeric else canon

    def col_key(c: str) -> str:
        return hashlib.sha256("\x1f".join(sorted(map(str, canon[c].tolist()))).encode()).hexdigest()

    order = sorted(canon.columns, key=col_key)
    return _hash_rows(canon[order], named=False)


def data_fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 (hex) of the sorted row hashes and sorted column names: equal for the same typed rows in
    any order and any file format."""
    h = hashlib.sha256()
    canon = canonical_cells(df)
    h.update("\x1f".join(canon.columns).encode())
    h.update(np.sort(_hash_rows(canon)).tobytes())
    return h.hexdigest()


def row_sketch(df: pd.DataFrame, k: int = SKETCH_SIZE) -> list[int]:
    """The ``k`` smallest distinct row hashes (all of them for a small table)."""
    return [int(x) for x in np.unique(row_hashes(df))[:k]]


def content_sketch(df: pd.DataFrame, k: int = SKETCH_SIZE) -> list[int]:
    """Like :func:`row_sketch`, over :func:`content_hashes` (blind to column names and text identifiers)."""
    return [int(x) for x in np.unique(content_hashes(df))[:k]]


def containment(a: list[int], b: list[int], n_a: int, n_b: int, k: int = SKETCH_SIZE) -> float:
    """Estimated share of the smaller table's distinct rows that the other holds (exact for small tables).

    From the Jaccard estimate ``J`` and the sizes: ``|A & B| = J (|A| + |B|) / (1 + J)``, divided by
    ``min(|A|, |B|)`` (Broder 1997); sizes are the sketches' lengths when a table is smaller than ``k``.
    """
    if not a or not b:
        return 0.0
    na = len(a) if len(a) < k else max(int(n_a), len(a))
    nb = len(b) if len(b) < k else max(int(n_b), len(b))
    j = jaccard(a, b, k)
    return min(1.0, j * (na + nb) / (1.0 + j) / max(1, min(na, nb)))


def jaccard(a: list[int], b: list[int], k: int = SKETCH_SIZE) -> float:
    """Bottom-k estimate of ``|A & B| / |A | B|`` from two sketches (exact when both tables are small)."""
    if not a or not b:
        return 0.0
    sa, sb = set(a), set(b)
    union = sorted(sa | sb)[:k]  # the k smallest hashes of A | B; each is in A's sketch iff it is in A
    return sum(1 for x in union if x in sa and x in sb) / len(union)
