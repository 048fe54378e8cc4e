"""Making forecasts under the hub's information rule, for one reference date or a whole season."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from equicare.errors import EquicareError
from equicare.forecast.calibration import AdaptiveSpread, PastForecast, adapt, conformal_factor, past_scores
from equicare.forecast.gaps import (DEFAULT_MISSING_WEEKS, MAX_IMPUTED_WEEKS, check_missing_weeks, impute_missing,
                                    recentre_root, sqrt_factor, widen_root)
from equicare.forecast.hub import HORIZONS, QUANTILES, as_saturday, quantile_table, saturdays
from equicare.forecast.models import MODELS, ForecastModel
from equicare.forecast.truth import Panel, to_panel
from equicare.params import FORECAST_MODEL
from equicare.forecast.vintages import Vintages

#: Model used when none is named.
DEFAULT_MODEL = FORECAST_MODEL
#: Adaptive conformal spread used when none is given (``None``: off); see :mod:`equicare.forecast.calibration`.
DEFAULT_ADAPTIVE: AdaptiveSpread | None = None


def get_model(model: str | ForecastModel) -> ForecastModel:
    """A model instance from a name in :data:`~equicare.forecast.models.MODELS` (or the instance itself)."""
    if isinstance(model, ForecastModel):
        return model
    if model not in MODELS:
        from equicare.forecast.models import SERIES_MODELS

        hint = (" (it works on counts: use it on a count series, `equicare forecast --series` or a project's demand)"
                if model in SERIES_MODELS else "")
        raise EquicareError(f"unknown forecast model {model!r} for the flu rates; choose one of "
                            f"{', '.join(MODELS)}{hint}")
    return MODELS[model]()


def make_model(model: str | ForecastModel, augment: Panel | None = None, strict: bool = True) -> ForecastModel:
    """Build the model called ``model``, optionally with extra training series (``augment``, e.g. ILINet).

    A model instance is returned as it is when ``augment`` is ``None``.  With ``strict=False``, ``augment`` is
    ignored by models that do not train on pooled series (the product's default: every model gets the extras
    it can use).

    Raises
    ------
    EquicareError
        Unknown name; ``augment`` with a model instance (build the instance with ``augment=`` instead); or,
        with ``strict=True``, extra series given to a model that does not train on pooled series.
    """
    from equicare.forecast.models import PooledAR, PooledGBM, PooledGBQR, QuantileEnsemble

    if augment is None:
        return get_model(model)
    if isinstance(model, ForecastModel):
        raise EquicareError("extra training series need a model name; build the model instance with augment=")
    built = get_model(model)
    if not isinstance(built, (PooledAR, PooledGBM, PooledGBQR, QuantileEnsemble)):
        if strict:
            raise EquicareError(f"model {model!r} does not use extra training series; "
                                "choose pooled_ar, pooled_gbm, pooled_gbqr or ensemble")
        return built
    return type(built)(augment=augment)


def _check_horizons(horizons: tuple[int, ...]) -> tuple[int, ...]:
    hz = tuple(int(h) for h in horizons)
    if not hz or any(h < 0 or h > 10 for h in hz) or len(set(hz)) != len(hz):
        raise EquicareError(f"horizons must be distinct integers in 0..10, got {horizons!r}")
    return hz


def integer_quantiles(values: np.ndarray) -> np.ndarray:
    """Quantiles rounded to whole admissions (half up), as the hub asks from 2025-26.

    Rounding ``floor(q + 0.5)`` is non-decreasing in ``q``, so monotone, non-negative quantiles stay so."""
    return np.floor(np.maximum(np.asarray(values, dtype=float), 0.0) + 0.5)


@dataclass(frozen=True)
class _Arrays:
    """One reference date's forecast as arrays: final ``values`` and ``base`` (before the adaptive factor)."""

    reference_date: pd.Timestamp
    cut: Panel
    horizons: tuple[int, ...]
    base: np.ndarray
    values: np.ndarray
    gap: np.ndarray
    filled: np.ndarray
    factor: float

    def past(self) -> PastForecast:
        return PastForecast(self.reference_date, self.cut.locations, self.horizons, self.base)


