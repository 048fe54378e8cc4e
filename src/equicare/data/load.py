"""Load a CSV or Parquet table of a known kind: read, validate against its schema, clean, report.

A file is accepted whole or rejected whole: :func:`load_table` either returns the cleaned table with
its :class:`~equicare.data.clean.CleaningReport`, or raises :class:`~equicare.errors.ValidationError`
listing every broken rule with file, row and column.  Row numbers count the header as row 1, as a
spreadsheet shows them.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.data.clean import CleaningReport, apply_missing_policy, flag_outliers, lost_zeros_hint, pad_fips
from equicare.data.dates import check_date_format, parse_dates
from equicare.data.dates import rule as date_rule
from equicare.data.counts import check_count_columns, default_count_columns, type_extra_columns
from equicare.data.readers import NA_VALUES, sheet_rows, read_table
from equicare.data.schemas import Schema, get_schema
from equicare.errors import EquicareError, Problem, ValidationError

MAX_PROBLEMS = 100
"""Problems listed one by one; beyond them a rejected file reports only the count of each broken rule."""
MAX_ABS_VALUE = 1e15
"""Largest magnitude accepted in a numeric column (beyond it floats no longer hold whole numbers exactly)."""


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on a file read from an untrusted source (an upload): rows, and bytes once decompressed."""

    max_rows: int = 1_000_000
    max_decoded_bytes: int = 256 * 1024 * 1024


def fingerprint(source: str | Path | bytes) -> str:
    """SHA-256 of the input bytes, to tie a run to the exact data it used."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return hashlib.sha256(data).hexdigest()


def _parquet_checks(data: bytes, label: str, limits: ReadLimits | None) -> None:
    """Refuse, from the footer alone, a Parquet file that is too big once decoded or has unusable column types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several error types for a broken footer
        raise ValidationError([Problem(label, None, None, f"cannot parse as Parquet: {exc}")]) from exc
    problems = []
    for field in meta.schema_arrow:
        t = field.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            problems.append(Problem(label, None, field.name, "binary column: store text, numbers or dates"))
        elif pa.types.is_nested(t) or pa.types.is_dictionary(t) and pa.types.is_nested(t.value_type):
            problems.append(Problem(label, None, field.name, f"nested column of type {t}: each cell must be one "
                                                               "text, number or date"))
    if limits is not None:
        md = meta.metadata
        if md.num_rows > limits.max_rows:
            problems.append(Problem(label, None, None, f"too many rows: {md.num_rows:,} (at most "
                                                       f"{limits.max_rows:,} per upload)"))
        decoded = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
        if decoded > limits.max_decoded_bytes:
            problems.append(Problem(label, None, None, f"too large once decompressed: {decoded:,} bytes (at most "
                                                       f"{limits.max_decoded_bytes:,})"))
    if problems:
        raise ValidationError(problems)


