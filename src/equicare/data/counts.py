"""Columns that count people, and numeric typing of the columns a schema does not name.

A person count (admissions, cases, deaths, patients, visits, ...) must never leave the service with a
value from 1 to 10 (:mod:`equicare.privacy.suppress`). Which columns count people is declared by the
uploader (``count_columns``); without a declaration, a numeric column of whole non-negative numbers
whose name is one of the usual count names (:data:`COUNT_NAME`) is taken as a person count. Counts of
facilities or beds (``n_facilities``, ``cap_*``) are supply, not people.

Columns outside the schema ("extra" columns) are typed as numbers when every filled cell is a number,
so that ``flu_admissions`` uploaded as CSV text is a number like it is in Parquet; codes with a leading
zero (``01234``) stay text.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from equicare.data.readers import sheet_row
from equicare.errors import Problem

__all__ = ["COUNT_NAME", "check_count_columns", "default_count_columns", "is_count_name", "type_extra_columns"]

COUNT_NAME = re.compile(
    r"(^count$|^n_?(persons?|people|patients?|cases?)$|admission|admit|patient|cases?$|^cases|death|visit|"
    r"^persons?$|^people$|discharge|hospitali[sz]ation|encounter|births?$|infection|diagnos|"
    r"fatalit|deceased|decedent|mortality_(n|count)|attendance|consultation|referral|episode|positives?$|"
    r"infected|hospitali[sz]ed|suicide|overdose|injur|vaccinat|tested|enrol|clients?$|persons|people|"
    r"^(n|cnt)$|^(n|num|number|cnt|count|total)(_of)?_(?!(facilit|bed|site|hospital|region|unit|ward|staff|"
    r"clinic|pharmac|doctor|nurse|physician|ambulance|vehicle|station|day|week|month|year|row|record|column)))",
    re.I)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_LEADING_ZERO = re.compile(r"^[+-]?0\d")


def is_count_name(name: str) -> bool:
    """True when the column name is one of the usual names of a count of people or events."""
    return bool(COUNT_NAME.search(str(name)))


def _whole_non_negative(s: pd.Series) -> bool:
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    v = v[~np.isnan(v)]
    return bool(v.size == 0 or (np.all(np.isfinite(v)) and np.all(v >= 0) and np.all(v == np.round(v))))


def default_count_columns(df: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list[str]:
    """Numeric columns of whole non-negative numbers named like a count of people."""
    out = []
    for c in df.columns:
        name = str(c)
        if name in exclude or name.endswith("_suppressed") or not is_count_name(name):
            continue
        if pd.api.types.is_bool_dtype(df[c]) or not pd.api.types.is_numeric_dtype(df[c]):
            continue
        if _whole_non_negative(df[c]):
            out.append(name)
    return out


def check_count_columns(df: pd.DataFrame, columns: list[str], file: str) -> list[Problem]:
    """Problems with declared person-count columns: missing, not numbers, negative or fractional."""
    problems: list[Problem] = []
    for c in columns:
        if c not in df.columns:
            problems.append(Problem(file, None, c, "declared as a count of people but not in the file (columns: "
                                                   f"{', '.join(map(str, df.columns))})"))
            continue
        num = pd.to_numeric(df[c], errors="coerce")
        v = num.to_numpy(dtype=float, na_value=np.nan)
        bad = num.isna() & df[c].notna()
        for i in np.flatnonzero(bad.to_numpy())[:20]:
            problems.append(Problem(file, sheet_row(df, int(i)), c, "a count of people must be a number", df[c].iloc[i]))
        for mask, rule in ((np.isfinite(v) & (v < 0), "a count of people must not be negative"),
                           (np.isfinite(v) & (v != np.round(v)), "a count of people must be a whole number"),
                           (np.isinf(v), "a count of people must be finite")):
            for i in np.flatnonzero(mask)[:20]:
                problems.append(Problem(file, sheet_row(df, int(i)), c, rule, float(v[i])))
    return problems


def type_extra_columns(df: pd.DataFrame, known: set[str]) -> tuple[pd.DataFrame, list[str]]:
    """``df`` with every column not in ``known`` whose filled cells are all numbers typed as float.

    Returns the table and the names of the columns converted. Codes with a leading zero stay text.
    """
    out = df.copy()
    typed = []
    for c in df.columns:
        if c in known or pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_datetime64_any_dtype(df[c]):
            if c not in known and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
                out[c] = pd.to_numeric(df[c]).astype(float)
            continue
        txt = df[c].astype("string").str.strip()
        filled = txt[txt.notna() & (txt != "")]
        if filled.empty:
            continue
        if filled.str.fullmatch(_NUMBER.pattern).all() and not filled.str.match(_LEADING_ZERO.pattern).any():
            out[c] = pd.to_numeric(txt.where(txt != ""), errors="coerce").astype(float)
            typed.append(str(c))
    return out, typed
