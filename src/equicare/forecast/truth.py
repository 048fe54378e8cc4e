"""Observed weekly admissions ("truth"): validated loading and the week-by-location panel models read.

The hub's target-data file has one row per week-ending date (a Saturday) and location, with columns
``date,location,location_name,value[,weekly_rate]``; ``value`` is the count of new influenza hospital
admissions that week and ``weekly_rate`` the same per 100,000 people.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.data.readers import read_table, sheet_rows
from equicare.errors import EquicareError, Problem, ValidationError

REQUIRED = ("date", "location", "value")


def bundled_path(name: str) -> Path:
    """Path of a bundled FluSight file (``target-hospital-admissions.csv`` or ``locations.csv``)."""
    return Path(str(resources.files("equicare") / "data" / "files" / "flusight" / name))


def load_truth(path: str | Path, missing: str = "drop") -> pd.DataFrame:
    """Read and validate hub target data (weekly admissions by location).

    Parameters
    ----------
    path
        CSV with columns ``date,location,location_name,value[,weekly_rate]`` (``location_name`` and
        ``weekly_rate`` optional).  ``location`` is a state FIPS code (zero-padded to 2 characters here)
        or ``US``.
    missing
        What to do with a row whose ``value`` is blank (the location did not report that week, as for
        Massachusetts and Minnesota in June 2024 in the hub's own file): ``"drop"`` (default) leaves the
        row out, ``"error"`` rejects the file.

    Returns
    -------
    pandas.DataFrame
        Columns ``date`` (datetime64), ``location`` (str), ``location_name`` (str), ``value`` (float),
        ``weekly_rate`` (float, NaN when absent), sorted by location then date.

    Raises
    ------
    ValidationError
        Naming file, row (header = row 1), column and rule for: a missing required column, a date that is not
        ``YYYY-MM-DD`` or not a Saturday, a location that is not a 1-2 digit code or ``US``, a value that is
        not a number, negative, infinite or (with ``missing="error"``) blank, and a duplicate
        ``(date, location)``.  Nothing is loaded when any rule is broken.
    """
    if missing not in ("drop", "error"):
        raise ValueError("missing must be 'drop' or 'error'")
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise EquicareError(f"truth file not found: {path}")
    raw = read_table(path, label=name, na_values=("",))
    rows_of = sheet_rows(raw, np.arange(len(raw)))
    raw = raw.fillna("")
    absent = [c for c in REQUIRED if c not in raw.columns]
    if absent:
        raise ValidationError([Problem(name, None, c, "required column is missing") for c in absent])
    problems: list[Problem] = []
    row = rows_of

    def flag(mask: np.ndarray, col: str, rule: str) -> None:
        for i in np.flatnonzero(mask)[:50]:
            problems.append(Problem(name, int(row[i]), col, rule, raw[col].iloc[i]))

    date = pd.to_datetime(raw["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    bad_date = date.isna().to_numpy()
    flag(bad_date, "date", "not a YYYY-MM-DD date")
    flag(~bad_date & (date.dt.day_of_week != 5).to_numpy(), "date", "not a Saturday (hub weeks end on Saturday)")

    loc = raw["location"].str.strip().str.strip('"')
    is_code = loc.str.fullmatch(r"\d{1,2}").to_numpy()
    flag(~is_code & (loc != "US").to_numpy(), "location", "not a 1-2 digit FIPS code or 'US'")
    loc = loc.where(~is_code, loc.str.zfill(2))

    text = raw["value"].str.strip()
    blank = (text == "") | text.str.upper().isin(["NA", "NAN", "NULL"])
    value = pd.to_numeric(text.where(~blank, None), errors="coerce").to_numpy(dtype=float)
    flag(~blank.to_numpy() & np.isnan(value), "value", "not a number")
    flag(np.isinf(value), "value", "not finite")
    flag(value < 0, "value", "negative admissions count")
    if missing == "error":
        flag(blank.to_numpy(), "value", "missing value")

    if "weekly_rate" in raw.columns:
        rtext = raw["weekly_rate"].str.strip()
        rblank = (rtext == "") | rtext.str.upper().isin(["NA", "NAN", "NULL"])
        rate = pd.to_numeric(rtext.where(~rblank, None), errors="coerce").to_numpy(dtype=float)
        flag(~rblank.to_numpy() & np.isnan(rate), "weekly_rate", "not a number")
        flag(rate < 0, "weekly_rate", "negative rate")
    else:
        rate = np.full(len(raw), np.nan)

    key = pd.DataFrame({"d": date, "l": loc})
    dup = key.duplicated(keep="first").to_numpy() & ~bad_date
    for i in np.flatnonzero(dup)[:50]:
        problems.append(Problem(name, int(row[i]), "date", "duplicate (date, location)",
                                f"{raw['date'].iloc[i]}, {loc.iloc[i]}"))
    if problems:
        raise ValidationError(problems)

    lname = raw["location_name"].str.strip() if "location_name" in raw.columns else loc
    out = pd.DataFrame({"date": date, "location": loc.astype(str), "location_name": lname.astype(str),
                        "value": value, "weekly_rate": rate})
    out = out[~np.isnan(value)]
    if out.empty:
        raise ValidationError([Problem(name, None, "value", "no observed values in the file")])
    return out.sort_values(["location", "date"], kind="stable").reset_index(drop=True)


def load_population(path: str | Path | None = None) -> pd.Series:
    """Population by location from the hub's ``locations.csv`` (the bundled copy by default)."""
    path = Path(path) if path is not None else bundled_path("locations.csv")
    df = pd.read_csv(path, dtype={"location": str})
    return df.set_index("location")["population"].astype(float)


@dataclass(frozen=True)
class Panel:
    """Weekly admissions as a dense week-by-location matrix.

    Attributes
    ----------
    dates
        Consecutive week-ending Saturdays.
    locations
        Location codes (columns of ``values``).
    values
        ``(len(dates), len(locations))`` admissions; NaN where not reported.
    population
        Population of each location (for rates per 100,000).
    """

    dates: pd.DatetimeIndex
    locations: tuple[str, ...]
    values: np.ndarray
    population: np.ndarray

    def cut(self, last_date: pd.Timestamp) -> Panel:
        """The panel as known at ``last_date``: rows dated later are dropped, missing weeks up to it are NaN.

        This is how the information rule is enforced: models only ever see the cut panel.
        """
        last_date = pd.Timestamp(last_date)
        keep = self.dates <= last_date
        dates, values = self.dates[keep], self.values[keep]
        if len(dates) == 0 or dates[-1] < last_date:
            start = dates[0] if len(dates) else last_date
            full = pd.date_range(start, last_date, freq="7D")
            pad = np.full((len(full) - len(dates), values.shape[1]), np.nan)
            dates, values = full, np.vstack([values, pad])
        return Panel(dates, self.locations, values, self.population)

    def select(self, locations: list[str]) -> Panel:
        """Restrict to the given locations (in that order)."""
        idx = [self.locations.index(loc) for loc in locations]
        return Panel(self.dates, tuple(locations), self.values[:, idx], self.population[idx])


def to_panel(truth: pd.DataFrame, history: pd.DataFrame | None = None,
             population: pd.Series | None = None) -> Panel:
    """Pivot validated truth (and optional older history) into a :class:`Panel`.

    Parameters
    ----------
    truth
        Output of :func:`load_truth`.
    history
        Optional extra observations in the same format (e.g. the 2020-2023 NHSN admissions), used only for
        (date, location) pairs absent from ``truth``; truth wins where both have a value.
    population
        Population by location; defaults to the bundled ``locations.csv``, falling back to
        ``value / weekly_rate * 1e5`` for locations it lacks.
    """
    frames = [truth[["date", "location", "value", "weekly_rate"]]]
    if history is not None and len(history):
        h = history[["date", "location", "value"]].copy()
        h["weekly_rate"] = np.nan
        frames.append(h[h["location"].isin(set(truth["location"]))])
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["date", "location"], keep="first")
    wide = df.pivot(index="date", columns="location", values="value").sort_index()
    dates = pd.date_range(wide.index.min(), wide.index.max(), freq="7D")
    wide = wide.reindex(dates)
    locations = tuple(str(c) for c in wide.columns)
    pop = population if population is not None else load_population()
    popv = np.array([pop.get(loc, np.nan) for loc in locations], dtype=float)
    for j in np.flatnonzero(np.isnan(popv)):
        t = truth[(truth["location"] == locations[j]) & (truth["weekly_rate"] > 0)]
        if len(t):
            popv[j] = float(np.median(t["value"] / t["weekly_rate"] * 1e5))
        else:
            raise EquicareError(f"population unknown for location {locations[j]!r}: add it to locations.csv "
                                "or give a weekly_rate column")
    return Panel(dates, locations, wide.to_numpy(dtype=float), popv)
