"""Forecasting any count series: any region ids, daily, weekly or monthly, no population file needed.

The same models, information rule, back-test and scoring as for the FluSight admissions
(:mod:`equicare.forecast.run`), on the planner's own series:

* a reference date ``R`` is one step after the last observation a forecast may use (for a weekly series the
  hub's rule: data dated ``R - 7`` days or earlier); horizon ``h`` targets ``R + h`` steps;
* the pooled models work on rates per 100,000 when populations are given, on counts otherwise (each series
  then has the nominal population 100,000, so its "rate" is its count);
* forecasts are hubverse quantile rows (``location`` = the planner's region id as written) at the 23 FluSight
  levels, or other levels interpolated between them;
* :func:`backtest_counts` forecasts the last reference dates whose targets are observed and
  :func:`score_counts` gives WIS and interval coverage (Bracher et al. 2021) as :func:`~equicare.forecast.score`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from equicare.data.readers import sheet_row
from equicare.errors import EquicareError, Problem, ValidationError
from equicare.forecast.hub import COLUMNS, QUANTILES
from equicare.forecast.models import SERIES_MODELS, ForecastModel
from equicare.forecast.truth import Panel

#: Nominal population of a series when none is given (rates per 100,000 are then counts).
NOMINAL_POPULATION = 1e5
#: Seasonal period of each frequency, in steps.
PERIODS = {"daily": 365, "weekly": 52, "monthly": 12}
#: Season of the count ensemble's seasonal member, in steps: the week for daily series, the year otherwise.
COUNT_SEASON = {"daily": 7, "weekly": 52, "monthly": 12}
_Q = np.asarray(QUANTILES)


@dataclass(frozen=True)
class CountSeries:
    """Validated counts: ``frame`` has ``date`` (datetime64), ``location`` (text as written), ``value``."""

    frame: pd.DataFrame
    freq: str
    name: str = "count"

    def step(self, date: pd.Timestamp, n: int) -> pd.Timestamp:
        """``date`` moved by ``n`` steps of the series' frequency."""
        return _shift(pd.Timestamp(date), n, self.freq, self._month_end)

    @property
    def _month_end(self) -> bool:
        d = self.frame["date"]
        return bool(self.freq == "monthly" and d.dt.is_month_end.all())

    def grid(self) -> pd.DatetimeIndex:
        """Every step from the first to the last date."""
        d0, d1 = self.frame["date"].min(), self.frame["date"].max()
        out, i = [], 0
        while True:
            d = self.step(d0, i)
            if d > d1:
                break
            out.append(d)
            i += 1
        return pd.DatetimeIndex(out)

    @property
    def target(self) -> str:
        return {"daily": "day", "weekly": "wk", "monthly": "mth"}[self.freq] + f" inc {self.name}"

    def truth(self) -> pd.DataFrame:
        """``date, location, location_name, value`` as :func:`~equicare.forecast.score` reads truth."""
        f = self.frame
        return f.assign(location_name=f["location"])[["date", "location", "location_name", "value"]]


def _shift(date: pd.Timestamp, n: int, freq: str, month_end: bool) -> pd.Timestamp:
    if freq == "daily":
        return date + pd.Timedelta(days=n)
    if freq == "weekly":
        return date + pd.Timedelta(weeks=n)
    if month_end:
        return date + pd.offsets.MonthEnd(n) if n else date
    return date + pd.DateOffset(months=n)


def detect_frequency(dates: pd.Series) -> str:
    """``daily``, ``weekly`` or ``monthly`` from the most common gap between consecutive distinct dates."""
    d = np.sort(pd.to_datetime(pd.Series(dates).dropna().unique()))
    if len(d) < 2:
        raise EquicareError("a series needs at least two dates to tell its frequency; declare frequency:")
    gap = pd.Series(np.diff(d).astype("timedelta64[D]").astype(int)).mode().iloc[0]
    if gap == 1:
        return "daily"
    if gap == 7:
        return "weekly"
    if 28 <= gap <= 31:
        return "monthly"
    raise EquicareError(f"dates are {gap} days apart; series must be daily, weekly or monthly")


