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
from equicare.errors import EquicareError, Problem, ValidationError, add_capped
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
#: Fewest steps a back-test fits on before its first reference date.
MIN_FIT_STEPS = 4
_UNIT = {"weekly": "week", "daily": "day", "monthly": "month"}


@dataclass(frozen=True)
class CountSeries:
    """Validated counts: ``frame`` has ``date`` (datetime64), ``location`` (text as written), ``value``."""

    frame: pd.DataFrame
    freq: str
    name: str = "count"
    file: str = ""
    """The file the series was read from (for messages)."""
    notes: tuple[str, ...] = ()
    """What reading changed and the user should know (e.g. ids whose spaces were removed)."""

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
    counts: dict[str, int] = {}

    def add(positions, column: str, rule: str, value=lambda i: None) -> None:
        add_capped(problems, counts, np.flatnonzero(np.asarray(positions, bool)),
                   lambda i: Problem(file, sheet_row(df, i), column, rule, value(i)))

    raw_d = df[date].astype("string").str.strip()
    dt = parse_dates(raw_d, date_format)
    problems += date_problems(df, date, dt, file, date_format, date_format_key, counts=counts)
    add((raw_d.isna() | (raw_d == "")).fillna(True).to_numpy(bool), date, "missing date")
    loc, id_notes = _region_ids(df[region], region, file)
    add(loc.isna().to_numpy() | (loc == "").fillna(True).to_numpy(bool), region, "missing region id")
    text = df[value].astype("string").str.strip()
    blank = (text.isna() | (text == "")).fillna(True)
    num = pd.to_numeric(text.where(~blank), errors="coerce").astype(float)
    finite = np.isfinite(num.to_numpy(float))
    add((~blank & num.isna()).to_numpy(bool), value, "not a number", lambda i: df[value].iloc[i])
    add(num.notna().to_numpy() & ~finite, value, "not a finite number (a count is a finite whole number >= 0)",
        lambda i: df[value].iloc[i])
    add(((num < 0).fillna(False).to_numpy() & finite), value, "negative count", lambda i: num.iloc[i])
    frac = finite & (num.to_numpy(float) != np.round(num.to_numpy(float)))
    whole_rule = "not a whole number (a count series holds whole counts)"
    add(frac, value, whole_rule, lambda i: df[value].iloc[i])
    hint = _thousands_hint(text, frac, "--decimal ," if date_format_key.startswith("--") else "decimal: ','")
    first = next((p for p in problems if p.rule == whole_rule), None)
    if hint and first is not None:  # said once, on the first such row
        first.rule += hint
    if missing == "error":
        add(blank.to_numpy(bool), value, "missing value (policy error)")
    key = pd.DataFrame({"d": dt, "l": loc})
    add((key.duplicated() & dt.notna()).to_numpy(bool), date, "duplicate (region, date)",
        lambda i: f"{loc.iloc[i]}, {raw_d.iloc[i]}")
    if problems:
        raise ValidationError(problems, counts=counts)
    frame = pd.DataFrame({"date": dt.dt.normalize(), "location": loc.astype(str), "value": num.astype(float)})
    if missing in ("impute_zero",):
        frame["value"] = frame["value"].fillna(0.0)
    frame = frame[frame["value"].notna()]
    if frame.empty:
        raise ValidationError([Problem(file, None, value, "no observed values")])
    f = detect_frequency(frame["date"]) if freq == "auto" else freq
    s = CountSeries(frame.sort_values(["location", "date"]).reset_index(drop=True), f, name or str(value).lower(),
                    file=file, notes=tuple(id_notes))
    on = pd.Index(s.grid())
    off = ~frame["date"].isin(on)
    if off.any():
        rows = frame.index[off.to_numpy()]
        add_capped(problems, counts, range(len(rows)),
                   lambda k: Problem(file, sheet_row(df, df.index.get_loc(rows[k])), date,
                                     f"not on the {f} grid starting {on[0].date()} (one date per step)",
                                     str(frame.loc[rows[k], "date"].date())))
        raise ValidationError(problems, counts=counts)
    return s


