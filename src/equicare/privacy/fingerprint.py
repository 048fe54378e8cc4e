"""A fingerprint of a table's *data*, not of the file it came from.

The privacy budget belongs to the people in the data, so it must not reset when the same rows are saved
again with Windows line ends, a trailing newline, reordered rows or columns, a quoted header, spaces after
the commas, or as Parquet instead of CSV. :func:`data_fingerprint` hashes the *typed* rows (what
:func:`equicare.data.load_table` stored) in a canonical form:

* every cell is written canonically: numbers as the shortest round-trip text of their float value
  (``120``, ``120.0`` and ``1.2e2`` agree; ``-0`` is ``0``), dates as ISO ``YYYY-MM-DDTHH:MM:SS``, text
  stripped of surrounding spaces, a missing value as one fixed token;
* columns are taken in sorted name order, each cell prefixed by its column name;
* each row is hashed (64 bits, :func:`pandas.util.hash_array`'s SipHash of the row's cells joined as
  ``name=text`` by ``\x1f``), the row hashes are sorted (so row order does not matter, and a row repeated
  twice counts twice) and the SHA-256 of the sorted hashes and the sorted column names is the fingerprint.

How it is computed (:class:`CanonicalTable`): each column is factorised once and only its *distinct* values
are written as canonical text; the rows' strings are joined by Arrow from those texts
(:func:`pyarrow.compute.binary_join_element_wise`) and hashed in C. A million rows take seconds, not a minute
and a half as cell-by-cell text did, and every value (fingerprint, row hash, sketch) is the one the cell-by-cell
definition above gives, so keys already stored in a ledger or a suppression record stay valid (the tests
compare both on random tables and pin the values of a fixed table).

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
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DERIVED_COLUMNS", "SKETCH_SIZE", "CanonicalColumn", "CanonicalTable", "Fingerprints", "canonical_cells",
           "canonical_column", "containment", "content_hashes", "content_sketch", "data_fingerprint", "fingerprints",
           "jaccard", "row_hashes", "row_sketch"]

DERIVED_COLUMNS = ("outlier_flags",)
SKETCH_SIZE = 256
_NA = "\x00NA"
_BLANK = {_NA, "", "0.0"}


def _canonical(s: pd.Series) -> tuple[pa.Array, bool]:
    """The canonical text of each cell of ``s`` (a column's distinct values, :class:`CanonicalColumn`) as an
    Arrow ``large_string`` array, NA cells as :data:`_NA`; and whether the column holds numbers (a numeric
    column, or text whose every present, non-empty cell is a number). The text of a column of text numbers
    depends on all its values together (all numbers or not), which the distinct values decide as well as the
    whole column."""
    if pd.api.types.is_bool_dtype(s):
        out = s.map(lambda v: _NA if pd.isna(v) else ("1" if v else "0")).tolist()
        return pa.array(out, type=pa.large_string()), False
    if pd.api.types.is_numeric_dtype(s):
        return pa.array(_float_texts(s.to_numpy(dtype=float, na_value=np.nan)), type=pa.large_string()), True
    if pd.api.types.is_datetime64_any_dtype(s):
        out = pd.Series(s.dt.strftime("%Y-%m-%dT%H:%M:%S"), index=s.index).fillna(_NA).astype(object).tolist()
        return pa.array(out, type=pa.large_string()), False
    txt = s.astype("string").str.strip()
    present = txt[txt.notna() & (txt != "")]
    numeric = bool(len(present)) and _all_numbers(present)
    if numeric and len(present) == len(txt):  # text that is a number (an untyped column) is written like one
        return _canonical(pd.to_numeric(txt, errors="coerce").astype(float))[0], True
    out = txt.fillna(_NA)
    arr = pa.array(out.array if out.dtype == "string" else out.astype(object).tolist(), type=pa.large_string())
    return (arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr), numeric


def _all_numbers(txt: pd.Series) -> bool:
    """Whether every cell of ``txt`` (text, no NA) reads as a number (:func:`pandas.to_numeric`); a sample of
    the first cells answers first, so a text column is told from a numeric one without parsing it all."""
    for part in (txt.iloc[:64], txt.iloc[64:]):
        if len(part) and not bool(pd.to_numeric(part, errors="coerce").notna().all()):
            return False
    return True


def _float_texts(v: np.ndarray) -> list[str] | np.ndarray:
    """``repr`` of each float (the shortest text that reads back as the same float; ``-0.0`` as ``0.0``,
    NaN as the missing token). Whole numbers under 10^16, whose ``repr`` is ``<integer>.0``, are written
    by Arrow without a Python call per value."""
    v = np.where(v == 0, 0.0, v)  # -0.0 -> 0.0
    out = np.empty(len(v), dtype=object)
    whole = np.isfinite(v) & (np.abs(v) < 1e16)
    whole[whole] = v[whole] == np.trunc(v[whole])
    if whole.any():
        ints = pa.array(v[whole].astype(np.int64)).cast(pa.string())
        out[whole] = pc.binary_join_element_wise(ints, pa.scalar(".0"), pa.scalar("")).to_numpy(zero_copy_only=False)
    missing = np.isnan(v)
    out[missing] = _NA
    rest = ~whole & ~missing
    out[rest] = list(map(float.__repr__, v[rest].tolist()))
    return out


class CanonicalColumn:
    """One column in canonical form: ``codes[i]`` (int32) is row ``i``'s index into ``text``, the column's
    distinct canonical texts (an Arrow ``large_string`` array; :attr:`values` the same as Python strings);
    ``numeric`` tells whether the column holds numbers (:func:`_canonical`). Pickles compactly (codes
    and Arrow buffers), to cross to or from a worker process."""

    def __init__(self, name: str, codes: np.ndarray, text: pa.Array, numeric: bool) -> None:
        self.name, self.codes, self.text, self.numeric = name, codes, text, numeric
        self._values: np.ndarray | None = None

    @classmethod
    def of(cls, name: str, s: pd.Series) -> "CanonicalColumn":
        """The canonical form of column ``s`` (named ``name``)."""
        if not (pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s)
                or pd.api.types.is_datetime64_any_dtype(s)):
            # text: compared as text (an object column's 1 and 1.0 are "1" and "1.0", not one value)
            s = s.astype("string")
        codes, uniq = pd.factorize(s, use_na_sentinel=True)
        distinct = pd.Series(uniq, dtype=s.dtype) if len(uniq) else s.iloc[:0].reset_index(drop=True)
        if bool((codes < 0).any()):  # the missing value takes part in the column's decisions as cell by cell
            distinct = pd.concat([distinct, s[codes < 0].iloc[:1]], ignore_index=True)
            codes = np.where(codes < 0, len(distinct) - 1, codes)
        text, numeric = _canonical(distinct)
        # distinct raw values may share a canonical text (" a" and "a"; 1 and 1.0 of an object column)
        encoded = pc.dictionary_encode(text)
        if len(encoded.dictionary) < len(text):
            codes = encoded.indices.to_numpy()[codes]
            text = encoded.dictionary
        return cls(name, np.asarray(codes, dtype=np.int32 if len(text) < 2**31 else np.int64), text, numeric)

    @property
    def values(self) -> np.ndarray:
        """The distinct canonical texts (object array of str)."""
        if self._values is None:
            self._values = np.asarray(self.text.to_numpy(zero_copy_only=False), dtype=object)
        return self._values

    def __getstate__(self) -> dict:
        return {"name": self.name, "codes": self.codes, "text": self.text, "numeric": self.numeric}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def cells(self) -> np.ndarray:
        """The canonical text of every row (object array)."""
        return self.values[self.codes]

    def rows_with(self, texts) -> np.ndarray:
        """Mask of the rows whose canonical text is one of ``texts`` (an iterable of str)."""
        wanted = pc.is_in(self.text, value_set=pa.array(list(texts), type=pa.large_string())).to_numpy(
            zero_copy_only=False)
        return np.isin(self.codes, np.flatnonzero(wanted))

    def sort_key(self) -> str:
        """SHA-256 (hex) of the column's canonical texts, sorted, joined by ``\\x1f`` (orders the content
        columns). Texts are sorted by their UTF-8 bytes, which is Python's order of ``str`` (by code point)."""
        order = _byte_order(self.text)
        counts = np.bincount(self.codes, minlength=len(self.text))
        cells = self.text.take(pa.array(np.repeat(order, counts[order])))
        listed = pa.LargeListArray.from_arrays(pa.array([0, len(cells)], type=pa.int64()), cells)
        joined = pc.binary_join(listed, pa.scalar("\x1f", pa.large_string()))[0]
        return hashlib.sha256(joined.as_buffer() if joined.is_valid else b"").hexdigest()


