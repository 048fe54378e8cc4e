"""FluSight hub conventions: quantile levels, target name, reference dates and the hubverse quantile table.

The CDC FluSight forecast hub (2023-24 season onwards) asks for weekly incident influenza hospital
admissions (``wk inc flu hosp``) by location, for horizons 0..3 weeks after the reference date ``R``
(a Saturday), as 23 quantiles.  Horizon ``h`` targets the epidemiological week ending ``R + 7h`` days.

References
----------
CDC FluSight forecast hub, https://github.com/cdcepi/FluSight-forecast-hub (model-output README).
Hubverse model-output format, https://hubverse.io/en/latest/user-guide/model-output.html
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from equicare.errors import EquicareError, Problem, ValidationError
from equicare.params import QUANTILES  # noqa: F401  (the 23 quantile levels the hub asks for; re-exported)

#: Hub target name for weekly incident influenza hospital admissions.
TARGET = "wk inc flu hosp"
#: Columns of a hubverse quantile table, in order.
COLUMNS: tuple[str, ...] = ("reference_date", "horizon", "target", "target_end_date", "location",
                            "output_type", "output_type_id", "value")
#: Hub horizons (weeks after the reference date).
HORIZONS: tuple[int, ...] = (0, 1, 2, 3)

_Q = np.asarray(QUANTILES)


def as_saturday(value: object, name: str = "reference date") -> pd.Timestamp:
    """Parse a date (``YYYY-MM-DD`` string, date or Timestamp) and check it is a Saturday.

    Raises
    ------
    EquicareError
        If the value is not a date or not a Saturday (hub weeks end on Saturday).
    """
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise EquicareError(f"{name} {value!r} is not a date (expected YYYY-MM-DD)") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise EquicareError(f"{name} {value!r} is not a date (expected YYYY-MM-DD)")
    ts = ts.normalize()
    if ts.day_of_week != 5:
        raise EquicareError(f"{name} {ts.date()} is a {ts.day_name()}; hub reference dates are Saturdays")
    return ts


def saturdays(start: object, end: object) -> list[pd.Timestamp]:
    """Every Saturday from ``start`` to ``end`` inclusive (both must be Saturdays, ``start <= end``)."""
    s, e = as_saturday(start, "start date"), as_saturday(end, "end date")
    if e < s:
        raise EquicareError(f"end date {e.date()} is before start date {s.date()}")
    return list(pd.date_range(s, e, freq="7D"))


def quantile_table(reference_date: pd.Timestamp, locations: list[str], horizons: tuple[int, ...],
                   values: np.ndarray) -> pd.DataFrame:
    """Hubverse quantile rows from an array ``values[location, horizon, quantile]``.

    Values are made non-negative and monotone in the quantile level (sorted) before output.
    """
    values = np.sort(np.maximum(np.asarray(values, dtype=float), 0.0), axis=-1)
    nl, nh, nq = values.shape
    if nq != len(QUANTILES) or nl != len(locations) or nh != len(horizons):
        raise ValueError(f"values shape {values.shape} does not match locations/horizons/quantiles")
    hz = np.asarray(horizons, dtype=int)
    ref = pd.Timestamp(reference_date)
    loc_col = np.repeat(np.asarray(locations, dtype=object), nh * nq)
    h_col = np.tile(np.repeat(hz, nq), nl)
    return pd.DataFrame({
        "reference_date": np.full(nl * nh * nq, ref.strftime("%Y-%m-%d"), dtype=object),
        "horizon": h_col,
        "target": TARGET,
        "target_end_date": [(ref + pd.Timedelta(weeks=int(h))).strftime("%Y-%m-%d") for h in h_col],
        "location": loc_col,
        "output_type": "quantile",
        "output_type_id": np.tile(_Q, nl * nh),
        "value": values.reshape(-1),
    }, columns=list(COLUMNS))


def load_forecasts(path: str | Path) -> pd.DataFrame:
    """Read a hubverse model-output CSV (plain or ``.gz``) and keep its quantile rows for ``wk inc flu hosp``.

    Returns
    -------
    pandas.DataFrame
        Columns as :data:`COLUMNS`; dates as ``YYYY-MM-DD`` strings, location a 2-character string or ``US``.

    Raises
    ------
    ValidationError
        Missing columns, bad dates, non-numeric or negative values, quantile levels outside (0, 1).
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise EquicareError(f"forecast file not found: {path}")
    try:
        df = pd.read_csv(path, dtype={"location": str, "output_type": str, "target": str}, keep_default_na=True)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ValidationError([Problem(name, None, None, f"cannot be read as CSV: {exc}")]) from exc
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValidationError([Problem(name, None, c, "required column is missing") for c in missing])
    df = df[(df["output_type"] == "quantile") & (df["target"] == TARGET)].copy()
    problems: list[Problem] = []
    for col in ("reference_date", "target_end_date"):
        parsed = pd.to_datetime(df[col], format="%Y-%m-%d", errors="coerce")
        for i in np.flatnonzero(parsed.isna().to_numpy())[:20]:
            problems.append(Problem(name, int(df.index[i]) + 1, col, "not a YYYY-MM-DD date", df[col].iloc[i]))
        df[col] = parsed.dt.strftime("%Y-%m-%d")
    for col, lo, hi in (("value", 0.0, np.inf), ("output_type_id", 0.0, 1.0), ("horizon", -10, 10)):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | (num < lo) | (num > hi)
        for i in np.flatnonzero(bad.to_numpy())[:20]:
            problems.append(Problem(name, int(df.index[i]) + 1, col, f"must be a number in [{lo}, {hi}]",
                                    df[col].iloc[i]))
        df[col] = num
    if problems:
        raise ValidationError(problems)
    df["horizon"] = df["horizon"].astype(int)
    df["location"] = df["location"].map(_pad_location)
    df["output_type_id"] = df["output_type_id"].round(4)
    return df.reset_index(drop=True)[list(COLUMNS)]


def _pad_location(x: object) -> str:
    s = str(x).strip()
    return s.zfill(2) if s.isdigit() else s

