"""Observed weekly admissions ("truth"): validated loading and the week-by-location panel models read.

The hub's target-data file has one row per week-ending date (a Saturday) and location, with columns
``date,location,location_name,value[,weekly_rate]``; ``value`` is the count of new influenza hospital
admissions that week and ``weekly_rate`` the same per 100,000 people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.data.readers import read_table, sheet_rows
from equicare.errors import EquicareError, Problem, ValidationError, add_capped

REQUIRED = ("date", "location", "value")
#: Cell texts (after trimming, any case) that leave a value blank: the location did not report that week.
BLANK = ("", "NA", "NAN", "NULL")
#: At most this many problems are listed per rule.
MAX_LISTED = 50
#: The rule broken by a truth file's location with no population (to forecast from the file).
NO_POPULATION_RULE = ("not a location of the US FluSight hub (a state FIPS code or US in the bundled locations.csv) "
                      "and no weekly_rate (per 100,000) to derive its population from: give the file a weekly_rate "
                      "column, or forecast other places' counts with `equicare forecast --series` (any region ids, "
                      "no population needed)")
#: The rule broken by a location code that is not one of the US FluSight hub's (the vintage path).
NOT_HUB_RULE = ("not a location of the US FluSight hub (a state FIPS code or US in the bundled locations.csv, the "
                "only source of populations on this path; there is no option to give others): vintage files are "
                "the hub's format; forecast other places' counts with `equicare forecast --series` (any region "
                "ids, no population needed)")


def bundled_path(name: str) -> Path:
    """Path of a bundled FluSight file (``target-hospital-admissions.csv`` or ``locations.csv``)."""
    return Path(str(resources.files("equicare") / "data" / "files" / "flusight" / name))


@dataclass
class WeeklyFile:
    """A weekly hub-format file read as text and checked column by column, problems collected, not raised.

    The one checked reader behind :func:`load_truth` and :func:`~equicare.forecast.vintages.load_vintages`:
    make it with :func:`read_weekly`, call the column checks, add any rules of your own with :meth:`flag`,
    then :meth:`check`.

    Attributes
    ----------
    name
        The file's name, as problems name it.
    raw
        The cells as text (blank cells as ``""``), one row a record.
    rows
        ``(len(raw),)`` sheet row of each record (header = row 1).
    problems
        The broken rules found so far.
    """

    name: str
    raw: pd.DataFrame
    rows: np.ndarray
    problems: list[Problem]
    counts: dict[str, int] = field(default_factory=dict)
    """Problems per ``"column: rule"``, all of them (the list keeps the first :data:`MAX_LISTED` of each)."""

    def flag(self, mask: np.ndarray, col: str, rule: str, values: pd.Series | None = None) -> None:
        """Record ``rule`` for the first :data:`MAX_LISTED` records where ``mask`` holds (the value shown is
        the cell of ``col`` unless ``values`` are given)."""
        shown = self.raw[col] if values is None else values
        add_capped(self.problems, self.counts, np.flatnonzero(mask),
                   lambda i: Problem(self.name, int(self.rows[i]), col, rule, shown.iloc[i]), MAX_LISTED)

    def day(self, col: str) -> pd.Series:
        """Column ``col`` as dates (NaT where the cell is not ``YYYY-MM-DD``, which is flagged)."""
        text = self.raw[col].str.strip()
        d = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").where(text.str.fullmatch(r"\d{4}-\d{2}-\d{2}"))
        self.flag(d.isna().to_numpy(), col, "not a YYYY-MM-DD date")
        return d

    def week(self, col: str = "date") -> pd.Series:
        """Column ``col`` as week-ending dates: :meth:`day`, and a date that is not a Saturday is flagged."""
        d = self.day(col)
        self.flag(d.notna().to_numpy() & (d.dt.day_of_week != 5).to_numpy(), col,
                  "not a Saturday (hub weeks end on Saturday)")
        return d

    def location(self, col: str = "location") -> pd.Series:
        """Column ``col`` as location codes: a 1-2 digit FIPS code zero-padded to 2 characters, or ``US``
        (anything else is flagged)."""
        loc = self.raw[col].str.strip().str.strip('"')
        is_code = loc.str.fullmatch(r"\d{1,2}").to_numpy()
        self.flag(~is_code & (loc != "US").to_numpy(), col, "not a 1-2 digit FIPS code or 'US'")
        return loc.where(~is_code, loc.str.zfill(2)).astype(str)

    def amount(self, col: str, negative: str, finite: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Column ``col`` as non-negative numbers: ``(values, blank)``, values NaN where the cell is blank
        (one of :data:`BLANK`).  Flags a cell that is not a number, infinite (when ``finite``) or negative
        (with the rule ``negative``)."""
        text = self.raw[col].str.strip()
        blank = ((text == "") | text.str.upper().isin(BLANK)).to_numpy()
        value = pd.to_numeric(text.where(~blank, None), errors="coerce").to_numpy(dtype=float)
        self.flag(~blank & np.isnan(value), col, "not a number")
        if finite:
            self.flag(np.isinf(value), col, "not finite")
        self.flag(value < 0, col, negative)
        return value, blank

    def check(self) -> None:
        """Raise :class:`~equicare.errors.ValidationError` listing every problem, if there is any."""
        if self.problems:  # with the true count: a capped list is never read as complete
            raise ValidationError(self.problems, counts=self.counts)