def _byte_order(text: pa.Array) -> np.ndarray:
    """Indices that sort the distinct strings ``text`` (a ``large_string`` array without nulls) by their UTF-8
    bytes. Short strings (32 bytes at most, as numbers' texts are) are sorted by NumPy as big-endian words
    padded with zero bytes, the length breaking ties; longer ones by Arrow."""
    n = len(text)
    bufs = text.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[text.offset:text.offset + n + 1] if n else np.zeros(1, np.int64)
    lengths = np.diff(offsets)
    width = int(lengths.max()) if n else 0
    if width > 32 or bufs[2] is None:
        return pc.sort_indices(text).to_numpy()
    data = np.frombuffer(bufs[2], dtype=np.uint8)
    words = -(-width // 8) or 1
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    for j in range(width):
        rows = np.flatnonzero(lengths > j)
        padded[rows, j] = data[offsets[rows] + j]
    keys = padded.view(">u8").reshape(n, words)
    return np.lexsort([lengths] + [keys[:, k] for k in reversed(range(words))])


def _hash_joined(columns: list[CanonicalColumn], named: bool, n: int) -> np.ndarray:
    """64-bit hash of each row's canonical cells joined as ``name=text`` (``text`` unnamed) by ``\\x1f``: the
    SipHash of :func:`pandas.util.hash_array` over that string, which Arrow builds from each column's
    distinct texts."""
    if not columns:
        return np.zeros(n, dtype=np.uint64)
    parts: list = []
    for k, c in enumerate(columns):
        glue = ("\x1f" if k else "") + (c.name + "=" if named else "")
        if glue:
            parts.append(pa.scalar(glue, pa.large_string()))
        parts.append(c.text.take(pa.array(c.codes)))
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))
    text = joined.to_numpy(zero_copy_only=False)
    return pd.util.hash_array(text, categorize=False).astype(np.uint64, copy=False)


