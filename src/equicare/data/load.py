"""Load a CSV or Parquet table of a known kind: read, validate against its schema, clean, report.

A file is accepted whole or rejected whole: :func:`load_table` either returns the cleaned table with
its :class:`~equicare.data.clean.CleaningReport`, or raises :class:`~equicare.errors.ValidationError`
listing every broken rule with file, row and column.  Row numbers count the header as row 1, as a
spreadsheet shows them.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.data.clean import CleaningReport, apply_missing_policy, flag_outliers, lost_zeros_hint, pad_fips
from equicare.data.schemas import Schema, get_schema
from equicare.errors import EquicareError, Problem, ValidationError

NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "Not Available", "-"]
MAX_PROBLEMS = 1000


def fingerprint(source: str | Path | bytes) -> str:
    """SHA-256 of the input bytes, to tie a run to the exact data it used."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return hashlib.sha256(data).hexdigest()


def read_file(source: str | Path | bytes, label: str | None = None) -> pd.DataFrame:
    """Read CSV or Parquet (by magic bytes, not by file name) with every CSV cell as text.

    Keeping cells as text preserves leading zeros of codes until the schema says what each column is.
    """
    label = label or (str(source) if not isinstance(source, bytes) else "upload")
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise EquicareError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    if not data.strip():
        raise ValidationError([Problem(label, None, None, "file is empty")])
    try:
        if data[:4] == b"PAR1":
            df = pd.read_parquet(io.BytesIO(data))
        else:
            df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=NA_VALUES,
                             skipinitialspace=True)
    except Exception as exc:  # pandas raises several parser error types
        raise ValidationError([Problem(label, None, None, f"cannot parse as CSV or Parquet: {exc}")]) from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df.reset_index(drop=True)


def _rows(mask: np.ndarray | pd.Series) -> np.ndarray:
    """Spreadsheet row numbers (header = 1) of the True positions."""
    return np.flatnonzero(np.asarray(mask, dtype=bool)) + 2


def validate(df: pd.DataFrame, schema: Schema, file: str, regions: set[str] | None = None,
             id_format: str = "us-fips") -> tuple[pd.DataFrame, list[Problem]]:
    """Check ``df`` against ``schema``; return the typed table and the list of broken rules.

    ``id_format="text"`` keeps id cells as written (trimmed); ``"us-fips"`` zero-pads all-digit codes.

    Types are converted column by column (ids zero-padded, numbers and dates parsed); a cell that does
    not convert is a problem, as is a missing required column, a value out of range, a duplicate id or
    key, a missing value where the policy is ``error``, and an unknown region id when ``regions`` is
    given.
    """
    problems: list[Problem] = []
    out = df.copy()
    for name in schema.required:
        if name not in out.columns:
            problems.append(Problem(file, None, name, f"required column is missing (columns found: "
                                                      f"{', '.join(map(str, df.columns))})"))
    if problems:
        return out, problems

    for col in out.columns:
        rule = schema.column(col)
        if rule is None:
            continue
        raw = out[col]
        if rule.dtype == "id":
            out[col] = pad_fips(raw) if id_format == "us-fips" else raw.astype("string").str.strip()
        elif rule.dtype == "key":
            out[col] = raw.astype("string").str.strip()
        elif rule.dtype == "text":
            out[col] = raw.astype("string").str.strip()
        elif rule.dtype in ("float", "int"):
            num = pd.to_numeric(raw, errors="coerce")
            bad = num.isna() & raw.notna()
            for r, v in zip(_rows(bad), raw[bad].tolist()):
                problems.append(Problem(file, int(r), col, "not a number", v))
            out[col] = num.astype(float)
        elif rule.dtype == "date":
            dt = pd.to_datetime(raw, errors="coerce", format="ISO8601")
            bad = dt.isna() & raw.notna()
            for r, v in zip(_rows(bad), raw[bad].tolist()):
                problems.append(Problem(file, int(r), col, "not a date (expected YYYY-MM-DD)", v))
            out[col] = dt
        vals = out[col]
        if rule.missing == "error":
            miss = raw.isna() | (raw.astype("string").str.strip() == "")
            for r in _rows(miss):
                problems.append(Problem(file, int(r), col, "missing value (this column must be filled)"))
        if rule.dtype in ("float", "int"):
            v = vals.to_numpy(dtype=float, na_value=np.nan)
            if rule.min is not None:
                low = v < rule.min
                for r, x in zip(_rows(low), v[low]):
                    rule_txt = ("must not be negative" if rule.min == 0
                                else f"out of range: must be >= {rule.min:g}")
                    problems.append(Problem(file, int(r), col, f"{rule_txt} ({rule.unit})" if rule.unit
                                            else rule_txt, float(x)))
            if rule.max is not None:
                high = v > rule.max
                for r, x in zip(_rows(high), v[high]):
                    problems.append(Problem(file, int(r), col, f"out of range: must be <= {rule.max:g}"
                                            + (f" ({rule.unit})" if rule.unit else ""), float(x)))
            if rule.dtype == "int":
                frac = np.isfinite(v) & (np.floor(v) != v)
                for r, x in zip(_rows(frac), v[frac]):
                    problems.append(Problem(file, int(r), col, "must be a whole number", float(x)))
        if rule.unique:
            dup = vals.duplicated(keep="first") & vals.notna()
            for r, x in zip(_rows(dup), vals[dup].tolist()):
                problems.append(Problem(file, int(r), col, "duplicate id", x))
        if rule.region_ref and regions is not None:
            unknown = vals.notna() & ~vals.isin(list(regions))
            hint = lost_zeros_hint(sorted(set(vals[unknown].astype(str))), sorted(regions)) if unknown.any() else ""
            for r, x in zip(_rows(unknown), vals[unknown].tolist()):
                problems.append(Problem(file, int(r), col, "unknown region id (not in the regions table)" + hint, x))
        if len(problems) > MAX_PROBLEMS:
            break
    if schema.key and all(k in out.columns for k in schema.key):
        dup = out.duplicated(list(schema.key), keep="first")
        for r, (_, row) in zip(_rows(dup), out.loc[dup, list(schema.key)].iterrows()):
            problems.append(Problem(file, int(r), ",".join(schema.key), "duplicate key",
                                    ", ".join(str(row[k].date() if hasattr(row[k], "date") else row[k])
                                              for k in schema.key)))
    return out, problems


