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

from equicare.data.readers import read_table, sheet_rows
from equicare.errors import EquicareError, Problem, ValidationError, add_capped, plain_text
from equicare.params import QUANTILES  # noqa: F401  (the 23 quantile levels the hub asks for; re-exported)

#: Hub target name for weekly incident influenza hospital admissions.
TARGET = "wk inc flu hosp"
#: Columns of a hubverse quantile table, in order.
COLUMNS: tuple[str, ...] = ("reference_date", "horizon", "target", "target_end_date", "location",
                            "output_type", "output_type_id", "value")
#: Hub horizons (weeks after the reference date).
HORIZONS: tuple[int, ...] = (0, 1, 2, 3)

#: Decimals a written forecast keeps (the one rule of every forecast writer, through
#: :func:`equicare.csvout.whole_numbers`): quantiles of counts to 1/10,000 of a count, far below any meaning and
#: above float noise (``10.825``, not ``10.824999999999996``).
WRITTEN_DECIMALS: dict[str, int] = {"value": 4, "output_type_id": 4}

_Q = np.asarray(QUANTILES)


def as_saturday(value: object, name: str = "reference date") -> pd.Timestamp:
    """Parse a date (``YYYY-MM-DD`` string, date or Timestamp) and check it is a Saturday.

    Raises
    ------
    EquicareError
        If the value is not a date or not a Saturday (hub weeks end on Saturday).
    """
    if isinstance(value, str):  # YYYY-MM-DD only: 04/05/2025 is never guessed (equicare.data.dates)
        from equicare.data.dates import ISO_DATE

        if not ISO_DATE.fullmatch(value.strip()):
            raise EquicareError(f"{name} {value!r} is not a date written YYYY-MM-DD (the only form taken here); "
                                "a date such as 01/07/2024 is never guessed")
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
    ends = np.array([(ref + pd.Timedelta(weeks=int(h))).strftime("%Y-%m-%d") for h in hz], dtype=object)
    return pd.DataFrame({
        "reference_date": np.full(nl * nh * nq, ref.strftime("%Y-%m-%d"), dtype=object),
        "horizon": h_col,
        "target": TARGET,
        "target_end_date": np.tile(np.repeat(ends, nq), nl),
        "location": loc_col,
        "output_type": "quantile",
        "output_type_id": np.tile(_Q, nl * nh),
        "value": values.reshape(-1),
    }, columns=list(COLUMNS))