class CanonicalTable:
    """A table's columns in canonical form, computed once (each column's distinct values only), from which
    :meth:`row_hashes`, :meth:`fingerprint` and :meth:`content_hashes` follow (see the module docstring).

    ``df``: any DataFrame (the stored, typed rows). Columns are named by ``str(name)``; derived columns
    (:data:`DERIVED_COLUMNS`) are left out of every hash, and out of :attr:`columns` unless ``derived``.
    An instance pickles compactly (codes and Arrow text), to cross to or from a worker process.
    """

    def __init__(self, df: pd.DataFrame, derived: bool = False) -> None:
        self.n_rows = len(df)
        by_name = {str(c): df[c] for c in df.columns}
        names = sorted(c for c in by_name if derived or c not in DERIVED_COLUMNS)
        self.columns = {c: CanonicalColumn.of(c, by_name[c]) for c in names}

    def kept(self, all_constants: bool = False) -> list[CanonicalColumn]:
        """The columns that count, in name order: a table of two rows or more drops its constant columns
        whose one value is missing, empty or 0 (or, with ``all_constants``, every constant column)."""
        cols = [c for c in self.columns.values() if c.name not in DERIVED_COLUMNS]
        if self.n_rows > 1:
            cols = [c for c in cols if len(c.text) > 1 or not (all_constants or c.text[0].as_py() in _BLANK)]
        return cols

    def row_hashes(self) -> np.ndarray:
        """A 64-bit hash of each canonical row (uint64, in the rows' order)."""
        return _hash_joined(self.kept(), True, self.n_rows)

    def fingerprint(self, hashes: np.ndarray | None = None) -> str:
        """SHA-256 (hex) of the sorted kept column names and the sorted row hashes (``hashes``, when given,
        are :meth:`row_hashes`)."""
        h = hashlib.sha256()
        h.update("\x1f".join(c.name for c in self.kept()).encode())
        h.update(np.sort(self.row_hashes() if hashes is None else hashes).tobytes())
        return h.hexdigest()

    def content_hashes(self) -> np.ndarray:
        """A 64-bit hash of each row's measurements: its non-constant numeric columns (all non-constant
        columns when none is numeric), unnamed, in the order of a hash of each column's sorted values."""
        cols = self.kept(all_constants=True)
        numeric = [c for c in cols if c.numeric]
        cols = numeric or cols
        keys = {c.name: c.sort_key() for c in cols}
        return _hash_joined(sorted(cols, key=lambda c: keys[c.name]), False, self.n_rows)

    def frame(self, all_constants: bool = False, index: pd.Index | None = None) -> pd.DataFrame:
        """The kept columns as canonical text (object columns)."""
        return pd.DataFrame({c.name: pd.Series(c.cells(), index=index, dtype=object)
                             for c in self.kept(all_constants)}, index=index)


