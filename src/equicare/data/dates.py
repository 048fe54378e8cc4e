"""The one rule for reading dates, on every input path (tables, series, forecast files, the project file and
command-line options).

- ISO ``YYYY-MM-DD`` is always accepted (also with a time of day, ``2024-07-13 00:00:00`` or
  ``2024-07-13T00:00``, as spreadsheets write date cells).
- Any other way of writing dates is read only when its format is declared: ``date_format`` (a
  :func:`datetime.strptime` format such as ``"%d/%m/%Y"``), the same name in the project file (top-level key
  ``date_format``), on the command line (``--date-format``) and in the Python API (``date_format=``).
- Otherwise a date is refused with the file, row (header = row 1), column and this rule: ``13/07/2024`` is never
  guessed to be day-first, and ``01/07/2024`` (1 July or 7 January) never guessed either way.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd

from equicare.errors import EquicareError, Problem, add_capped

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
"""An ISO date, optionally with a time of day."""


def check_date_format(fmt: str | None, label: str = "date_format") -> str | None:
    """``fmt`` when it is a usable :func:`~datetime.datetime.strptime` format with a year, a month and a day
    (``%d/%m/%Y``), else :class:`~equicare.errors.EquicareError` naming ``label``; None stays None."""
    if fmt is None:
        return None
    fmt = str(fmt).strip()
    probe = datetime(2001, 2, 3)
    try:
        ok = datetime.strptime(probe.strftime(fmt), fmt).date() == probe.date()
    except ValueError:
        ok = False
    if not fmt or not ok:
        raise EquicareError(f"{label} {fmt!r}: not a date format with a year, a month and a day "
                            "(e.g. \"%d/%m/%Y\" for 31/12/2023, \"%m/%d/%Y\" for 12/31/2023)")
    return fmt


def rule(date_format: str | None, where: str | None = "date_format") -> str:
    """The rule said in messages: what is accepted, and how to declare another format (``where`` names where it
    is declared; ``None`` where no other format can be declared: only ``YYYY-MM-DD`` is said)."""
    if date_format:
        return f"not a date in the declared format {date_format!r} (nor YYYY-MM-DD)"
    if where is None:
        return ("not a date written YYYY-MM-DD (the only form taken here, e.g. 2025-04-05); a date such as "
                "01/07/2024 is never guessed (1 July or 7 January)")
    return (f"not a date (YYYY-MM-DD expected): write it as YYYY-MM-DD, or declare its format ({where}, e.g. "
            "\"%d/%m/%Y\"); a date such as 01/07/2024 is never guessed (1 July or 7 January)")


def parse_dates(text: pd.Series, date_format: str | None = None) -> pd.Series:
    """``text`` (cells as text) as dates: ISO always, other cells only in ``date_format``; NaT where a filled cell
    is neither (and where it is blank)."""
    s = text.astype("string").str.strip()
    iso = s.str.fullmatch(ISO_DATE.pattern).fillna(False).astype(bool)
    out = pd.to_datetime(s.where(iso).str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    if date_format:
        other = ~iso & s.notna() & (s != "").fillna(False)
        if other.any():
            out = out.where(~other, pd.to_datetime(s.where(other), format=date_format, errors="coerce"))
    return out


def date_problems(df: pd.DataFrame, col: str, dates: pd.Series, file: str, date_format: str | None = None,
                  where: str = "date_format", counts: dict[str, int] | None = None) -> list[Problem]:
    """One problem per filled cell of ``df[col]`` that :func:`parse_dates` could not read (file, row, column,
    the rule), the first :data:`~equicare.errors.SHOWN_PER_RULE` of them; ``counts`` (as
    :class:`~equicare.errors.ValidationError` takes it) gets the number of all of them
    (:func:`~equicare.errors.add_capped`), so a capped list is not read as complete."""
    from equicare.data.readers import sheet_row

    raw = df[col].astype("string").str.strip()
    bad = np.flatnonzero((dates.isna() & raw.notna() & (raw != "")).fillna(False).to_numpy(bool))
    problems: list[Problem] = []
    add_capped(problems, {} if counts is None else counts, bad,
               lambda i: Problem(file, sheet_row(df, i), col, rule(date_format, where), str(raw.iloc[i])))
    return problems


def parse_date(value: object, label: str, date_format: str | None = None, where: str | None = "date_format"
               ) -> pd.Timestamp:
    """One date given as a key of the project file or a command-line option (``label`` names it): ISO always,
    else ``date_format``; anything else is :class:`~equicare.errors.EquicareError` with the rule (``where``:
    how the caller declares another format, ``None`` when it cannot, so none is suggested)."""
    if isinstance(value, (pd.Timestamp, datetime)):
        return pd.Timestamp(value).normalize()
    if hasattr(value, "isoformat"):  # datetime.date from YAML
        return pd.Timestamp(value.isoformat())
    d = parse_dates(pd.Series([str(value)]), date_format).iloc[0]
    if pd.isna(d):
        raise EquicareError(f"{label} {str(value)!r}: {rule(date_format, where)}")
    return pd.Timestamp(d).normalize()