def _adaptive(setting: AdaptiveSpread | str | None) -> AdaptiveSpread | None:
    return AdaptiveSpread.parse(setting) if isinstance(setting, str) else setting


def _imputer_for(model: ForecastModel) -> ForecastModel:
    """The pooled AR (with the model's extra training series, if any) that fills missing weeks."""
    from equicare.forecast.models import PooledAR

    augment = getattr(model, "augment", None)
    for m in getattr(model, "members", []):
        augment = augment if augment is not None else getattr(m, "augment", None)
    return PooledAR(augment=augment)


def predict_cut(model: ForecastModel, cut: Panel, hz: tuple[int, ...], missing_weeks: str = DEFAULT_MISSING_WEEKS,
                imputer: ForecastModel | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantiles ``(L, H, 23)`` for every location of ``cut`` (already cut at ``R - 7``), gaps handled as
    ``missing_weeks`` says (:mod:`equicare.forecast.gaps`); ``imputer`` defaults to the pooled AR.

    Returns ``(values, gap, filled)``: the quantiles (sorted, non-negative), each location's gap in weeks and
    the mask of locations forecast from imputed weeks."""
    check_missing_weeks(missing_weeks)
    values, gap = predict_from_last_observation(model, cut, hz)
    values = np.sort(np.maximum(values, 0.0), axis=-1)
    filled = np.zeros(len(gap), bool)
    if missing_weeks != "carry" and ((gap >= 1) & (gap <= MAX_IMPUTED_WEEKS)).any():
        panel, filled = impute_missing(cut, imputer if imputer is not None else _imputer_for(model))
        vm = np.sort(np.maximum(model.predict(panel, [h + 1 for h in hz])[filled], 0.0), axis=-1)
        pop = cut.population[filled]
        if missing_weeks == "model-sqrt":
            values[filled] = widen_root(vm, sqrt_factor(gap[filled], hz), pop)
        else:
            values[filled] = recentre_root(vm, values[filled], pop)
    return values, gap, filled


def _forecast_arrays(panel: Panel, ref: pd.Timestamp, model: ForecastModel, hz: tuple[int, ...],
                     missing_weeks: str, adaptive: AdaptiveSpread | None,
                     past: list[PastForecast] | None) -> _Arrays:
    cut = panel.cut(ref - pd.Timedelta(weeks=1))
    seen = ~np.isnan(cut.values).all(axis=0)
    if not seen.any():
        raise EquicareError(f"no observations dated on or before {(ref - pd.Timedelta(weeks=1)).date()} "
                            f"to forecast reference date {ref.date()} from")
    cut = cut.select([loc for loc, s in zip(cut.locations, seen) if s])
    base, gap, filled = predict_cut(model, cut, hz, missing_weeks)
    factor = 1.0
    if adaptive is not None:
        factor = conformal_factor(past_scores(past or [], cut, ref, adaptive.window), adaptive)
    values = adapt(base, cut.population, factor)
    return _Arrays(ref, cut, hz, base, values, gap, filled, factor)


def _table(a: _Arrays, locations: list[str] | None, integer: bool, adaptive: AdaptiveSpread | None) -> pd.DataFrame:
    cut, hz, lag = a.cut, a.horizons, a.gap
    table = quantile_table(a.reference_date, list(cut.locations), hz, a.values)
    if integer:
        table["value"] = integer_quantiles(table["value"].to_numpy())
    wanted = set(locations) if locations is not None else set(cut.locations)
    notes = []
    for loc, k, f in zip(cut.locations, lag, a.filled):
        if k <= 0 or loc not in wanted:
            continue
        last = (cut.dates[-1] - pd.Timedelta(weeks=int(k))).date()
        if f:
            notes.append(f"location {loc}: last observed week {last} is {int(k)} week{'s' if k != 1 else ''} older "
                         f"than the latest data ({cut.dates[-1].date()}); the missing week{'s' if k != 1 else ''} "
                         f"imputed by the pooled AR's median, forecast from there with intervals widened for the gap")
        else:
            notes.append(f"location {loc}: last observed week {last} is {int(k)} week{'s' if k != 1 else ''} older "
                         f"than the latest data ({cut.dates[-1].date()}); forecast from that week, horizon {hz[0]} "
                         f"being {int(k) + hz[0] + 1} weeks ahead of it")
    if adaptive is not None:
        notes.append(f"adaptive spread: factor {a.factor:.3f} on the fourth-root scale (conformal, from the scored "
                     f"forecasts of the last {adaptive.window} weeks)")
    if locations is not None:
        unknown = sorted(set(locations) - set(cut.locations))
        if unknown:
            raise EquicareError(f"no observations for location(s) {', '.join(unknown)} before "
                                f"{a.reference_date.date()}")
        table = table[table["location"].isin(wanted)].reset_index(drop=True)
    table.attrs["notes"] = notes
    table.attrs["weeks_since_last_observation"] = {
        loc: int(k) for loc, k in zip(cut.locations, lag) if k > 0 and loc in wanted}
    table.attrs["spread_factor"] = a.factor
    return table


def forecast_panel(panel: Panel, reference_date: object, model: str | ForecastModel = DEFAULT_MODEL,
                   horizons: tuple[int, ...] = HORIZONS, locations: list[str] | None = None,
                   integer: bool = False, missing_weeks: str = DEFAULT_MISSING_WEEKS,
                   adaptive: AdaptiveSpread | str | None = None,
                   past: list[PastForecast] | None = None) -> pd.DataFrame:
    """Like :func:`forecast`, from an already built :class:`~equicare.forecast.truth.Panel`; with ``adaptive``,
    ``past`` are the earlier forecasts (before the factor) it learns from (none: factor 1)."""
    ref = as_saturday(reference_date)
    ad = _adaptive(adaptive)
    a = _forecast_arrays(panel, ref, get_model(model), _check_horizons(horizons), missing_weeks, ad, past)
    return _table(a, locations, integer, ad)


def predict_from_last_observation(model: ForecastModel, cut: Panel, hz: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles for every location of ``cut``, each counted from the location's own last observed week.

    A location whose last observation is ``k`` weeks older than the panel's last week (it stopped reporting)
    is forecast from a panel cut at that week, ``k + h + 1`` steps ahead for hub horizon ``h``: its
    uncertainty grows with the gap instead of looking as narrow as a location with current data.  Locations
    are grouped by gap, so a model predicts once per distinct gap (pooled models still pool over every
    location's data up to the cut).

    Returns
    -------
    (values, gap)
        ``values[location, horizon, quantile]`` and the gap in weeks of each location.
    """
    observed = ~np.isnan(cut.values)
    last = observed.shape[0] - 1 - np.argmax(observed[::-1], axis=0)
    gap = (observed.shape[0] - 1) - last
    values = np.empty((len(cut.locations), len(hz), len(QUANTILES)))
    for k in np.unique(gap):
        idx = np.flatnonzero(gap == k)
        sub = cut if k == 0 else Panel(cut.dates[: len(cut.dates) - k], cut.locations,
                                       cut.values[: len(cut.dates) - k], cut.population)
        pred = model.predict(sub, [int(k) + h + 1 for h in hz])
        values[idx] = pred[idx]
    return values, gap


def _data_panel(truth: pd.DataFrame | None, vintages: Vintages | None, ref: pd.Timestamp,
                history: pd.DataFrame | None, nowcast: bool, population: pd.Series | None = None
                ) -> tuple[Panel, list[str]]:
    """The panel a forecast for ``ref`` starts from (before the ``R - 7`` cut) and notes on how it was built."""
    if (truth is None) == (vintages is None):
        raise EquicareError("give either truth data or vintages (the data as published), not both")
    if vintages is None:
        if nowcast:
            raise EquicareError("the nowcast correction needs vintages (the data as published)")
        return to_panel(truth, history, population), []
    snap = vintages.realtime(ref, nowcast=nowcast)
    notes = []
    if vintages.is_late(ref):
        notes.append(f"the week ending {(ref - pd.Timedelta(days=7)).date()} was published or corrected after the "
                     f"deadline, on {snap.attrs['cutoff'].date()}: that release is used, as the hub moved its "
                     f"deadline in such weeks (late releases up to {vintages.late_days} "
                     f"day{'s' if vintages.late_days != 1 else ''} after; 0 keeps the strict deadline)")
    if nowcast:
        f = snap.attrs["nowcast_factors"]
        notes.append(f"nowcast: values of the {len(f)} latest published weeks multiplied by "
                     f"{', '.join(f'{x:.3f}' for x in f)} (latest first), learned from past revisions")
    return to_panel(snap, history, population), notes


def forecast(truth: pd.DataFrame | None, reference_date: object, model: str | ForecastModel = DEFAULT_MODEL,
             horizons: tuple[int, ...] = HORIZONS, locations: list[str] | None = None,
             history: pd.DataFrame | None = None, augment: Panel | None = None,
             vintages: Vintages | None = None, nowcast: bool = False, integer: bool = False,
             missing_weeks: str = DEFAULT_MISSING_WEEKS,
             adaptive: AdaptiveSpread | str | None = DEFAULT_ADAPTIVE) -> pd.DataFrame:
    """Quantile forecasts of weekly admissions for one reference date, in hubverse format.

    Information rule: only observations dated ``reference_date - 7`` days or earlier are used (the latest
    complete week when the hub takes submissions); horizon ``h`` targets the week ending
    ``reference_date + 7h`` days, i.e. ``h + 1`` weeks after the last observation used.  With ``vintages``
    (real time), the observations are those published on or before the vintages' deadline, by default
    ``reference_date - 3`` days (the hub's Wednesday deadline; :mod:`equicare.forecast.vintages`).

    Parameters
    ----------
    truth
        Observed admissions from :func:`~equicare.forecast.truth.load_truth`; ``None`` with ``vintages``.
    reference_date
        A Saturday (``YYYY-MM-DD`` string, date or Timestamp).
    model
        A name in :data:`~equicare.forecast.models.MODELS` or a model instance.
    horizons
        Hub horizons, 0..3 by default.
    locations
        Locations to output (all with data when ``None``); pooled models still learn from all locations.
    history
        Optional older observations in the same format, used only for weeks absent from ``truth``.
    augment
        Optional extra training series (ILINet pseudo-rates, see :mod:`equicare.forecast.extras`) for a model
        named by ``model`` that trains on pooled series; other models ignore it.
    vintages
        The data as published (:func:`~equicare.forecast.vintages.load_vintages`), instead of ``truth``.
    nowcast
        With ``vintages``: correct the latest weeks for their expected revision
        (:func:`~equicare.forecast.vintages.nowcast_factors`).
    integer
        Round the quantiles to whole admissions (the hub's 2025-26 rule); they stay monotone and non-negative.
    missing_weeks
        How a location whose latest weeks are missing is forecast: ``"carry"`` (from its own last observed week),
        ``"model-sqrt"`` or ``"model-carry"`` (from weeks imputed by the pooled AR, intervals widened); see
        :mod:`equicare.forecast.gaps`.
    adaptive
        Adaptive conformal spread (:class:`~equicare.forecast.calibration.AdaptiveSpread`, or ``"8:both"``-style
        text, ``None``/``"off"``): the forecast's quantiles are stretched on the fourth-root scale by the factor
        that makes the central 95% intervals of the forecasts of the last ``window`` weeks cover their targets
        as known now.  Here those earlier forecasts are made too (the same model and data rule, one per earlier
        reference date), so the call costs ``window + 1`` forecasts.

    Returns
    -------
    pandas.DataFrame
        Columns ``reference_date, horizon, target, target_end_date, location, output_type, output_type_id,
        value``; one row per location, horizon and each of the 23 quantile levels; values non-negative and
        non-decreasing in the level.  A location whose last observation is older than the latest week (a
        reporting gap) is forecast from its own last observed week, with the horizon counted from there, or
        from imputed weeks (``missing_weeks``), so its intervals widen with the gap; ``attrs["notes"]`` says
        so for each such location (and gives the nowcast factors and the adaptive factor),
        ``attrs["weeks_since_last_observation"]`` maps it to the gap in weeks, ``attrs["spread_factor"]`` is the
        adaptive factor (1 when off).

    Raises
    ------
    EquicareError
        Both or neither of ``truth`` and ``vintages``; ``nowcast`` without vintages; a reference date before
        the first vintage (+3 days); no observation before the reference date.
    """
    ref = as_saturday(reference_date)
    hz = _check_horizons(horizons)
    check_missing_weeks(missing_weeks)
    ad = _adaptive(adaptive)
    m = make_model(model, augment, strict=False)
    past: list[PastForecast] = []
    if ad is not None:
        from equicare.forecast.truth import load_population

        population = load_population()
        for w in range(ad.window, 0, -1):
            r = ref - pd.Timedelta(weeks=w)
            if vintages is not None and vintages.deadline(r) < vintages.first:
                continue
            try:
                p, _ = _data_panel(truth, vintages, r, history, nowcast, population)
                past.append(_forecast_arrays(p, r, m, hz, missing_weeks, None, None).past())
            except EquicareError:
                continue  # no data before that date: nothing to learn from it
    panel, notes = _data_panel(truth, vintages, ref, history, nowcast)
    table = _table(_forecast_arrays(panel, ref, m, hz, missing_weeks, ad, past), locations, integer, ad)
    table.attrs["notes"] = notes + table.attrs.get("notes", [])
    return table


def backtest(truth: pd.DataFrame | None, start: object, end: object, model: str | ForecastModel = DEFAULT_MODEL,
             progress: Callable[[int, int], None] | None = None, horizons: tuple[int, ...] = HORIZONS,
             history: pd.DataFrame | None = None, augment: Panel | None = None,
             vintages: Vintages | None = None, nowcast: bool = False, integer: bool = False,
             missing_weeks: str = DEFAULT_MISSING_WEEKS,
             adaptive: AdaptiveSpread | str | None = DEFAULT_ADAPTIVE) -> pd.DataFrame:
    """Forecasts for every Saturday from ``start`` to ``end`` (inclusive), each under the information rule.

    Parameters
    ----------
    truth, model, horizons, history, augment, vintages, nowcast, integer, missing_weeks, adaptive
        As for :func:`forecast`.  The adaptive factor of each reference date learns from the back-test's own
        earlier forecasts (none before ``start``: the first weeks get factor 1 until 50 tasks are scored).
        With ``vintages`` (real time), each reference date ``R`` uses the data as published on or before its
        deadline (``R - 3`` days unless the vintages say otherwise); the snapshots are computed once per cutoff.
    start, end
        First and last reference dates (Saturdays).
    progress
        Optional ``progress(done, total)`` callback, called after each reference date.

    Returns
    -------
    pandas.DataFrame
        The hubverse rows of all reference dates, concatenated; ``attrs["notes"]`` lists the notes of every
        reference date (stale locations, nowcast factors), each prefixed by its date.
    """
    from equicare.forecast.truth import load_population

    dates = saturdays(start, end)
    population = load_population()
    static = None if vintages is not None else _data_panel(truth, vintages, dates[0], history, nowcast)[0]
    m = make_model(model, augment, strict=False)
    hz = _check_horizons(horizons)
    check_missing_weeks(missing_weeks)
    ad = _adaptive(adaptive)
    tables, notes, past = [], [], []
    for i, ref in enumerate(dates):
        if static is not None:
            panel, pre = static, []
        else:
            panel, pre = _data_panel(truth, vintages, ref, history, nowcast, population)
        a = _forecast_arrays(panel, ref, m, hz, missing_weeks, ad, past)
        past.append(a.past())
        t = _table(a, None, integer, ad)
        notes += [f"{ref.date()}: {n}" for n in pre + t.attrs.get("notes", [])]
        tables.append(t)
        if progress is not None:
            progress(i + 1, len(dates))
    out = pd.concat(tables, ignore_index=True)
    out.attrs["notes"] = notes
    return out