def _bounded_gunzip(data: bytes, label: str, limits: ReadLimits) -> bytes:
    """``data`` decompressed (gzip, possibly nested) without ever holding more than the decoded-size limit:
    a 200 KB gzip of 90 MB is refused after reading at most ``max_decoded_bytes``."""
    import zlib

    while data[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(data, limits.max_decoded_bytes + 1)
        except zlib.error as exc:
            raise ValidationError([Problem(label, None, None, f"damaged gzip file ({exc})")]) from exc
        if len(out) > limits.max_decoded_bytes or d.unconsumed_tail:
            raise ValidationError([Problem(label, None, None, f"too large once decompressed: more than "
                                                              f"{limits.max_decoded_bytes:,} bytes")])
        data = out
    return data


def _zip_checks(data: bytes, label: str, limits: ReadLimits) -> None:
    """Refuse, from the zip directory alone, an XLSX workbook too large once decompressed."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            decoded = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValidationError([Problem(label, None, None, f"cannot be read as an XLSX workbook ({exc})")]) from exc
    if decoded > limits.max_decoded_bytes:
        raise ValidationError([Problem(label, None, None, f"too large once decompressed: {decoded:,} bytes (at most "
                                                          f"{limits.max_decoded_bytes:,})")])


def read_file(source: str | Path | bytes, label: str | None = None, limits: ReadLimits | None = None,
              **options) -> pd.DataFrame:
    """Read CSV, XLSX or Parquet (by the bytes, not the file name) with every cell as text.

    :func:`equicare.data.readers.read_table` does the reading (``options`` are its keyword arguments):
    keeping cells as text preserves leading zeros of codes until the schema says what each column is.
    Parquet columns of binary or nested type are refused. With ``limits`` (uploads), a file with more
    rows, or a Parquet file larger once decompressed, is refused before it is parsed.
    """
    label = label or (str(source) if not isinstance(source, bytes) else "upload")
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise EquicareError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    if limits is not None:
        data = _bounded_gunzip(data, label, limits)
    if data[:4] == b"PAR1":
        _parquet_checks(data, label, limits)
    elif data[:4] == b"PK\x03\x04" and limits is not None:
        _zip_checks(data, label, limits)
    elif limits is not None and data.strip():
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        if lines - 1 > limits.max_rows:
            raise ValidationError([Problem(label, None, None, f"too many rows: {lines - 1:,} (at most "
                                                              f"{limits.max_rows:,} per upload)")])
    df = read_table(data, label=label, **options)
    if limits is not None and len(df) > limits.max_rows:  # an XLSX sheet (its size is bounded above)
        raise ValidationError([Problem(label, None, None, f"too many rows: {len(df):,} (at most "
                                                          f"{limits.max_rows:,} per upload)")])
    return df


class _Problems:
    """Collects problems: the first :data:`MAX_PROBLEMS` listed, every one counted per column and rule."""

    def __init__(self, file: str, counts: dict[str, int] | None, df: pd.DataFrame) -> None:
        self.file, self.items, self.df = file, [], df
        self.counts = counts if counts is not None else {}

    def add(self, column: str | None, rule: str, mask=None, values=None, value=None) -> None:
        """One problem (``mask`` None) or one per True row of ``mask`` with ``values`` at those rows."""
        key = f"{column}: {rule}" if column else rule
        if mask is None:
            self.counts[key] = self.counts.get(key, 0) + 1
            if len(self.items) < MAX_PROBLEMS:
                self.items.append(Problem(self.file, None, column, rule, value))
            return
        pos = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not pos.size:
            return
        self.counts[key] = self.counts.get(key, 0) + int(pos.size)
        room = MAX_PROBLEMS - len(self.items)
        if room <= 0:
            return
        vals = None if values is None else np.asarray(values, dtype=object)[pos[:room]]
        for k, r in enumerate(sheet_rows(self.df, pos[:room])):
            v = None if vals is None else vals[k]
            if isinstance(v, (float, np.floating)):
                v = float(v)
            elif isinstance(v, np.integer):
                v = int(v)
            self.items.append(Problem(self.file, int(r), column, rule, v))


def canonical_columns(df: pd.DataFrame, schema: Schema) -> tuple[dict[str, str], list[str]]:
    """Columns written in another case than the schema's (``CAP_BEDS`` for ``cap_beds``).

    Returns the renames to the schema's spelling, and the names that cannot be renamed because the
    schema's spelling is already a column (two columns differing only in case).
    """
    renames, clashes, taken = {}, [], set(df.columns)
    for col in df.columns:
        if schema.column(col) is not None:
            continue
        low = col.lower()
        if low != col and schema.column(low) is not None:
            if low in taken:
                clashes.append(col)
            else:
                renames[col] = low
                taken.add(low)
    return renames, clashes


def _scalar_cell(v: object) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, (str, int, float, Decimal, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _wrong_type(raw: pd.Series, numeric: bool) -> np.ndarray:
    """Cells that are a date, a boolean or a nested value (a list) where a number or a code belongs."""
    if pd.api.types.is_datetime64_any_dtype(raw) or pd.api.types.is_timedelta64_dtype(raw) \
            or pd.api.types.is_bool_dtype(raw):
        return raw.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_string_dtype(raw) and not raw.dtype == object:
        return np.zeros(len(raw), bool)
    if pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty", "floating", "integer", "mixed-integer-float"):
        return np.zeros(len(raw), bool)
    return ~raw.map(_scalar_cell).to_numpy(dtype=bool)


def validate(df: pd.DataFrame, schema: Schema, file: str, regions: set[str] | None = None,
             counts: dict[str, int] | None = None, id_format: str = "us-fips", date_format: str | None = None,
             date_format_key: str | None = "date_format") -> tuple[pd.DataFrame, list[Problem]]:
    """Check ``df`` against ``schema``; return the typed table and the list of broken rules.

    ``id_format="text"`` keeps id cells as written (trimmed); ``"us-fips"`` zero-pads all-digit codes.
    Date cells are ``YYYY-MM-DD`` or in the declared ``date_format`` (:mod:`equicare.data.dates`; messages name
    it ``date_format_key``), never guessed.

    Types are converted column by column (ids zero-padded, numbers and dates parsed); a cell that does
    not convert is a problem, as is a non-finite number (``inf``, ``1e309``), a number beyond
    :data:`MAX_ABS_VALUE`, a cell of the wrong type (a date or a list where a number belongs), a missing
    required column, a value out of range, a duplicate id or key, a missing value where the policy is
    ``error``, and an unknown region id when ``regions`` is given. A column named like a schema column
    in another case is renamed to the schema's spelling (and validated). At most :data:`MAX_PROBLEMS`
    problems are listed; ``counts`` (when given) receives the number of each broken rule.
    """
    probs = _Problems(file, counts, df)
    out = df.copy()
    renames, clashes = canonical_columns(out, schema)
    for col in clashes:
        probs.add(col, f"duplicate column: '{col}' and '{col.lower()}' differ only in case")
    out = out.rename(columns=renames)
    for name in schema.required:
        if name not in out.columns:
            probs.add(name, f"required column is missing (columns found: {', '.join(map(str, df.columns))})")
    if probs.counts:
        return out, probs.items

    for col in out.columns:
        rule = schema.column(col)
        if rule is None:
            continue
        raw = out[col]
        if rule.dtype in ("id", "key", "text"):
            wrong = _wrong_type(raw, numeric=False)
            probs.add(col, "wrong type: expected text or a code", wrong, raw.astype(str))
            if wrong.any():
                raw = raw.astype(object).where(~wrong, None)
            out[col] = (pad_fips(raw) if rule.dtype == "id" and id_format == "us-fips"
                        else raw.astype("string").str.strip())
        elif rule.dtype in ("float", "int"):
            wrong = _wrong_type(raw, numeric=True)
            probs.add(col, "wrong type: expected a number", wrong, raw.astype(str))
            cells = raw.astype(object).where(~wrong, None) if wrong.any() else raw
            if not pd.api.types.is_numeric_dtype(cells):
                cells = cells.map(lambda v: v.strip() if isinstance(v, str) else v, na_action="ignore")
            num = pd.to_numeric(cells, errors="coerce").astype(float)
            probs.add(col, "not a number", num.isna().to_numpy() & cells.notna().to_numpy() & ~wrong, raw)
            v = num.to_numpy(dtype=float)
            probs.add(col, "not a finite number", np.isinf(v), raw)
            huge = np.isfinite(v) & (np.abs(v) > MAX_ABS_VALUE)
            probs.add(col, f"out of range: magnitude must be <= {MAX_ABS_VALUE:,.0f}", huge, v)
            out[col] = np.where(np.isfinite(v) & ~huge, v, np.nan)
        elif rule.dtype == "date":  # YYYY-MM-DD, or the declared date_format; never guessed (equicare.data.dates)
            if pd.api.types.is_datetime64_any_dtype(raw):
                dt = pd.to_datetime(raw, errors="coerce")
            else:
                dt = parse_dates(raw.astype("string"), date_format)
            probs.add(col, date_rule(date_format, date_format_key), dt.isna() & raw.notna(), raw)
            out[col] = dt
        vals = out[col]
        if rule.missing == "error":
            miss = raw.isna() | (raw.astype("string").str.strip() == "")
            probs.add(col, "missing value (this column must be filled)", miss)
        if rule.dtype in ("float", "int"):
            v = vals.to_numpy(dtype=float, na_value=np.nan)
            if rule.min is not None:
                rule_txt = "must not be negative" if rule.min == 0 else f"out of range: must be >= {rule.min:g}"
                probs.add(col, f"{rule_txt} ({rule.unit})" if rule.unit else rule_txt, v < rule.min, v)
            if rule.max is not None:
                probs.add(col, f"out of range: must be <= {rule.max:g}" + (f" ({rule.unit})" if rule.unit else ""),
                          v > rule.max, v)
            if rule.dtype == "int":
                probs.add(col, "must be a whole number", np.isfinite(v) & (np.floor(v) != v), v)
        if rule.unique:
            probs.add(col, "duplicate id", vals.duplicated(keep="first") & vals.notna(), vals.astype(object))
        if rule.region_ref and regions is not None:
            unknown = vals.notna() & ~vals.isin(list(regions))
            hint = lost_zeros_hint(sorted(set(vals[unknown].astype(str))), sorted(regions)) if unknown.any() else ""
            probs.add(col, "unknown region id (not in the regions table)" + hint, unknown, vals.astype(object))
    if schema.key and all(k in out.columns for k in schema.key):
        dup = out.duplicated(list(schema.key), keep="first").to_numpy()
        if dup.any():
            first = np.flatnonzero(dup)[:MAX_PROBLEMS]
            shown = np.full(len(out), None, dtype=object)
            keys = out.iloc[first][list(schema.key)]
            shown[first] = [", ".join(str(v.date() if hasattr(v, "date") else v) for v in row)
                            for row in keys.itertuples(index=False)]
            probs.add(",".join(schema.key), "duplicate key", dup, shown)
    return out, probs.items


def load_table(source: str | Path | bytes | pd.DataFrame, kind: str, *, name: str | None = None,
               regions: set[str] | None = None, missing: dict[str, str] | None = None,
               report: CleaningReport | None = None, limits: ReadLimits | None = None,
               count_columns: list[str] | None = None, id_format: str = "us-fips",
               date_format: str | None = None, date_format_key: str | None = "date_format",
               **read_options) -> tuple[pd.DataFrame, CleaningReport]:
    """Read, validate and clean a table of ``kind`` (``regions``, ``facilities``, ``demand``, ``costs``).

    Parameters
    ----------
    source : a path, the raw bytes of an upload, or an already-read DataFrame.
    kind : the schema to apply (see :mod:`equicare.data.schemas`).
    name : the label used in messages (defaults to the path; an upload's file name is only a label).
    regions : known region ids; ``region`` columns must then refer to them.
    missing : per-column missing-value policy overriding the schema's (``drop``, ``impute_median``,
        ``impute_zero``, ``flag``, ``error``); the key ``"*"`` also applies a policy to the number columns the
        schema does not name (e.g. a facility file's ``beds``, ``icu_beds``).
    report : a report to append to (a new one by default).
    limits : bounds on rows and decoded size for untrusted files (uploads); None: no bounds.
    count_columns : the columns that count people (suppressed in every download and export); by default
        the numeric columns named like a count (:data:`equicare.data.counts.COUNT_NAME`). The list ends
        up in ``report.count_columns``. Columns the schema does not name are typed as numbers when every
        filled cell is one (:func:`equicare.data.counts.type_extra_columns`).
    id_format : ``"us-fips"`` zero-pads all-digit ids (US state/county codes); ``"text"`` keeps ids as written.
    date_format : how dates are written when not ``YYYY-MM-DD`` (e.g. ``"%d/%m/%Y"``); without it only ISO dates
        are read (``01/07/2024`` is never guessed). ``date_format_key`` names it in messages (``--date-format``);
        ``None`` where the caller cannot declare one (the web upload), so no message suggests it.
    read_options : ``sheet``, ``delimiter``, ``decimal``, ``encoding`` for
        :func:`~equicare.data.readers.read_table` (detected when not given).

    Returns
    -------
    (table, report)

    Raises
    ------
    ValidationError
        When any rule is broken; nothing is returned, so nothing can be half-loaded. It lists the first
        :data:`MAX_PROBLEMS` problems and counts every broken rule (``counts``).

    Examples
    --------
    >>> import pandas as pd
    >>> df, rep = load_table(pd.DataFrame({"origin": ["1"], "destination": ["2"], "cost": ["3.5"]}), "costs")
    >>> df.origin.tolist(), float(df.cost.iloc[0])
    (['1'], 3.5)
    """
    schema = get_schema(kind)
    if id_format not in ("text", "us-fips"):
        raise EquicareError(f"id format must be 'text' or 'us-fips', got {id_format!r}")
    every = (missing or {}).get("*")  # a policy for every column: also the number columns outside the schema
    missing = {k: v for k, v in (missing or {}).items() if k != "*"} or None
    if missing:  # the caller's policies replace the schema's, also for validation ("error" is checked there)
        from dataclasses import replace

        schema = replace(schema, columns=tuple(replace(c, missing=missing[c.name]) if c.name in missing else c
                                               for c in schema.columns))
    label = name or (str(source) if isinstance(source, (str, Path)) else "upload")
    report = report if report is not None else CleaningReport()
    if isinstance(source, pd.DataFrame):
        raw = source.astype("string")
        raw = raw.mask(raw.apply(lambda c: c.str.strip().isin(NA_VALUES)).fillna(False).astype(bool))
    else:
        raw = read_file(source, label, limits, **read_options)
    if raw.empty:
        raise ValidationError([Problem(label, None, None, "file has a header but no rows")])
    renames, _ = canonical_columns(raw, schema)
    for old, new in renames.items():
        report.add(label, "column renamed", new, 1, f"'{old}' is the schema's column '{new}' (names are matched "
                                                   "without regard to case)")
    raw = raw.rename(columns=renames)

    counts: dict[str, int] = {}
    date_format = check_date_format(date_format, date_format_key)
    table, problems = validate(raw, schema, label, regions, counts=counts, id_format=id_format,
                               date_format=date_format, date_format_key=date_format_key)
    known = {c for c in table.columns if schema.column(c) is not None}
    table, typed = type_extra_columns(table, known)
    for col in typed:
        v = table[col].to_numpy(dtype=float, na_value=np.nan)
        bad = np.flatnonzero(np.isinf(v))[:20]
        for pos, r in zip(bad, sheet_rows(raw, bad)):
            problems.append(Problem(label, int(r), col, "number out of range (not finite)", str(raw[col].iloc[pos])))
    if every == "error":  # "every column must be filled": the file's own number columns too
        for col in typed:
            blank = np.flatnonzero(table[col].isna().to_numpy())[:20]
            problems += [Problem(label, int(r), col, "missing value (policy error)") for r in sheet_rows(raw, blank)]
    declared = [str(c).strip() for c in count_columns if str(c).strip()] if count_columns is not None else None
    if declared is not None:
        problems += check_count_columns(table, declared, label)
    if problems:
        raise ValidationError(problems, counts=counts)
    for col in typed:
        report.add(label, "typed as number", col, int(table[col].notna().sum()),
                   "a column outside the schema whose cells are all numbers")
    if declared is None:  # the usual count names, and a demand table's whole-number value (events per period)
        declared = default_count_columns(table)
        if schema.kind == "demand" and "value" not in declared and "count" in default_count_columns(
                table[["value"]].rename(columns={"value": "count"})):
            declared.append("value")
    report.count_columns = declared
    for col in table.columns:  # validate() padded the codes; count what changed
        rule = schema.column(col)
        if rule is not None and rule.dtype == "id" and id_format == "us-fips":
            before = raw[col].astype("string").str.strip()
            n = int(((table[col] != before) & before.notna()).sum())
            report.add(label, "FIPS zero-padded", col, n, "all-digit codes padded to 2 (state) or 5 (county) digits")

    policies = {c: (schema.column(c).missing if schema.column(c) else None) for c in table.columns}
    # the file's own number columns (beds, icu_beds): a blank cell is unknown for that column only, unless a
    # policy for every column is given
    policies.update({c: every if every is not None else "flag" for c in typed})
    policies.update(missing or {})
    for col, policy in policies.items():
        if policy and col in table.columns and policy != "error":
            table = apply_missing_policy(table, col, policy, report, label)
    outlier_cols = [c for c in table.columns if schema.column(c) is not None and schema.column(c).outliers]
    if outlier_cols:
        table = flag_outliers(table, outlier_cols, report, label)
    return table.reset_index(drop=True), report