@dataclass(frozen=True)
class Fingerprints:
    """Everything the ledger keeps of a table (:func:`fingerprints`): the data key, the row count and the
    bottom-k sketches of the whole rows and of the measurements."""

    data_key: str
    n_rows: int
    sketch: list[int]
    content: list[int]


def _bottom_k(hashes: np.ndarray, k: int) -> list[int]:
    """The ``k`` smallest distinct values of ``hashes``."""
    s = np.sort(hashes)
    return s[np.r_[True, s[1:] != s[:-1]]][:k].tolist() if len(s) else []


def fingerprints(df: pd.DataFrame, k: int = SKETCH_SIZE) -> Fingerprints:
    """:func:`data_fingerprint`, :func:`row_sketch` and :func:`content_sketch` of ``df`` in one pass over
    its columns (the same values as the three calls)."""
    table = CanonicalTable(df)
    hashes = table.row_hashes()
    return Fingerprints(table.fingerprint(hashes), len(df), _bottom_k(hashes, k), _bottom_k(table.content_hashes(), k))


def canonical_column(s: pd.Series) -> pd.Series:
    """One column as canonical text (object Series on ``s``'s index; see the module docstring)."""
    return pd.Series(CanonicalColumn.of(str(s.name), s).cells(), index=s.index, dtype=object)


def canonical_cells(df: pd.DataFrame, all_constants: bool = False) -> pd.DataFrame:
    """``df`` as canonical text, columns in sorted order, derived columns dropped, and so are constant
    columns of a table of two rows or more: those whose one value is missing, empty or 0 (they say
    nothing), or with ``all_constants`` every constant column."""
    return CanonicalTable(df).frame(all_constants, df.index)


def row_hashes(df: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each canonical row (uint64, in the rows' order)."""
    return CanonicalTable(df).row_hashes()


def content_hashes(df: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's measurements (:meth:`CanonicalTable.content_hashes`)."""
    return CanonicalTable(df).content_hashes()


def data_fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 (hex) of the sorted row hashes and sorted column names: equal for the same typed rows in
    any order and any file format."""
    return CanonicalTable(df).fingerprint()


def row_sketch(df: pd.DataFrame, k: int = SKETCH_SIZE) -> list[int]:
    """The ``k`` smallest distinct row hashes (all of them for a small table)."""
    return _bottom_k(row_hashes(df), k)


def content_sketch(df: pd.DataFrame, k: int = SKETCH_SIZE) -> list[int]:
    """Like :func:`row_sketch`, over :func:`content_hashes` (blind to column names and text identifiers)."""
    return _bottom_k(content_hashes(df), k)


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