def load_forecasts(path: str | Path, target: str = TARGET, target_end=None) -> pd.DataFrame:
    """Read a hubverse model-output file (CSV, ``.csv.gz`` or Parquet), keep its quantile rows of ``target``
    (``wk inc flu hosp`` by default) and check them against the hub's rules (:func:`check_forecasts`).

    For a planner's own series, ``target`` is the series' (e.g. ``wk inc cases``) and ``target_end`` its step
    rule (:meth:`equicare.forecast.series.CountSeries.step`); locations are then ids kept as written.

    Returns
    -------
    pandas.DataFrame
        Columns as :data:`COLUMNS`; dates as ``YYYY-MM-DD`` strings, location a 2-character string or ``US``.
        ``attrs["incomplete_tasks"]`` lists tasks that lack some of the 23 quantile levels (reported by
        ``score``, which cannot score them).

    Raises
    ------
    ValidationError
        Naming the file, row (header = row 1), column and rule: missing columns, bad dates, non-numeric or
        negative values, quantile levels outside (0, 1), and every hub rule of :func:`check_forecasts`.
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise EquicareError(f"forecast file not found: {path}")
    raw = read_table(path, label=name, ids=("location",) if target_end is not None else ())
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ValidationError([Problem(name, None, c, "required column is missing") for c in missing])
    keep = ((raw["output_type"].str.strip() == "quantile") & (raw["target"].str.strip() == target)).to_numpy()
    df = raw[keep].copy()
    df["_row"] = sheet_rows(raw, np.flatnonzero(keep))
    if df.empty:  # e.g. a forecast of a planner's own series (target 'wk inc cases'): nothing here to score
        found = sorted({f"{t.strip()} ({o.strip()})" for t, o in zip(raw["target"].astype(str),
                                                                        raw["output_type"].astype(str))})
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        what = ("the US flu admissions this command scores" if target == TARGET
                else "the series given with --series")
        hint = (". A planner's own series (forecast --series) is scored with score --series (or back-tested with "
                "backtest --series)" if target == TARGET else "")
        raise ValidationError([Problem(name, None, "target", f"no quantile rows of target '{target}' ({what}); "
                                       f"found: {shown or 'no rows'}{hint}")])
    out = check_forecasts(df, name, target_end=target_end)
    out.attrs["file"] = name
    return out


def check_forecasts(forecasts: pd.DataFrame, file: str = "forecasts", target_end=None) -> pd.DataFrame:
    """Check quantile forecast rows against the hubverse rules; return them typed, in :data:`COLUMNS` order.

    Rules (hubverse model-output format and the checks of the hub's ``hubValidations`` package):

    - dates are ``YYYY-MM-DD``; ``value`` is a number >= 0; ``output_type_id`` a level in (0, 1);
    - ``target_end_date`` is ``reference_date + 7 x horizon`` days (the week the horizon targets);
    - one row per task (reference date, location, horizon, target) and quantile level
      (``check_tbl_rows_unique``);
    - values do not decrease as the level rises within a task (``check_tbl_value_col_ascending``); they are
      never re-sorted, which would score a different forecast from the one submitted.

    ``target_end(reference_date, horizon) -> Timestamp`` replaces the weekly rule for a planner's own series
    (daily or monthly steps, :meth:`equicare.forecast.series.CountSeries.step`); its locations are then kept
    exactly as written (no FluSight 2-digit padding) and horizons may be any whole number of steps >= 0.

    Rows are numbered as in the file (header = row 1): from a ``_row`` column when present (as
    :func:`load_forecasts` gives), else the frame's index + 2.  A task lacking some of the 23 levels is not an
    error here; it is listed in ``attrs["incomplete_tasks"]`` (tuples ``(reference_date, location, horizon,
    missing levels)``).

    Raises
    ------
    ValidationError
        Every broken rule, each with file, row, column and rule (the first 20 of each kind).
    """
    df = forecasts.copy()
    rows = (df["_row"].to_numpy(dtype=int) if "_row" in df.columns
            else sheet_rows(forecasts, np.arange(len(df))))
    df = df.drop(columns=["_row"], errors="ignore").reset_index(drop=True)
    if "output_type" in df.columns:
        sel = (df["output_type"].astype(str).str.strip() == "quantile").to_numpy()
        df, rows = df[sel].reset_index(drop=True), rows[sel]
    problems: list[Problem] = []
    counts: dict[str, int] = {}  # every problem counted, the first 20 of each rule listed

    def flag(mask: np.ndarray, col: str, rule: str, values: object = None) -> None:
        vals = df[col].to_numpy(object) if values is None else np.asarray(values, dtype=object)
        add_capped(problems, counts, np.flatnonzero(mask), lambda i: Problem(file, int(rows[i]), col, rule, vals[i]))

    for col in ("reference_date", "target_end_date"):
        text = df[col].astype(str).str.strip()
        parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        flag(parsed.isna().to_numpy(), col, "not a YYYY-MM-DD date")
        df[col] = parsed
    for col, lo, hi, rule in (("value", 0.0, np.inf, "must be a finite number >= 0"),
                              ("output_type_id", 0.0, 1.0, "must be a quantile level between 0 and 1"),
                              ("horizon", -10, 10, "must be a whole number of weeks between -10 and 10")
                              if target_end is None else ("horizon", 0, 10_000, "must be a whole number of steps >= 0")):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = (num.isna() | (num < lo) | (num > hi) | ~np.isfinite(num.astype(float))).to_numpy().copy()
        if col == "horizon":
            bad |= (num.notna() & (num != num.round())).to_numpy()
        # a number is shown as a number (-1, not '-1.0'); text as written
        flag(bad, col, rule, num.astype(object).where(num.notna(), df[col]).to_numpy(object))
        if col == "output_type_id":  # hub rule (check_tbl_values): only the hub's 23 levels are valid
            hub = np.isin(num.round(4).to_numpy(), np.round(np.asarray(QUANTILES), 4))
            flag(~bad & ~hub, col, f"not one of the hub's {len(QUANTILES)} quantile levels "
                 f"({', '.join(f'{q:g}' for q in QUANTILES)})", num.to_numpy(object))
        df[col] = num
    if problems:
        raise ValidationError(problems, counts=counts)

    df["horizon"] = df["horizon"].astype(int)
    loc = df["location"].astype(str).str.strip()
    df["location"] = loc.where(~loc.str.fullmatch(r"\d+"), loc.str.zfill(2)) if target_end is None else loc
    df["output_type_id"] = df["output_type_id"].astype(float).round(4)
    if target_end is None:
        expected = df["reference_date"] + pd.to_timedelta(7 * df["horizon"], unit="D")
        rule = "must be reference_date + 7 x horizon days (hub rule)"
    else:  # the series' own steps, computed once per (reference date, horizon)
        pairs = df[["reference_date", "horizon"]].drop_duplicates()
        ends = {(r, int(h)): pd.Timestamp(target_end(r, int(h))) for r, h in pairs.itertuples(index=False)}
        expected = pd.Series([ends[(r, int(h))] for r, h in zip(df["reference_date"], df["horizon"])], index=df.index)
        rule = "must be reference_date + horizon steps of the series"
    wrong = (df["target_end_date"] != expected).to_numpy()
    n_wrong = int(wrong.sum())
    for i in np.flatnonzero(wrong)[:20]:
        problems.append(Problem(file, int(rows[i]), "target_end_date",
                                f"{rule}: expected "
                                f"{expected.iloc[i]:%Y-%m-%d} for {_task_text(df, i)}",
                                f"{df['target_end_date'].iloc[i]:%Y-%m-%d}"))
    if n_wrong:
        counts[f"target_end_date: {rule}"] = n_wrong

    key = ["reference_date", "location", "horizon", "target"] if "target" in df.columns else \
        ["reference_date", "location", "horizon"]
    keyed = df[key + ["output_type_id"]]
    dup = keyed.duplicated(keep="first").to_numpy()
    if dup.any():
        first = keyed.reset_index().groupby(key + ["output_type_id"], sort=False)["index"].transform("first")
        counts["output_type_id: a second row for a task and level"] = int(dup.sum())
        for i in np.flatnonzero(dup)[:20]:
            problems.append(Problem(file, int(rows[i]), "output_type_id",
                                    f"a second row for task {_task_text(df, i)} and level "
                                    f"{df['output_type_id'].iloc[i]:g} (first at row {int(rows[first.iloc[i]])}); "
                                    "the hub allows one row per task and level", df["value"].iloc[i]))
    if problems:
        raise ValidationError(problems, counts=counts)

    order = np.lexsort((df["output_type_id"].to_numpy(), *(pd.factorize(df[k])[0] for k in reversed(key))))
    srt = df.iloc[order]
    same = np.ones(len(srt), dtype=bool)
    for k in key:
        v = srt[k].to_numpy()
        same[1:] &= v[1:] == v[:-1]
    same[:1] = False  # (an empty table has no first row)
    val = srt["value"].to_numpy(float)
    down = np.flatnonzero(same & (np.r_[np.inf, val[:-1]] > val))
    for j in down[:20]:
        i_hi, i_lo = order[j], order[j - 1]
        problems.append(Problem(file, int(rows[i_hi]), "value",
                                f"quantiles decrease as the level rises in task {_task_text(df, i_hi)}: level "
                                f"{df['output_type_id'].iloc[i_lo]:g} = {plain_text(val[j - 1])} (row "
                                f"{int(rows[i_lo])}) but level {df['output_type_id'].iloc[i_hi]:g} = "
                                f"{plain_text(val[j])}; hub rule: values must not decrease with the quantile "
                                "level (they are not re-sorted)"))
    if problems:
        raise ValidationError(problems, counts={"value: quantiles decrease as the level rises": len(down)})

    levels = np.round(np.asarray(QUANTILES), 4)
    task = ["reference_date", "location", "horizon"]
    n_hub = df[df["output_type_id"].isin(levels)].groupby(task).size().reindex(
        pd.MultiIndex.from_frame(df[task].drop_duplicates()), fill_value=0)
    short = set(n_hub[n_hub < len(levels)].index)
    incomplete = []
    if short:
        part = df[pd.MultiIndex.from_frame(df[task]).isin(list(short))]
        for (r, loc, h), got in part.groupby(task)["output_type_id"]:
            have = set(got.tolist())
            incomplete.append((r.strftime("%Y-%m-%d"), loc, int(h), tuple(float(x) for x in levels if x not in have)))
    for c in ("reference_date", "target_end_date"):
        df[c] = df[c].dt.strftime("%Y-%m-%d")
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = TARGET if c == "target" else "quantile"
    out = df[list(COLUMNS)].reset_index(drop=True)
    out["value"] = out["value"].astype(float)
    out.attrs["incomplete_tasks"] = incomplete
    return out


def _task_text(df: pd.DataFrame, i: int) -> str:
    """A task as a planner reads it: ``reference_date 2024-01-06, location 01, horizon 2``."""
    r = df["reference_date"].iloc[i]
    r = r.strftime("%Y-%m-%d") if hasattr(r, "strftime") else str(r)
    return f"(reference_date {r}, location {df['location'].iloc[i]}, horizon {int(df['horizon'].iloc[i])})"
