"""Making forecasts under the hub's information rule, for one reference date or a whole season."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from equicare.errors import EquicareError
from equicare.forecast.hub import HORIZONS, QUANTILES, as_saturday, quantile_table, saturdays
from equicare.forecast.models import MODELS, ForecastModel
from equicare.forecast.truth import Panel, to_panel
from equicare.params import FORECAST_MODEL
from equicare.forecast.vintages import Vintages

#: Model used when none is named.
DEFAULT_MODEL = FORECAST_MODEL


def get_model(model: str | ForecastModel) -> ForecastModel:
    """A model instance from a name in :data:`~equicare.forecast.models.MODELS` (or the instance itself)."""
    if isinstance(model, ForecastModel):
        return model
    if model not in MODELS:
        raise EquicareError(f"unknown forecast model {model!r}; choose one of {', '.join(MODELS)}")
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
    from equicare.forecast.models import PooledAR, PooledGBM, QuantileEnsemble

    if augment is None:
        return get_model(model)
    if isinstance(model, ForecastModel):
        raise EquicareError("extra training series need a model name; build the model instance with augment=")
    built = get_model(model)
    if not isinstance(built, (PooledAR, PooledGBM, QuantileEnsemble)):
        if strict:
            raise EquicareError(f"model {model!r} does not use extra training series; "
                                "choose pooled_ar, pooled_gbm or ensemble")
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


def forecast_panel(panel: Panel, reference_date: object, model: str | ForecastModel = DEFAULT_MODEL,
                   horizons: tuple[int, ...] = HORIZONS, locations: list[str] | None = None,
                   integer: bool = False) -> pd.DataFrame:
    """Like :func:`forecast`, from an already built :class:`~equicare.forecast.truth.Panel`."""
    ref = as_saturday(reference_date)
    hz = _check_horizons(horizons)
    cut = panel.cut(ref - pd.Timedelta(weeks=1))
    seen = ~np.isnan(cut.values).all(axis=0)
    if not seen.any():
        raise EquicareError(f"no observations dated on or before {(ref - pd.Timedelta(weeks=1)).date()} "
                            f"to forecast reference date {ref.date()} from")
    cut = cut.select([loc for loc, s in zip(cut.locations, seen) if s])
    values, lag = predict_from_last_observation(get_model(model), cut, hz)
    table = quantile_table(ref, list(cut.locations), hz, values)
    if integer:
        table["value"] = integer_quantiles(table["value"].to_numpy())
    notes = [f"location {loc}: last observed week {(cut.dates[-1] - pd.Timedelta(weeks=int(k))).date()} is "
             f"{int(k)} week{'s' if k != 1 else ''} older than the latest data ({cut.dates[-1].date()}); forecast "
             f"from that week, horizon {hz[0]} being {int(k) + hz[0] + 1} weeks ahead of it"
             for loc, k in zip(cut.locations, lag) if k > 0
             and (locations is None or loc in set(locations))]
    if locations is not None:
        unknown = sorted(set(locations) - set(cut.locations))
        if unknown:
            raise EquicareError(f"no observations for location(s) {', '.join(unknown)} before {ref.date()}")
        table = table[table["location"].isin(set(locations))].reset_index(drop=True)
    table.attrs["notes"] = notes
    table.attrs["weeks_since_last_observation"] = {
        loc: int(k) for loc, k in zip(cut.locations, lag) if k > 0 and (locations is None or loc in set(locations))}
    return table


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
    if nowcast:
        f = snap.attrs["nowcast_factors"]
        notes.append(f"nowcast: values of the {len(f)} latest published weeks multiplied by "
                     f"{', '.join(f'{x:.3f}' for x in f)} (latest first), learned from past revisions")
    return to_panel(snap, history, population), notes


def forecast(truth: pd.DataFrame | None, reference_date: object, model: str | ForecastModel = DEFAULT_MODEL,
             horizons: tuple[int, ...] = HORIZONS, locations: list[str] | None = None,
             history: pd.DataFrame | None = None, augment: Panel | None = None,
             vintages: Vintages | None = None, nowcast: bool = False, integer: bool = False) -> pd.DataFrame:
    """Quantile forecasts of weekly admissions for one reference date, in hubverse format.

    Information rule: only observations dated ``reference_date - 7`` days or earlier are used (the latest
    complete week when the hub takes submissions); horizon ``h`` targets the week ending
    ``reference_date + 7h`` days, i.e. ``h + 1`` weeks after the last observation used.  With ``vintages``
    (real time), the observations are those published on or before ``reference_date - 3`` days (the hub's
    Wednesday deadline; :mod:`equicare.forecast.vintages`).

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

    Returns
    -------
    pandas.DataFrame
        Columns ``reference_date, horizon, target, target_end_date, location, output_type, output_type_id,
        value``; one row per location, horizon and each of the 23 quantile levels; values non-negative and
        non-decreasing in the level.  A location whose last observation is older than the latest week (a
        reporting gap) is forecast from its own last observed week, with the horizon counted from there, so
        its intervals widen with the gap; ``attrs["notes"]`` says so for each such location (and gives the
        nowcast factors) and ``attrs["weeks_since_last_observation"]`` maps it to the gap in weeks.

    Raises
    ------
    EquicareError
        Both or neither of ``truth`` and ``vintages``; ``nowcast`` without vintages; a reference date before
        the first vintage (+3 days); no observation before the reference date.
    """
    ref = as_saturday(reference_date)
    panel, notes = _data_panel(truth, vintages, ref, history, nowcast)
    table = forecast_panel(panel, ref, make_model(model, augment, strict=False), horizons, locations, integer)
    table.attrs["notes"] = notes + table.attrs.get("notes", [])
    return table


def backtest(truth: pd.DataFrame | None, start: object, end: object, model: str | ForecastModel = DEFAULT_MODEL,
             progress: Callable[[int, int], None] | None = None, horizons: tuple[int, ...] = HORIZONS,
             history: pd.DataFrame | None = None, augment: Panel | None = None,
             vintages: Vintages | None = None, nowcast: bool = False, integer: bool = False) -> pd.DataFrame:
    """Forecasts for every Saturday from ``start`` to ``end`` (inclusive), each under the information rule.

    Parameters
    ----------
    truth, model, horizons, history, augment, vintages, nowcast, integer
        As for :func:`forecast`.  With ``vintages`` (real time), each reference date ``R`` uses the data as
        published on or before ``R - 3`` days; the snapshots are computed once per cutoff.
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
    tables, notes = [], []
    for i, ref in enumerate(dates):
        if static is not None:
            panel, pre = static, []
        else:
            panel, pre = _data_panel(truth, vintages, ref, history, nowcast, population)
        t = forecast_panel(panel, ref, m, horizons, integer=integer)
        notes += [f"{ref.date()}: {n}" for n in pre + t.attrs.get("notes", [])]
        tables.append(t)
        if progress is not None:
            progress(i + 1, len(dates))
    out = pd.concat(tables, ignore_index=True)
    out.attrs["notes"] = notes
    return out