#: Values like ``1.443`` (one to three digits, a dot, exactly three digits): a ``.`` thousands separator.
_GROUPED = r"\d{1,3}(\.\d{3})+"


def _thousands_hint(text: pd.Series, frac: np.ndarray, option: str) -> str:
    """Said when every fractional value of a count column is written like ``1.443``: the ``.`` is most likely a
    thousands separator (Chile, Germany, Spain ...), not a decimal mark."""
    vals = text[frac].dropna()
    if not len(vals) or not vals.str.fullmatch(_GROUPED).all():
        return ""
    ex = vals.iloc[0]
    return (f"; values written like {ex} look like a '.' thousands separator ({ex} = {ex.replace('.', '')}): "
            f"declare the decimal mark ',' ({option}) so '.' is read as a thousands separator, "
            "or write the counts without separators")


def _region_ids(col: pd.Series, column: str, file: str) -> tuple[pd.Series, list[str]]:
    """Region ids as text: surrounding spaces removed and Unicode in its composed form (NFC), so that ``Ñuñoa``
    typed on two keyboards (composed or as ``N`` + combining tilde) is one region; a note says when either
    changed how an id is written (and when two spellings became one region)."""
    raw = col.astype("string")
    loc = raw.str.strip().str.normalize("NFC")
    notes: list[str] = []
    ok = raw.notna()
    spaced = ok & (raw != raw.str.strip())
    if spaced.any():
        ex = raw[spaced].iloc[0]
        notes.append(f"{int(spaced.sum()):,} region id{'s' if spaced.sum() != 1 else ''} in {file} column "
                     f"'{column}' had spaces around them, removed (e.g. {ex!r} read as {ex.strip()!r})")
    nfc = ok & (raw.str.strip() != loc)
    if nfc.any():
        ex = raw[nfc].iloc[0].strip()
        notes.append(f"{int(nfc.sum()):,} region id{'s' if nfc.sum() != 1 else ''} in {file} column '{column}' "
                     f"written with combining accents (Unicode NFD) read in composed form (NFC), so "
                     f"{ex!r} and its composed spelling are one region")
    return loc, notes


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
    """Hubverse rows; ``values[location, horizon, 23]`` sorted, clipped at 0, interpolated to ``levels``.

    A model that gives a value that is not finite is an error naming the regions: a forecast file never has a
    blank or infinite quantile (which ``score`` would then refuse)."""
    raw = np.asarray(values, float)
    bad = ~np.isfinite(raw).reshape(len(locs), -1).all(axis=1)
    if bad.any():
        names = [str(x) for x, b in zip(locs, bad) if b]
        raise EquicareError(f"the model gave no finite quantiles for region{'s' if len(names) != 1 else ''} "
                            f"{', '.join(names[:10])}{' ...' if len(names) > 10 else ''} at {ref.date()}; "
                            "nothing was written")
    v = np.sort(np.maximum(raw, 0.0), axis=-1)
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
    unit = _UNIT.get(s.freq, "step")
    if ref < grid[0]:
        raise EquicareError(f"the reference date (as_of) {ref.date()} is before the series starts "
                            f"({grid[0].date()}); the first possible reference date is "
                            f"{grid[min(2, len(grid) - 1)].date()} "
                            f"(two {unit}s observed before it)")
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
    notes = []
    ahead = int(gap.min())  # steps between the newest data and the reference date's last usable step
    if ahead > 0:
        notes.append(f"the reference date {ref.date()} is {ahead + 1} {unit}s after the latest data "
                     f"({newest.date()}): horizon {int(horizons[0])} is {ahead + int(horizons[0]) + 1} {unit}s ahead "
                     f"of it; the forecast is an extrapolation of {ahead} unseen {unit}{'s' if ahead != 1 else ''} "
                     "and its interval rests on the model's own step-ahead spread, not on what happened since")
    n_obs = (~np.isnan(cut.values)).sum(axis=0)
    lo, hi = list(_Q).index(0.025), list(_Q).index(0.975)
    for i in np.flatnonzero(n_obs < MIN_FIT_STEPS):
        width = float(np.max(values[i, :, hi] - values[i, :, lo]))
        notes.append(f"region {cut.locations[i]}: only {int(n_obs[i])} observed {unit}{'s' if n_obs[i] != 1 else ''} "
                     f"before the reference date; too few to show how much it varies"
                     + (": its 95% interval has zero width, which is not certainty" if width <= 0 else
                        ": its interval rests on them alone"))
    table.attrs["notes"] = notes + [
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
    """Forecasts at the last ``holdout`` reference dates whose every horizon is observed (23 levels), each fitted
    on at least :data:`MIN_FIT_STEPS` steps.

    ``attrs["notes"]`` says when fewer reference dates than ``holdout`` are possible, and which regions stopped
    reporting (forecast from their own last observed step at some reference dates), as :func:`forecast_counts`.

    Raises
    ------
    EquicareError
        The series is too short for one reference date (names the file and the steps needed).
    """
    panel = series_panel(s, population)
    T, hmax = len(panel.dates), max(horizons)
    first = max(MIN_FIT_STEPS, T - hmax - holdout)
    refs = [panel.dates[i] for i in range(first, T - hmax)]
    unit = _UNIT.get(s.freq, "step")
    where = f"{s.file}: " if s.file else ""
    need = MIN_FIT_STEPS + hmax + 1
    if not refs:
        raise EquicareError(f"{where}the series has {T} {unit}s: too short to back-test with horizons 0-{hmax}; "
                            f"one reference date needs at least {need} {unit}s ({MIN_FIT_STEPS} to fit on and "
                            f"{hmax + 1} observed after it); {holdout} reference dates need {need + holdout - 1}")
    notes: list[str] = []
    if len(refs) < holdout:
        notes.append(f"{where}{holdout} reference dates asked (--holdout), only {len(refs)} possible: the series "
                     f"has {T} {unit}s and each reference date needs {MIN_FIT_STEPS} {unit}s before it to fit on "
                     f"and {hmax + 1} after it observed (horizons 0-{hmax}); back-tested "
                     f"{refs[0].date()} to {refs[-1].date()}")
    m = model_for(model, s.freq)
    tables = [forecast_counts(s, r, m, horizons, panel=panel) for r in refs]
    stale: dict[str, list[int]] = {}
    for t in tables:
        for loc, k in t.attrs.get("steps_since_last_observation", {}).items():
            stale.setdefault(loc, []).append(int(k))
    for loc, ks in stale.items():
        last = s.frame.loc[s.frame["location"] == loc, "date"].max()
        notes.append(f"region {loc}: last observed {unit} {last.date()}; at {len(ks)} of {len(refs)} reference "
                     f"dates it was forecast from that {unit}, up to {max(ks)} {unit}{'s' if max(ks) != 1 else ''} "
                     "older than the latest data (the interval widens with the gap); its scores there measure a "
                     "region that stopped reporting")
    out = pd.concat(tables, ignore_index=True)
    out.attrs["notes"] = notes
    return out


def score_counts(s: CountSeries, forecasts: pd.DataFrame, horizons: Sequence[int] | None = None,
                 versus: pd.DataFrame | None = None) -> dict:
    """WIS, absolute error of the median and 50%/95% coverage against the observed counts (with ``versus``, on the
    tasks both cover, and the mean WIS ratio), as :func:`~equicare.forecast.scoring.score`; ``horizons``: those
    scored (default: every horizon in ``forecasts``)."""
    from equicare.forecast.scoring import score

    hz = sorted({int(h) for h in forecasts["horizon"]}) if horizons is None else [int(h) for h in horizons]
    return score(s.truth(), forecasts, versus=versus, exclude=(), horizons=tuple(hz),
                 target_end=lambda ref, h: s.step(ref, h))