def load_counts(df: pd.DataFrame, *, region: str, date: str, value: str, file: str, freq: str = "auto",
                missing: str = "drop", name: str | None = None, date_format: str | None = None,
                date_format_key: str = "date_format") -> CountSeries:
    """Validate a long table of counts (text cells) into a :class:`CountSeries`.

    Dates follow :mod:`equicare.data.dates`: ``YYYY-MM-DD`` always, another way of writing them only in the
    declared ``date_format`` (e.g. ``"%d/%m/%Y"``; ``date_format_key`` is how the caller names it in messages:
    ``date_format`` in a project file, ``--date-format`` on the command line); nothing is guessed.

    Raises
    ------
    ValidationError
        Naming file, spreadsheet row (header = 1), column and rule: a date that is blank or not in ISO or the
        declared format, a value that is not a number or is negative, a blank value under ``missing="error"``, a
        duplicate (region, date), and a date off the series' daily/weekly/monthly grid.
    """
    from equicare.data.dates import date_problems, parse_dates

    problems: list[Problem] = []
    raw_d = df[date].astype("string").str.strip()
    dt = parse_dates(raw_d, date_format)
    problems += date_problems(df, date, dt, file, date_format, date_format_key)
    for i in np.flatnonzero((raw_d.isna() | (raw_d == "")).fillna(True).to_numpy(bool))[:20]:
        problems.append(Problem(file, sheet_row(df, i), date, "missing date"))
    loc = df[region].astype("string").str.strip()
    for i in np.flatnonzero(loc.isna().to_numpy() | (loc == "").to_numpy())[:20]:
        problems.append(Problem(file, sheet_row(df, i), region, "missing region id"))
    text = df[value].astype("string").str.strip()
    blank = text.isna() | (text == "")
    num = pd.to_numeric(text.where(~blank), errors="coerce")
    for i in np.flatnonzero((~blank & num.isna()).to_numpy())[:20]:
        problems.append(Problem(file, sheet_row(df, i), value, "not a number", df[value].iloc[i]))
    for i in np.flatnonzero((num < 0).fillna(False).to_numpy())[:20]:
        problems.append(Problem(file, sheet_row(df, i), value, "negative count", num.iloc[i]))
    if missing == "error":
        for i in np.flatnonzero(blank.to_numpy())[:20]:
            problems.append(Problem(file, sheet_row(df, i), value, "missing value (policy error)"))
    key = pd.DataFrame({"d": dt, "l": loc})
    for i in np.flatnonzero((key.duplicated() & dt.notna()).to_numpy())[:20]:
        problems.append(Problem(file, sheet_row(df, i), date, "duplicate (region, date)", f"{loc.iloc[i]}, {raw_d.iloc[i]}"))
    if problems:
        raise ValidationError(problems)
    frame = pd.DataFrame({"date": dt.dt.normalize(), "location": loc.astype(str), "value": num.astype(float)})
    if missing in ("impute_zero",):
        frame["value"] = frame["value"].fillna(0.0)
    frame = frame[frame["value"].notna()]
    if frame.empty:
        raise ValidationError([Problem(file, None, value, "no observed values")])
    f = detect_frequency(frame["date"]) if freq == "auto" else freq
    s = CountSeries(frame.sort_values(["location", "date"]).reset_index(drop=True), f, name or str(value).lower())
    on = pd.Index(s.grid())
    off = ~frame["date"].isin(on)
    if off.any():
        rows = frame.index[off.to_numpy()][:20]
        raise ValidationError([Problem(file, sheet_row(df, df.index.get_loc(i)), date, f"not on the {f} grid starting "
                                       f"{on[0].date()} (one date per step)", str(frame.loc[i, "date"].date()))
                               for i in rows])
    return s


def series_panel(s: CountSeries, population: Mapping[str, float] | None = None) -> Panel:
    """The series as a dense step-by-location :class:`~equicare.forecast.truth.Panel` (NaN where absent)."""
    wide = s.frame.pivot(index="date", columns="location", values="value").reindex(s.grid())
    locs = tuple(str(c) for c in wide.columns)
    pop = np.full(len(locs), NOMINAL_POPULATION)
    if population is not None:
        got = np.array([float(population.get(c, np.nan)) for c in locs])
        bad = [c for c, p in zip(locs, got) if not p > 0]
        if bad:
            raise EquicareError(f"no population (> 0) for series region(s) {', '.join(bad[:10])}")
        pop = got
    return Panel(wide.index, locs, wide.to_numpy(float), pop)