def read_weekly(path: str | Path, required: tuple[str, ...], what: str) -> WeeklyFile:
    """Read a weekly hub-format table (CSV, optionally gzip-compressed, or a sheet) for checking.

    Raises
    ------
    EquicareError
        ``{what} file not found: {path}`` when there is no such file.
    ValidationError
        A required column is missing (row ``None``, the column named).
    """
    path = Path(path)
    if not path.is_file():
        raise EquicareError(f"{what} file not found: {path}")
    raw = read_table(path, label=path.name, na_values=("",))
    rows = sheet_rows(raw, np.arange(len(raw)))
    raw = raw.fillna("")
    absent = [c for c in required if c not in raw.columns]
    if absent:
        raise ValidationError([Problem(path.name, None, c, "required column is missing") for c in absent])
    return WeeklyFile(path.name, raw, rows, [])


def load_truth(path: str | Path, missing: str = "drop", populations: bool = False) -> pd.DataFrame:
    """Read and validate hub target data (weekly admissions by location).

    Parameters
    ----------
    path
        CSV with columns ``date,location,location_name,value[,weekly_rate]`` (``location_name`` and
        ``weekly_rate`` optional).  ``location`` is a state FIPS code (zero-padded to 2 characters here)
        or ``US``.
    missing
        What to do with a row whose ``value`` is blank (empty, ``NA``, ``NaN`` or ``NULL``: the location did
        not report that week, as for Massachusetts and Minnesota in June 2024 in the hub's own file):
        ``"drop"`` (default) leaves the row out, ``"error"`` rejects the file.
    populations
        Check that every location has a population for the models on rates (to forecast from the file): a US hub
        location (bundled ``locations.csv``) or a ``weekly_rate`` > 0 to derive it from; the first row of any
        other location is named (rule :data:`NO_POPULATION_RULE`).

    Returns
    -------
    pandas.DataFrame
        Columns ``date`` (datetime64), ``location`` (str), ``location_name`` (str), ``value`` (float),
        ``weekly_rate`` (float, NaN when absent), sorted by location then date.

    Raises
    ------
    EquicareError
        The file does not exist.
    ValidationError
        Naming file, row (header = row 1), column and rule for: a missing required column, a date that is not
        ``YYYY-MM-DD`` or not a Saturday, a location that is not a 1-2 digit code or ``US``, a value that is
        not a number, negative, infinite or (with ``missing="error"``) blank, a weekly rate that is not a
        number or negative, and a duplicate ``(date, location)``.  Nothing is loaded when any rule is broken.
    """
    if missing not in ("drop", "error"):
        raise ValueError("missing must be 'drop' or 'error'")
    t = read_weekly(path, REQUIRED, "truth")
    raw = t.raw
    date = t.week("date")
    loc = t.location()
    value, blank = t.amount("value", "negative admissions count")
    if missing == "error":
        t.flag(blank, "value", "missing value")
    if "weekly_rate" in raw.columns:
        rate, _ = t.amount("weekly_rate", "negative rate", finite=False)
    else:
        rate = np.full(len(raw), np.nan)
    if populations:
        rated = set(loc[(rate > 0) & ~np.isnan(value)]) if "weekly_rate" in raw.columns else set()
        code = loc.str.fullmatch(r"\d{2}|US").to_numpy(bool)  # other texts are flagged by t.location()
        t.flag(code & ~loc.isin(hub_locations() | rated).to_numpy() & ~loc.duplicated().to_numpy(), "location",
               NO_POPULATION_RULE)
    bad_date = date.isna().to_numpy()
    dup = pd.DataFrame({"d": date, "l": loc}).duplicated(keep="first").to_numpy() & ~bad_date
    t.flag(dup, "date", "duplicate (date, location)", raw["date"] + ", " + loc)
    t.check()

    lname = raw["location_name"].str.strip() if "location_name" in raw.columns else loc
    out = pd.DataFrame({"date": date, "location": loc, "location_name": lname.astype(str),
                        "value": value, "weekly_rate": rate})
    out = out[~np.isnan(value)]
    if out.empty:
        raise ValidationError([Problem(t.name, None, "value", "no observed values in the file")])
    return out.sort_values(["location", "date"], kind="stable").reset_index(drop=True)


@lru_cache(maxsize=1)
def hub_locations() -> frozenset[str]:
    """The US FluSight hub's location codes (``US`` and the states' 2-digit FIPS codes, bundled
    ``locations.csv``)."""
    return frozenset(load_population().index)


@lru_cache(maxsize=1)
def hub_location_names() -> dict[str, str]:
    """Name of each hub location code (``"05"`` -> ``"Arkansas"``), from the bundled ``locations.csv``."""
    df = pd.read_csv(bundled_path("locations.csv"), dtype={"location": str})
    return dict(zip(df["location"], df["location_name"].astype(str)))


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
            raise EquicareError(f"population unknown for location {locations[j]!r}: it is not a location of the US "
                                "FluSight hub (bundled locations.csv: the states' FIPS codes and US) and the data "
                                "give no weekly_rate (per 100,000) to derive it from; give the truth file a "
                                "weekly_rate column (vintage files have none), or forecast other places' counts "
                                "with `equicare forecast --series` (any region ids, no population needed)")
    return Panel(dates, locations, wide.to_numpy(dtype=float), popv)
