"""The data as it was published: vintages of the hub's target file, snapshots at a deadline, and a nowcast.

A vintage file lists every published version of the weekly admissions as *changes*: columns
``as_of,date,location,value``, one row per value that was new or changed in the version published on ``as_of``
(a day; when several versions were published the same day, the later row in the file wins).  The data known on
day ``D`` is, for each ``(date, location)``, the value of the latest row with
``as_of <= D``.  A blank ``value`` (or ``NA``) withdraws the value from that version on (the location is
missing again).

Real time, as the CDC FluSight hub works: forecasts for the Saturday reference date ``R`` were due on the
Wednesday before, so they can use the version published on or before ``R - 3`` days (:func:`deadline`); and, as
always in equicare, only weeks ending ``R - 7`` or earlier.  ``deadline_days`` sets another deadline.

Late releases (``late_days``, default :data:`LATE_DAYS` = 1): when the week ending ``R - 7`` was published, or
corrected, within ``late_days`` days after the deadline (a late weekly release, or a correction of the week just
released), the data as published on that day are used.  The hub did this: in the holiday weeks of 2024-12-28 and
2025-01-04 the data came on Thursday and the hub moved the submission deadline to that Thursday ("FluSight
submission deadlines for these weeks are now set for Thursday, December 26, 2024 ... and Thursday, January 2,
2025", cdcepi/FluSight-forecast-hub pull request 1365), and in all four weeks with a Thursday release (2024-04-11
and the two holiday weeks: the week's first publication; 2024-11-21: a correction of 29 states' week just
released the day before) the hub's own FluSight-baseline used it.  So the default gives the data the hub's teams
had in every week from 2023-11 to 2025-05 (checked against the baseline's medians,
``tests/test_forecast_vintages.py``); ``late_days=0`` gives the strict Wednesday rule, in which those weeks are
forecast from older data (a missing week is then handled by :mod:`equicare.forecast.gaps`).  A version after the
deadline that changes only older weeks is not used.

Nowcast (:func:`nowcast_factors`): preliminary values of the latest weeks are often revised (upwards when
reports arrive late).  For lag ``l`` (1 = the snapshot's latest week), the factor is the ratio of the values now
known to the values first published at that lag, summed over states and over releases 4..11 weeks before the
cutoff; only versions published on or before the cutoff are used.  This is the ratio-of-totals delay correction
used for reporting delays (e.g. Lawless 1994; the "multiplicative nowcast" of McGough et al. 2020, here on the
revision of already reported counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.errors import EquicareError, Problem, ValidationError
from equicare.forecast.truth import NOT_HUB_RULE, hub_locations, read_weekly

#: Days between the hub's submission deadline (Wednesday) and the Saturday reference date.
DEADLINE_DAYS = 3
#: Days after the deadline within which a version that publishes or corrects the week ``R - 7`` (a late weekly
#: release) still counts, as the hub extended its deadline in those weeks (see the module docstring).
LATE_DAYS = 1
#: Allowed ``late_days``: 0 (the strict deadline) to 3.
LATE_RANGE = (0, 3)
#: The deadlines a forecast may use: 0 (the reference date itself) to 6 days before it (a deadline 7 or more days
#: before R would cut the last week, ending R - 7, that the forecasts are defined to start from).
DEADLINE_RANGE = (0, 6)
#: Lags (weeks back from a snapshot's latest week, 1 = latest) that the nowcast corrects.
NOWCAST_LAGS = 3
#: Past releases (weeks before the cutoff) whose revisions teach the nowcast: 4 .. 11 weeks.
NOWCAST_BACK = tuple(range(4, 12))
#: Bounds of a nowcast factor.
NOWCAST_CLIP = (0.67, 1.5)

REQUIRED = ("as_of", "date", "location", "value")


def _whole_days(days: object, bounds: tuple[int, int]) -> int | None:
    """``days`` as a whole number within ``bounds`` (inclusive), or None."""
    lo, hi = bounds
    try:
        d = int(days)  # type: ignore[call-overload]
        return d if d == float(days) and lo <= d <= hi else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def check_deadline_days(days: object) -> int:
    """``days`` as a whole number of days in :data:`DEADLINE_RANGE`.

    Raises
    ------
    EquicareError
        Not a whole number from 0 to 6.
    """
    d = _whole_days(days, DEADLINE_RANGE)
    if d is None:
        lo, hi = DEADLINE_RANGE
        raise EquicareError(f"the deadline must be a whole number of days from {lo} to {hi} before the reference "
                            f"date (got {days}); the hub's Wednesday deadline is {DEADLINE_DAYS}")
    return d


def check_late_days(days: object) -> int:
    """``days`` as a whole number of days in :data:`LATE_RANGE`.

    Raises
    ------
    EquicareError
        Not a whole number from 0 to 3.
    """
    d = _whole_days(days, LATE_RANGE)
    if d is None:
        lo, hi = LATE_RANGE
        raise EquicareError(f"the late-release days must be a whole number from {lo} to {hi} (got {days}); "
                            f"{LATE_DAYS} takes a release of the week R - 7 that came the day after the deadline, "
                            "as the hub did; 0 keeps the strict deadline")
    return d


def deadline(reference_date: pd.Timestamp, days: int = DEADLINE_DAYS) -> pd.Timestamp:
    """The last publication day a forecast for ``reference_date`` may use: ``R - days`` (default ``R - 3``, the
    hub's Wednesday)."""
    return pd.Timestamp(reference_date) - pd.Timedelta(days=check_deadline_days(days))


class Vintages:
    """Every published version of weekly admissions, stored as change rows sorted by publication day.

    Build with :func:`load_vintages` (from a file) or directly from a frame with columns
    ``as_of, date, location, value`` (datetime64, datetime64, str, float with NaN = withdrawn).
    ``deadline_days``: a forecast for ``R`` uses the versions published on or before ``R - deadline_days``
    (:func:`deadline`), or a late weekly release up to ``late_days`` after it (:meth:`deadline`).  Snapshots are
    cached per cutoff, so a back-test computes each one once.
    """

    def __init__(self, frame: pd.DataFrame, name: str = "vintages", deadline_days: int = DEADLINE_DAYS,
                 late_days: int = LATE_DAYS) -> None:
        df = frame[list(REQUIRED)].sort_values("as_of", kind="stable").reset_index(drop=True)
        self.name = name
        self.deadline_days = check_deadline_days(deadline_days)
        self.late_days = check_late_days(late_days)
        self.as_of = df["as_of"].to_numpy(dtype="datetime64[ns]")
        self._date = df["date"].to_numpy(dtype="datetime64[ns]")
        self._loc = df["location"].astype(str).to_numpy(dtype=object)
        self._value = df["value"].to_numpy(dtype=float)
        codes, self._locations = pd.factorize(self._loc)
        dcodes = (self._date - self._date.min()).astype("timedelta64[D]").astype(np.int64) // 7
        self._key = dcodes * (len(self._locations) + 1) + codes
        self._dcode = dcodes
        self._state = self._loc != "US"
        self._cache: dict[pd.Timestamp, pd.DataFrame] = {}
        self._arr_cache: dict[pd.Timestamp, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def first(self) -> pd.Timestamp:
        """Day of the first published version."""
        return pd.Timestamp(self.as_of[0])

    @property
    def last(self) -> pd.Timestamp:
        """Day of the last published version."""
        return pd.Timestamp(self.as_of[-1])

    def _arrays(self, cutoff: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the values known at ``cutoff`` (sorted by key) and their keys: the last row per
        ``(date, location)`` among the rows with ``as_of <= cutoff`` (a prefix of the sorted rows)."""
        c = pd.Timestamp(cutoff).normalize()
        hit = self._arr_cache.get(c)
        if hit is not None:
            return hit
        n = int(np.searchsorted(self.as_of, np.datetime64(c, "ns"), side="right"))
        if n == 0:
            raise EquicareError(f"{self.name}: no version published on or before {c.date()} (the first is "
                                f"{self.first.date()}); real-time forecasts need a reference date on or after "
                                f"{(self.first + pd.Timedelta(days=self.deadline_days)).date()}")
        key = self._key[:n][::-1]
        _, first_in_reversed = np.unique(key, return_index=True)
        idx = n - 1 - first_in_reversed
        idx = idx[~np.isnan(self._value[idx])]
        self._arr_cache[c] = (idx, self._key[idx])
        return idx, self._key[idx]

    def snapshot(self, cutoff: object) -> pd.DataFrame:
        """The data as published on or before ``cutoff``, in :func:`~equicare.forecast.truth.load_truth` format.

        Vectorised: the rows with ``as_of <= cutoff`` are a prefix of the sorted rows; the last row per
        ``(date, location)`` in that prefix holds the value known then (withdrawn values are dropped).

        Raises
        ------
        EquicareError
            ``cutoff`` is before the first version.
        """
        c = pd.Timestamp(cutoff).normalize()
        if c in self._cache:
            return self._cache[c]
        idx, _ = self._arrays(c)
        out = pd.DataFrame({"date": self._date[idx], "location": self._loc[idx], "location_name": self._loc[idx],
                            "value": self._value[idx], "weekly_rate": np.nan})
        out = out.sort_values(["location", "date"], kind="stable").reset_index(drop=True)
        self._cache[c] = out
        return out

    def deadline(self, reference_date: object) -> pd.Timestamp:
        """The last publication day a forecast for ``reference_date`` may use: ``R - deadline_days``, or the last
        day within ``late_days`` after it (never after ``R``) on which a version published or corrected the week
        ``R - 7`` (a late release)."""
        r = pd.Timestamp(reference_date).normalize()
        c = deadline(r, self.deadline_days)
        if self.late_days == 0 or c < self.first:
            return c
        week = np.datetime64(r - pd.Timedelta(days=7), "ns")
        lo = int(np.searchsorted(self.as_of, np.datetime64(c, "ns"), side="right"))
        end = min(c + pd.Timedelta(days=self.late_days), r)
        hi = int(np.searchsorted(self.as_of, np.datetime64(end, "ns"), side="right"))
        hit = np.flatnonzero(self._date[lo:hi] == week)
        return pd.Timestamp(self.as_of[lo + hit[-1]]) if len(hit) else c

    def is_late(self, reference_date: object) -> bool:
        """Whether the forecast for ``reference_date`` uses a late release (:meth:`deadline` after
        ``R - deadline_days``)."""
        r = pd.Timestamp(reference_date)
        return self.deadline(r) > deadline(r, self.deadline_days)

    def realtime(self, reference_date: object, nowcast: bool = False) -> pd.DataFrame:
        """The data a forecast for ``reference_date`` may use: the snapshot at :meth:`deadline`, nowcast if asked.

        ``attrs["cutoff"]`` is the publication day used; with ``nowcast``, ``attrs["nowcast_factors"]`` the
        factor of each lag (latest week first)."""
        c = self.deadline(reference_date)
        snap = self.snapshot(c)
        if nowcast:
            f = nowcast_factors(self, c)
            snap = apply_nowcast(snap, f)
            snap.attrs["nowcast_factors"] = tuple(float(x) for x in f)
        snap.attrs["cutoff"] = c
        return snap


def load_vintages(path: str | Path, deadline_days: int = DEADLINE_DAYS, late_days: int = LATE_DAYS) -> Vintages:
    """Read a vintage file (``as_of,date,location,value``; CSV, optionally gzip-compressed); forecasts from it use
    the versions published ``deadline_days`` before the reference date, or a late weekly release up to
    ``late_days`` after that (:class:`Vintages`).

    Read and checked by the same reader as :func:`~equicare.forecast.truth.load_truth`
    (:func:`~equicare.forecast.truth.read_weekly`), with the same rules for ``date``, ``location`` and ``value``.

    Raises
    ------
    ValidationError
        Naming file, row (header = row 1), column and rule: a missing column, an ``as_of`` or ``date`` that is
        not ``YYYY-MM-DD``, a ``date`` that is not a Saturday, an ``as_of`` before the ``date`` (published
        before the week ended), a location that is not a 1-2 digit code or ``US`` or is not one of the US
        hub's (the bundled ``locations.csv``: the states' FIPS codes and ``US``; the first row of each such
        location is named: the vintage path is the US FluSight hub's format, other places' counts are forecast
        with ``equicare forecast --series``), a value that is not a number, negative or infinite.  A blank value (empty, ``NA``, ``NaN`` or
        ``NULL``) withdraws the value.  Several rows for one ``(as_of, date, location)`` are several versions
        published that day: the later row in the file wins.
    EquicareError
        The file does not exist; ``deadline_days`` is not a whole number from 0 to 6; ``late_days`` is not one
        from 0 to 3.
    """
    deadline_days = check_deadline_days(deadline_days)
    late_days = check_late_days(late_days)
    t = read_weekly(path, REQUIRED, "vintage")
    as_of = t.day("as_of")
    date = t.week("date")
    loc = t.location()
    value, _ = t.amount("value", "negative admissions count")
    early = (as_of.notna() & date.notna() & (as_of < date)).to_numpy()  # a week is counted once it has ended
    t.flag(early, "as_of", "published before its week ended (as_of is before the week-ending date)",
           t.raw["as_of"].str.strip() + " (date " + t.raw["date"].str.strip() + ")")
    code = loc.str.fullmatch(r"\d{2}|US").to_numpy(bool)  # other texts are flagged by t.location() already
    t.flag(code & ~loc.isin(hub_locations()).to_numpy() & ~loc.duplicated().to_numpy(), "location", NOT_HUB_RULE)
    t.check()
    if len(t.raw) == 0:
        raise ValidationError([Problem(t.name, None, "value", "no rows in the file")])
    frame = pd.DataFrame({"as_of": as_of, "date": date, "location": loc, "value": value})
    return Vintages(frame, t.name, deadline_days, late_days)


def _latest_week(snap: pd.DataFrame) -> pd.Timestamp:
    """Latest week of the states in a snapshot (of any location when it has no state)."""
    states = snap[snap["location"] != "US"]
    return pd.Timestamp((states if len(states) else snap)["date"].max())


def nowcast_factors(v: Vintages, cutoff: object, lags: int = NOWCAST_LAGS,
                    back: Sequence[int] = NOWCAST_BACK) -> np.ndarray:
    """Revision factor of each of the ``lags`` latest weeks of the snapshot at ``cutoff`` (latest week first).

    ``f_l = sum(value known at cutoff) / sum(value first published at lag l)``, over states (not ``US``) and the
    releases at ``cutoff - 7j`` days, ``j`` in ``back``; the week at lag ``l`` of a release is its own latest week
    minus ``7 (l - 1)`` days.  Uses only versions published on or before ``cutoff``.  Clipped to
    :data:`NOWCAST_CLIP`; 1 where no past release is available.

    Returns
    -------
    numpy.ndarray
        ``(lags,)`` factors.
    """
    c = pd.Timestamp(cutoff).normalize()
    now_idx, now_key = v._arrays(c)
    keep = v._state[now_idx]
    now_idx, now_key = now_idx[keep], now_key[keep]  # sorted by key
    num, den = np.zeros(lags), np.zeros(lags)
    for j in back:
        past_cut = c - pd.Timedelta(weeks=int(j))
        if past_cut < v.first:
            continue
        idx, key = v._arrays(past_cut)
        idx, key = idx[v._state[idx]], key[v._state[idx]]
        if not len(idx):
            continue
        week = v._dcode[idx]
        top = week.max()
        pos = np.minimum(np.searchsorted(now_key, key), len(now_key) - 1)
        found = now_key[pos] == key
        for lag in range(lags):
            m = found & (week == top - lag)
            num[lag] += float(v._value[now_idx[pos[m]]].sum())
            den[lag] += float(v._value[idx[m]].sum())
    f = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
    return np.clip(f, *NOWCAST_CLIP)


def apply_nowcast(snap: pd.DataFrame, factors: np.ndarray) -> pd.DataFrame:
    """``snap`` with the value of each location in the week at lag ``l`` (1 = latest) multiplied by ``factors[l-1]``."""
    out = snap.copy()
    top = _latest_week(snap)
    lag = ((top - out["date"]).dt.days // 7).to_numpy()
    f = np.ones(len(out))
    for k, fk in enumerate(np.asarray(factors, float)):
        f[lag == k] = fk
    out["value"] = out["value"].to_numpy() * f
    return out
