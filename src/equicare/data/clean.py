"""Explicit, reported cleaning steps: FIPS padding, missing-value policies, outlier flags, unit checks.

Every function takes a :class:`CleaningReport` and records what it changed, with counts, so the
report lists every change made to the input.  Nothing is dropped silently: rows removed by a
``drop`` policy or that fail to join are counted, and outliers are flagged, never removed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Change:
    """One cleaning action on one column of one file."""

    file: str
    step: str
    column: str
    count: int
    detail: str = ""


@dataclass
class CleaningReport:
    """Every change made while loading, in order."""

    changes: list[Change] = field(default_factory=list)
    count_columns: list[str] | None = None  # columns that count people (declared or by name)

    def add(self, file: str, step: str, column: str, count: int, detail: str = "") -> None:
        """Record a change (changes that touched no rows are not recorded)."""
        if count:
            self.changes.append(Change(file, step, column, int(count), detail))

    def extend(self, other: "CleaningReport") -> None:
        self.changes.extend(other.changes)

    def to_frame(self) -> pd.DataFrame:
        cols = ["file", "step", "column", "count", "detail"]
        return pd.DataFrame([asdict(c) for c in self.changes], columns=cols)

    def to_dict(self) -> dict:
        out: dict = {"changes": [asdict(c) for c in self.changes]}
        if self.count_columns is not None:
            out["count_columns"] = list(self.count_columns)
        return out

    def __len__(self) -> int:
        return len(self.changes)


def pad_fips(values: pd.Series, width: int | None = None) -> pd.Series:
    """Zero-pad all-digit codes: to ``width`` when given, else 1-2 digits to 2 (state) and 3-4 to 5 (county).

    Codes with letters (e.g. ``US``) are left alone.  ``1001.0`` (a code that went through a float
    column) becomes ``01001``.
    """
    s = values.astype("string").str.strip()
    s = s.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    digits = s.str.fullmatch(r"\d+").fillna(False).astype(bool)
    if width is not None:
        return s.where(~digits, s.str.zfill(width))
    n = s.str.len()
    out = s.copy()
    out = out.where(~(digits & (n <= 2)), s.str.zfill(2))
    out = out.where(~(digits & n.between(3, 4)), s.str.zfill(5))
    return out


def robust_z(x: pd.Series | np.ndarray) -> np.ndarray:
    """Robust z-score ``0.6745 (x - median) / MAD`` (Iglewicz and Hoaglin, 1993).

    Falls back to the mean absolute deviation (scaled by 1.253314) when the MAD is zero; returns zeros
    when the data have no spread at all.  Missing values give NaN.
    """
    a = np.asarray(x, dtype=float)
    med = np.nanmedian(a) if np.isfinite(a).any() else np.nan
    mad = np.nanmedian(np.abs(a - med)) if np.isfinite(a).any() else np.nan
    if mad and np.isfinite(mad):
        return 0.6745 * (a - med) / mad
    meanad = np.nanmean(np.abs(a - med)) if np.isfinite(a).any() else np.nan
    if meanad and np.isfinite(meanad):
        return (a - med) / (1.253314 * meanad)
    return np.where(np.isnan(a), np.nan, 0.0)


def iqr_outliers(x: pd.Series | np.ndarray, k: float = 1.5) -> np.ndarray:
    """Boolean mask of Tukey outliers: below Q1 - k IQR or above Q3 + k IQR."""
    a = np.asarray(x, dtype=float)
    q1, q3 = np.nanpercentile(a, [25, 75])
    iqr = q3 - q1
    return (a < q1 - k * iqr) | (a > q3 + k * iqr)


def flag_outliers(df: pd.DataFrame, columns: list[str], report: CleaningReport, file: str,
                  threshold: float = 3.5) -> pd.DataFrame:
    """Add a text column ``outlier_flags`` naming, per row, the columns whose robust z exceeds ``threshold``.

    Rows are kept; the report counts the flags per column.
    """
    flags = pd.Series([""] * len(df), index=df.index, dtype="object")
    for col in columns:
        if col not in df or df[col].notna().sum() < 5:
            continue
        z = robust_z(df[col].to_numpy(dtype=float))
        hit = np.abs(z) > threshold
        hit &= ~np.isnan(z)
        if hit.any():
            flags[hit] = flags[hit] + np.where(flags[hit] == "", "", ",") + col
            report.add(file, "outlier flagged", col, int(hit.sum()),
                       f"robust z-score |z| > {threshold}; kept, listed in outlier_flags")
    out = df.copy()
    out["outlier_flags"] = flags
    return out


def apply_missing_policy(df: pd.DataFrame, column: str, policy: str, report: CleaningReport,
                         file: str) -> pd.DataFrame:
    """Handle empty cells in ``column`` by the stated policy and record it.

    ``drop`` removes the rows, ``impute_median`` / ``impute_zero`` fill them, ``flag`` keeps them
    missing (counted; the row's other columns are untouched).  ``error`` is enforced by validation, not here.
    The report's detail names the rows (header = row 1).
    """
    from equicare.data.readers import rows_text

    miss = df[column].isna()
    n = int(miss.sum())
    if not n or policy == "error":
        return df
    where = rows_text(df, miss.to_numpy())
    if policy == "drop":
        report.add(file, "missing: row dropped", column, n, f"policy drop: the whole row is left out; {where}")
        return df.loc[~miss]
    out = df.copy()
    if policy == "impute_median":
        med = float(np.nanmedian(out[column].to_numpy(dtype=float)))
        out.loc[miss, column] = med
        report.add(file, "missing: imputed", column, n, f"policy impute_median (median {med:g})")
    elif policy == "impute_zero":
        out.loc[miss, column] = 0
        report.add(file, "missing: imputed", column, n, "policy impute_zero")
    elif policy == "flag":
        report.add(file, "missing: kept and flagged", column, n,
                   f"policy flag: the value is unknown, the row and its other values are kept; {where}")
    else:
        raise ValueError(f"unknown missing-value policy {policy!r}")
    return out


def percent_to_fraction(df: pd.DataFrame, column: str, report: CleaningReport, file: str) -> pd.DataFrame:
    """Unit check for rates: a column of 0-100 percentages (any value in (1, 100]) becomes a 0-1 fraction."""
    vals = pd.to_numeric(df[column], errors="coerce")
    if vals.notna().any() and vals.max() > 1 and vals.max() <= 100 and vals.min() >= 0:
        out = df.copy()
        out[column] = vals / 100.0
        report.add(file, "unit: percent to fraction", column, int(vals.notna().sum()),
                   "values looked like percentages (max > 1); divided by 100")
        return out
    return df


def lost_zeros_hint(unknown: list[str], known: list[str]) -> str:
    """A sentence when ``unknown`` ids match ``known`` ones after removing leading zeros, else ``""``."""
    strip = {str(k).lstrip("0") or "0": k for k in known}
    hits = [(u, strip[str(u).lstrip("0") or "0"]) for u in unknown if (str(u).lstrip("0") or "0") in strip]
    if not hits:
        return ""
    u, k = hits[0]
    return (f"; these look like codes that lost their leading zeros ({u!r} beside {k!r} in the regions): keep "
            "the ids as text in the spreadsheet (format the column as Text) or write them as in the regions file")
