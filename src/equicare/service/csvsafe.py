"""CSV cells that a spreadsheet would run as a formula are neutralised before download.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets (CSV/formula injection, OWASP). Such text cells -- and column names --
get a leading apostrophe, which spreadsheets show as text and do not evaluate. Numbers (a negative
number in a numeric column) are not text and are left alone.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FORMULA_START", "neutralise_formulas"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(v: object) -> object:
    return "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names cannot start a spreadsheet formula."""
    out = df.copy()
    out.columns = [_safe(str(c)) for c in out.columns]
    for c in out.columns:
        col = out[c]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            out[c] = col.map(_safe, na_action="ignore")
    return out