def model_for(name: str | ForecastModel, freq: str) -> ForecastModel:
    """A model by name, with its seasonal settings for the frequency (seasonal-naive period, no week-based
    season features for daily or monthly series).

    ``ensemble`` (the default) and ``damped_trend`` are the count-aware
    :class:`~equicare.forecast.models.counts.CountEnsemble` here (all members, or the damped trend alone): the flu
    ensemble and damped trend work on the fourth-root rate scale, whose intervals explode on small counts
    (docs/forecast.md, *Any count series*).  The flu path (:mod:`equicare.forecast.run`) keeps its models."""
    if isinstance(name, ForecastModel):
        return name
    if name not in SERIES_MODELS:
        raise EquicareError(f"unknown forecast model {name!r}; choose one of {', '.join(SERIES_MODELS)}")
    from equicare.forecast.models import CountEnsemble, PooledAR, SeasonalNaive

    if name in ("ensemble", "count_ensemble"):
        return CountEnsemble(period=COUNT_SEASON[freq])
    if name == "damped_trend":
        return CountEnsemble(period=COUNT_SEASON[freq], members=("trend",))
    if name == "seasonal_naive":
        return SeasonalNaive(period=PERIODS[freq])
    if name == "pooled_ar" and freq != "weekly":
        return PooledAR(season=False)
    return SERIES_MODELS[name]()


def _cut(panel: Panel, n: int) -> Panel:
    """The first ``n`` steps (the information rule: later rows are never seen)."""
    return Panel(panel.dates[:n], panel.locations, panel.values[:n], panel.population)


def _table(s: CountSeries, ref: pd.Timestamp, locs: Sequence[str], horizons: Sequence[int], values: np.ndarray,
           levels: Sequence[float]) -> pd.DataFrame:
    """Hubverse rows; ``values[location, horizon, 23]`` sorted, clipped at 0, interpolated to ``levels``."""
    v = np.sort(np.maximum(np.asarray(values, float), 0.0), axis=-1)
    lv = np.asarray(levels, float)
    if not np.array_equal(lv, _Q):
        v = np.stack([np.stack([np.interp(lv, _Q, v[i, j]) for j in range(v.shape[1])]) for i in range(v.shape[0])])
    nl, nh, nq = v.shape
    h = np.tile(np.repeat(np.asarray(horizons, int), nq), nl)
    ends = {int(k): s.step(ref, int(k)).strftime("%Y-%m-%d") for k in horizons}
    return pd.DataFrame({
        "reference_date": ref.strftime("%Y-%m-%d"), "horizon": h, "target": s.target,
        "target_end_date": [ends[int(k)] for k in h], "location": np.repeat(np.asarray(locs, dtype=object), nh * nq),
        "output_type": "quantile", "output_type_id": np.tile(np.round(lv, 4), nl * nh), "value": v.reshape(-1),
    }, columns=list(COLUMNS))