def load_table(source: str | Path | bytes | pd.DataFrame, kind: str, *, name: str | None = None,
               regions: set[str] | None = None, missing: dict[str, str] | None = None,
               report: CleaningReport | None = None, id_format: str = "us-fips"
               ) -> tuple[pd.DataFrame, CleaningReport]:
    """Read, validate and clean a table of ``kind`` (``regions``, ``facilities``, ``demand``, ``costs``).

    Parameters
    ----------
    source : a path, the raw bytes of an upload, or an already-read DataFrame.
    kind : the schema to apply (see :mod:`equicare.data.schemas`).
    name : the label used in messages (defaults to the path; an upload's file name is only a label).
    regions : known region ids; ``region`` columns must then refer to them.
    missing : per-column missing-value policy overriding the schema's (``drop``, ``impute_median``,
        ``impute_zero``, ``flag``, ``error``).
    report : a report to append to (a new one by default).
    id_format : ``"us-fips"`` zero-pads all-digit ids (US state/county codes); ``"text"`` keeps ids as written.

    Returns
    -------
    (table, report)

    Raises
    ------
    ValidationError
        When any rule is broken; nothing is returned, so nothing can be half-loaded.

    Examples
    --------
    >>> import pandas as pd
    >>> df, rep = load_table(pd.DataFrame({"origin": ["1"], "destination": ["2"], "cost": ["3.5"]}), "costs")
    >>> df.origin.tolist(), float(df.cost.iloc[0])
    (['1'], 3.5)
    """
    schema = get_schema(kind)
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
        raw = read_file(source, label)
    if raw.empty:
        raise ValidationError([Problem(label, None, None, "file has a header but no rows")])

    if id_format not in ("text", "us-fips"):
        raise EquicareError(f"id format must be 'text' or 'us-fips', got {id_format!r}")
    table, problems = validate(raw, schema, label, regions, id_format)
    if problems:
        raise ValidationError(problems)
    for col in table.columns:  # validate() padded the codes; count what changed
        rule = schema.column(col)
        if rule is not None and rule.dtype == "id" and id_format == "us-fips":
            before = raw[col].astype("string").str.strip()
            n = int(((table[col] != before) & before.notna()).sum())
            report.add(label, "FIPS zero-padded", col, n, "all-digit codes padded to 2 (state) or 5 (county) digits")

    policies = {c: (schema.column(c).missing if schema.column(c) else None) for c in table.columns}
    policies.update(missing or {})
    for col, policy in policies.items():
        if policy and col in table.columns and policy != "error":
            table = apply_missing_policy(table, col, policy, report, label)
    outlier_cols = [c for c in table.columns if schema.column(c) is not None and schema.column(c).outliers]
    if outlier_cols:
        table = flag_outliers(table, outlier_cols, report, label)
    return table.reset_index(drop=True), report