def forecast_counts(s: CountSeries, as_of: object = None, model: str | ForecastModel = "ensemble",
                    horizons: Sequence[int] = (0, 1, 2, 3), levels: Sequence[float] = QUANTILES,
                    population: Mapping[str, float] | None = None, panel: Panel | None = None) -> pd.DataFrame:
    """Quantile forecasts of every series for one reference date (default: one step after the last date).

    Returns
    -------
    pandas.DataFrame
        Hubverse quantile rows (:data:`~equicare.forecast.hub.COLUMNS`); ``target`` is e.g. ``wk inc admissions``.

    Raises
    ------
    EquicareError
        ``as_of`` is not on the series' grid, or no observation precedes it.
    """
    hz = [int(h) for h in horizons]
    if not hz or min(hz) < 0 or len(set(hz)) != len(hz) or any(h != float(x) for h, x in zip(hz, horizons)):
        raise EquicareError(f"horizons must be distinct whole numbers of steps >= 0, at least one "
                            f"(got {', '.join(map(str, horizons)) or 'none'})")
    panel = panel if panel is not None else series_panel(s, population)
    last = s.frame["date"].max()
    ref = s.step(last, 1) if as_of is None else pd.Timestamp(as_of).normalize()
    grid = list(panel.dates) + [s.step(last, k) for k in range(1, 60)]
    if ref not in grid:
        k = _steps_after(s, last, ref) if ref > grid[-1] else 0
        if k and s.step(last, k) == ref:
            raise EquicareError(f"the reference date (as_of) {ref.date()} is {k:,} steps after the last "
                                f"observation ({last.date()}); at most 59 steps ahead")
        raise EquicareError(f"the reference date (as_of) {ref.date()} is not on the {s.freq} grid of the series "
                            f"(e.g. {s.step(last, 1).date()})")
    n = grid.index(ref)
    if n < 2:
        raise EquicareError(f"as_of {ref.date()}: fewer than two observations before it")
    cut = _cut(panel, min(n, len(panel.dates)))
    if n > len(panel.dates):  # reference beyond the data: pad the unseen steps as missing
        pad = np.full((n - len(panel.dates), len(panel.locations)), np.nan)
        cut = Panel(pd.DatetimeIndex(grid[:n]), panel.locations, np.vstack([panel.values, pad]), panel.population)
    seen = ~np.isnan(cut.values).all(axis=0)
    cut = Panel(cut.dates, tuple(c for c, k in zip(cut.locations, seen) if k), cut.values[:, seen],
                cut.population[seen])
    # a region that stopped reporting is forecast from its own last observed step, the horizon counted from
    # there (its interval widens with the gap), as the hub forecast does; the notes say so
    from equicare.forecast.run import predict_from_last_observation

    values, gap = predict_from_last_observation(model_for(model, s.freq), cut, tuple(int(h) for h in horizons))
    table = _table(s, ref, cut.locations, horizons, values, levels)
    lag = gap - gap.min()
    newest = cut.dates[len(cut.dates) - 1 - int(gap.min())]
    unit = {"weekly": "week", "daily": "day", "monthly": "month"}.get(s.freq, "step")
    table.attrs["notes"] = [
        f"region {loc}: last observed {unit} {cut.dates[len(cut.dates) - 1 - int(g)].date()} is {int(k)} "
        f"{unit}{'s' if k != 1 else ''} older than the latest data ({newest.date()}); forecast from that {unit}, "
        f"horizon {int(horizons[0])} being {int(g) + int(horizons[0]) + 1} {unit}s ahead of it"
        for loc, g, k in zip(cut.locations, gap, lag) if k > 0]
    table.attrs["steps_since_last_observation"] = {loc: int(k) for loc, k in zip(cut.locations, lag) if k > 0}
    return table


def _steps_after(s: CountSeries, last: pd.Timestamp, ref: pd.Timestamp) -> int:
    """The first ``k`` with ``last`` + ``k`` steps at or after ``ref`` (0 beyond 5,000 steps)."""
    lo, hi = 1, 5_000
    try:
        if s.step(last, hi) < ref:
            return 0
    except (ValueError, OverflowError):  # beyond the dates pandas can hold: bisect below them
        hi = 1_000
    while lo < hi:  # bisection: steps are increasing in k
        mid = (lo + hi) // 2
        if s.step(last, mid) < ref:
            lo = mid + 1
        else:
            hi = mid
    return lo


def backtest_counts(s: CountSeries, holdout: int = 8, model: str | ForecastModel = "ensemble",
                    horizons: Sequence[int] = (0, 1, 2, 3), population: Mapping[str, float] | None = None
                    ) -> pd.DataFrame:
    """Forecasts at the last ``holdout`` reference dates whose every horizon is observed (23 levels)."""
    panel = series_panel(s, population)
    T, hmax = len(panel.dates), max(horizons)
    first = max(4, T - hmax - holdout)
    refs = [panel.dates[i] for i in range(first, T - hmax)]
    if not refs:
        raise EquicareError(f"the series has {T} steps: too short to back-test {holdout} reference dates")
    m = model_for(model, s.freq)
    return pd.concat([forecast_counts(s, r, m, horizons, panel=panel) for r in refs], ignore_index=True)


def score_counts(s: CountSeries, forecasts: pd.DataFrame, horizons: Sequence[int] | None = None,
                 versus: pd.DataFrame | None = None) -> dict:
    """WIS, absolute error of the median and 50%/95% coverage against the observed counts (with ``versus``, on the
    tasks both cover, and the mean WIS ratio), as :func:`~equicare.forecast.scoring.score`; ``horizons``: those
    scored (default: every horizon in ``forecasts``)."""
    from equicare.forecast.scoring import score

    hz = sorted({int(h) for h in forecasts["horizon"]}) if horizons is None else [int(h) for h in horizons]
    return score(s.truth(), forecasts, versus=versus, exclude=(), horizons=tuple(hz),
                 target_end=lambda ref, h: s.step(ref, h))
