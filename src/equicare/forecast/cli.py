"""File-level entry points behind the ``forecast``, ``backtest`` and ``score`` commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from equicare.errors import EquicareError
from equicare.forecast.calibration import AdaptiveSpread
from equicare.forecast.extras import bundled_extras
from equicare.forecast.gaps import check_missing_weeks
from equicare.forecast.hub import load_forecasts
from equicare.forecast.ilinet import load_ilinet
from equicare.forecast.run import DEFAULT_MODEL, backtest, forecast, make_model
from equicare.forecast.scoring import score
from equicare.forecast.series import CountSeries, backtest_counts, forecast_counts, load_counts, score_counts
from equicare.forecast.truth import bundled_path, load_truth
from equicare.forecast.vintages import DEADLINE_DAYS, LATE_DAYS, load_vintages

#: Whether real-time forecasts (``--vintages``) correct the latest weeks for revisions by default.
DEFAULT_NOWCAST = False


def _options(missing_weeks: str | None, adaptive: str | None) -> dict:
    """``missing_weeks=`` and ``adaptive=`` for :func:`forecast`/:func:`backtest`; ``None`` keeps their defaults
    (the fifth selection round's, ``bench/selection-round5.md``)."""
    out: dict = {}
    if missing_weeks is not None:
        out["missing_weeks"] = check_missing_weeks(missing_weeks)
    if adaptive is not None:
        out["adaptive"] = AdaptiveSpread.parse(adaptive)
    return out


def _truth(path: str | None, populations: bool = False) -> pd.DataFrame:
    return load_truth(path if path else bundled_path("target-hospital-admissions.csv"), populations=populations)


def _data(truth: str | None, vintages: str | None, nowcast: bool | None, deadline_days: int | None = None,
          late_days: int | None = None) -> dict:
    """``truth=``/``vintages=``/``nowcast=``: the truth file (bundled by default) or, with ``vintages``, the data
    as published by ``deadline_days`` before each reference date (default 3), or a late weekly release up to
    ``late_days`` after (default 1); then ``truth`` must not be given."""
    for flag, given in (("--deadline-days", deadline_days), ("--late-release-days", late_days)):
        if given is not None and not vintages:
            raise EquicareError(f"{flag} needs --vintages (it says which published version a forecast uses)")
    if vintages:
        if truth:
            raise EquicareError("give --truth or --vintages, not both: with --vintages the forecasts use the data "
                                "as published; score them against the final truth with `equicare score --truth`")
        days = DEADLINE_DAYS if deadline_days is None else deadline_days  # load_vintages checks them before reading
        late = LATE_DAYS if late_days is None else late_days
        return {"truth": None, "vintages": load_vintages(vintages, days, late),
                "nowcast": DEFAULT_NOWCAST if nowcast is None else nowcast}
    if nowcast:
        raise EquicareError("--nowcast needs --vintages (the data as published)")
    return {"truth": _truth(truth, populations=True)}  # forecast from it: each location needs a population


def _write(table: pd.DataFrame, out: str) -> int:
    from equicare.csvout import write_csv
    from equicare.forecast.hub import WRITTEN_DECIMALS

    write_csv(table, Path(out), decimals=WRITTEN_DECIMALS)
    return len(table)


def _inputs(model: str | None, history: str | None, ilinet: str | None, extras: bool) -> dict:
    """``model=`` and ``history=`` for the commands. Files given win; otherwise, with ``extras``, the bundled
    NHSN history and ILINet (:mod:`equicare.forecast.extras`) for the models that can use them. ``ilinet`` is one
    path or comma-separated paths; naming it for a model that cannot use it is an error."""
    name = model or DEFAULT_MODEL
    bundled = bundled_extras(extras)
    paths = [p.strip() for p in ilinet.split(",") if p.strip()] if ilinet else []
    built = make_model(name, load_ilinet(paths)) if paths else make_model(name, bundled.augment, strict=False)
    return {"model": built, "history": load_truth(history) if history else bundled.history}


def _say(table: pd.DataFrame, notes: Callable[[str], None] | None, first: list[str] | None = None) -> pd.DataFrame:
    for n in [*(first or []), *table.attrs.get("notes", [])] if notes is not None else []:
        notes(n)
    return table


#: Models of the flu path that forecast counts as they are (no population needed).
_COUNT_MODELS = ("flat_baseline", "seasonal_naive")


def hub_data_note(locations: object, model: str | None, history: str | None, ilinet: str | None, extras: bool,
                  source: str) -> str | None:
    """What a forecast from a planner's own file on the flu path (``--vintages`` or ``--truth``) takes from the US
    hub: its 2-digit codes read as US states (named), the states' populations (bundled ``locations.csv``) for the
    models on rates per 100,000, and the bundled US training extras unless ``--no-extras``; ``None`` when the
    file has no state code.  So a planner elsewhere whose codes look like FIPS codes is not silently given US
    numbers.  A file that has the national ``US`` row too is the hub's own data: no note."""
    from equicare.forecast.models import PooledAR, PooledGBM, PooledGBQR, QuantileEnsemble
    from equicare.forecast.run import get_model
    from equicare.forecast.truth import hub_location_names

    names = hub_location_names()
    given = {str(c) for c in locations}
    codes = sorted(given - {"US"})
    if not codes or "US" in given:
        return None
    shown = ", ".join(f"{c} {names.get(c, '?')}" for c in codes[:8]) + (
        f" and {len(codes) - 8} more" if len(codes) > 8 else "")
    name = model or DEFAULT_MODEL
    parts = [f"{source}: locations read as the US FluSight hub's states (FIPS codes): {shown}"]
    if name not in _COUNT_MODELS:
        parts.append(f"the model {name!r} works on rates per 100,000 with these US states' populations (the hub's "
                     "locations.csv)")
    used = []
    if extras and not history:
        used.append("the bundled US flu admissions 2020-23 for the weeks the file lacks")
    if extras and not ilinet and isinstance(get_model(name), (PooledAR, PooledGBM, PooledGBQR, QuantileEnsemble)):
        used.append("the bundled US ILINet epidemics as extra training data")
    if used:
        parts.append("it also uses " + " and ".join(used) + " (--no-extras: this file alone)")
    parts.append("this path is for US data: forecast other places' counts with `equicare forecast --series`")
    return "; ".join(parts)


def _source_note(table: pd.DataFrame, truth: str | None, vintages: str | None, model: str | None,
                 history: str | None, ilinet: str | None, extras: bool) -> list[str]:
    """:func:`hub_data_note` for a planner's file (none for the bundled US truth)."""
    given = vintages or truth
    if not given:
        return []
    note = hub_data_note(table["location"].unique(), model, history, ilinet, extras, Path(given).name)
    return [note] if note else []


def forecast_to_csv(truth: str | None, reference_date: str, out: str, model: str | None = None,
                    history: str | None = None, ilinet: str | None = None, extras: bool = True,
                    notes: Callable[[str], None] | None = None, vintages: str | None = None,
                    nowcast: bool | None = None, integer: bool = False, missing_weeks: str | None = None,
                    adaptive: str | None = None, deadline_days: int | None = None,
                    late_days: int | None = None) -> int:
    """Forecast one reference date from a truth file (or, with ``vintages``, from the data as published on
    ``R - deadline_days``, default ``R - 3``, or a late release up to ``late_days`` after) and write the hubverse
    rows; returns the row count.

    ``notes`` receives each note of the forecast (e.g. a location forecast from an older last week), and first,
    for a planner's file (``truth`` or ``vintages``), what it takes from the US hub (:func:`hub_data_note`).
    ``missing_weeks`` (``carry``, ``model-sqrt``, ``model-carry``) and ``adaptive`` (``off``, ``8:both``, ...)
    override the defaults (see :func:`~equicare.forecast.run.forecast`)."""
    data = _data(truth, vintages, nowcast, deadline_days, late_days)
    table = forecast(reference_date=reference_date, integer=integer, **data, **_options(missing_weeks, adaptive),
                     **_inputs(model, history, ilinet, extras))
    return _write(_say(table, notes, _source_note(table, truth, vintages, model, history, ilinet, extras)), out)


def backtest_to_csv(truth: str | None, start: str, end: str, out: str, model: str | None = None,
                    history: str | None = None, progress: Callable[[int, int], None] | None = None,
                    ilinet: str | None = None, extras: bool = True, notes: Callable[[str], None] | None = None,
                    vintages: str | None = None, nowcast: bool | None = None, integer: bool = False,
                    missing_weeks: str | None = None, adaptive: str | None = None,
                    deadline_days: int | None = None, late_days: int | None = None) -> int:
    """Backtest every Saturday from ``start`` to ``end`` and write the hubverse rows; returns the row count.

    With ``vintages``, each reference date uses the data as published on or before it minus ``deadline_days``
    (default 3) days, or a late weekly release up to ``late_days`` (default 1) after that.
    ``missing_weeks`` and ``adaptive`` as for :func:`forecast_to_csv`."""
    data = _data(truth, vintages, nowcast, deadline_days, late_days)
    table = backtest(start=start, end=end, progress=progress, integer=integer, **data,
                     **_options(missing_weeks, adaptive), **_inputs(model, history, ilinet, extras))
    return _write(_say(table, notes, _source_note(table, truth, vintages, model, history, ilinet, extras)), out)


def format_score(result: dict) -> str:
    """Plain-text table of a :func:`~equicare.forecast.scoring.score` result."""
    has_v = "wis_ratio" in result
    head = f"{'horizon':>8} {'tasks':>6} {'WIS':>10} {'AE(median)':>11} {'cov50':>6} {'cov95':>6}"
    if has_v:
        head += f" {'WIS versus':>11} {'WIS ratio':>9}"
    lines = [head]

    def row(label: str, r: dict) -> str:
        s = (f"{label:>8} {r['n_tasks']:>6d} {r['wis']:>10.2f} {r['ae_median']:>11.2f} "
             f"{r['coverage_50']:>6.3f} {r['coverage_95']:>6.3f}")
        if has_v:
            ratio = "n/a" if r["wis_ratio"] is None else f"{r['wis_ratio']:.3f}"  # undefined: a note says why
            s += f" {r['wis_versus']:>11.2f} {ratio:>9}"
        return s

    for h, r in result["by_horizon"].items():
        lines.append(row(str(h), r))
    lines.append(row("all", result))
    lines += [f"note: {n}" for n in result.get("notes", [])]
    for key, which in (("incomplete_tasks", "forecasts"), ("incomplete_tasks_versus", "--versus forecasts")):
        tasks = result.get(key) or []
        if tasks:
            shown = "; ".join(f"{r} {loc} horizon {h} lacks {', '.join(f'{x:g}' for x in miss)}"
                              for r, loc, h, miss in tasks[:5])
            more = f"; ... and {len(tasks) - 5} more" if len(tasks) > 5 else ""
            lines.append(f"note: {len(tasks)} task{'s' if len(tasks) != 1 else ''} of the {which} left out "
                         f"(not all 23 quantile levels): {shown}{more}")
    return "\n".join(lines)


def read_series(path: str, region: str | None, date: str | None, value: str | None,
                date_format: str | None = None, notes: Callable[[str], None] | None = None,
                sheet: str | None = None, decimal: str | None = None) -> CountSeries:
    """A planner's count series from a CSV/XLSX (``--series``): columns named by ``region``, ``date`` and
    ``value`` (default ``region``, ``date``, ``value``; matched ignoring case; ids kept as written but for
    surrounding spaces and Unicode composition, said in ``notes``; ``NA`` stays an id); dates ``YYYY-MM-DD`` or
    in the declared ``date_format`` (``--date-format``; :mod:`equicare.data.dates`, never guessed); ``sheet``
    (``--sheet``, the project key ``sheet``) picks an XLSX sheet by name or 0-based number; ``decimal``
    (``--decimal``, the project key ``decimal``) declares a CSV's decimal mark (``,`` reads ``1.443`` as
    1443); blank values are said to ``notes`` (left out, not zero).

    Raises
    ------
    ValidationError
        As :func:`~equicare.forecast.series.load_counts` (file, row, column, rule), or a column that is missing
        (naming the workbook's other sheets), or an unknown sheet.
    EquicareError
        ``date_format`` is not a valid format, or ``decimal`` is neither ``.`` nor ``,``.
    """
    from equicare.data.dates import check_date_format
    from equicare.data.readers import read_table
    from equicare.errors import Problem, ValidationError
    from equicare.project.spec import resolve_column

    fmt = check_date_format(date_format, "--date-format")
    if decimal is not None and decimal not in (".", ","):
        raise EquicareError(f"--decimal must be '.' or ',' (got {decimal!r})")
    name = Path(path).name
    region, date, value = region or "region", date or "date", value or "value"
    df = read_table(path, label=name, sheet=sheet, decimal=decimal, ids=(region,))
    try:
        cols = {k: resolve_column(df, v, name, f"--{k}") for k, v in (("region", region), ("date", date),
                                                                       ("value", value))}
    except ValidationError as exc:
        others = _other_sheets(path, sheet)
        if others:
            p = exc.problems[0]
            raise ValidationError([Problem(p.file, p.row, p.column, f"{p.rule}; looked for on sheet {others[0]!r}, "
                                           f"the workbook has also {', '.join(repr(o) for o in others[1:])}: "
                                           "choose one with --sheet", p.value)]) from None
        raise
    s = load_counts(df, region=cols["region"], date=cols["date"], value=cols["value"], file=name,
                    date_format=fmt, date_format_key="--date-format")
    n_blank = int(df[cols["value"]].astype("string").str.strip().fillna("").eq("").sum())
    if notes is not None:
        for n in s.notes:
            notes(n)
        if n_blank:  # said, as `equicare run`'s cleaning report says it
            notes(f"{n_blank:,} blank value{'s' if n_blank != 1 else ''} in {name} column '{cols['value']}' read "
                  "as not reported (left out, not zero)")
    return s


def _other_sheets(path: str, sheet: str | None) -> list[str]:
    """For an XLSX with several sheets: the sheet read first, then the others; else ``[]``."""
    if Path(path).suffix.lower() not in (".xlsx", ".xlsm"):
        return []
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True)
        names = list(wb.sheetnames)
        wb.close()
    except Exception:  # noqa: BLE001 - only a hint; the reader has already read the file
        return []
    if len(names) < 2:
        return []
    if sheet is None:
        used = names[0]
    elif str(sheet).strip().isdigit() and str(sheet).strip() not in names:
        used = names[int(str(sheet).strip())]
    else:
        used = next((n for n in names if n.lower() == str(sheet).lower()), str(sheet))
    return [used] + [n for n in names if n != used]


def series_date(text: str, option: str, date_format: str | None = None) -> str:
    """A date option given with ``--series`` (e.g. ``--reference-date``) as ``YYYY-MM-DD``: written so, or in the
    declared ``date_format``."""
    from equicare.data.dates import check_date_format, parse_date

    fmt = check_date_format(date_format, "--date-format")
    return parse_date(text, option, fmt, "--date-format").strftime("%Y-%m-%d")


#: Steps ahead of a series forecast from the command line (``--horizons N``: horizons ``0 .. N - 1``).
SERIES_HORIZONS = 4
#: Reference dates of a series back-test from the command line (``--holdout``).
SERIES_HOLDOUT = 8


def _write_series(table: pd.DataFrame, out: str, integer: bool, notes: Callable[[str], None] | None) -> int:
    """Write a series' forecast rows (whole-number quantiles with ``integer``), then say its notes."""
    from equicare.forecast.run import integer_quantiles

    if integer:  # whole-number quantiles, as for the flu forecasts (monotone and non-negative stay so)
        table["value"] = integer_quantiles(table["value"].to_numpy(float))
    n = _write(table, out)
    _say(table, notes)
    return n


def forecast_series_to_csv(series: CountSeries, reference_date: str | None, out: str, model: str | None = None,
                           horizons: int | None = None, integer: bool = False,
                           notes: Callable[[str], None] | None = None) -> int:
    """Forecast a count series for one reference date (default one step after its last date;
    :func:`~equicare.forecast.series.forecast_counts`, horizons ``0 .. horizons - 1``, default
    :data:`SERIES_HORIZONS`) and write the hubverse rows; returns the row count. ``notes`` receives the
    forecast's notes."""
    h = SERIES_HORIZONS if horizons is None else horizons
    table = forecast_counts(series, reference_date, model or "ensemble", horizons=tuple(range(h)))
    return _write_series(table, out, integer, notes)


def backtest_series_to_csv(series: CountSeries, out: str, model: str | None = None, horizons: int | None = None,
                           holdout: int | None = None, integer: bool = False,
                           notes: Callable[[str], None] | None = None) -> int:
    """Back-test a count series at its last ``holdout`` (default :data:`SERIES_HOLDOUT`) reference dates whose
    every horizon is observed (:func:`~equicare.forecast.series.backtest_counts`, horizons
    ``0 .. horizons - 1``) and write the hubverse rows; returns the row count. ``notes`` receives the back-test's
    notes (fewer reference dates than asked, regions that stopped reporting)."""
    holdout = SERIES_HOLDOUT if holdout is None else holdout
    if holdout < 1:
        raise EquicareError(f"--holdout must be at least 1 reference date (got {holdout})")
    h = SERIES_HORIZONS if horizons is None else horizons
    table = backtest_counts(series, holdout, model or "ensemble", horizons=tuple(range(h)))
    return _write_series(table, out, integer, notes)


def score_series_files(series: CountSeries, forecasts: str, versus: str | None = None) -> str:
    """Score forecasts of a count series (``forecast --series`` / ``backtest --series`` output) against it,
    optionally against another set; return the printed table."""
    f = load_forecasts(forecasts, target=series.target, target_end=series.step)
    v = load_forecasts(versus, target=series.target, target_end=series.step) if versus else None
    return format_score(score_counts(series, f, versus=v))


def score_files(truth: str | None, forecasts: str, versus: str | None = None) -> str:
    """Score a forecast file (optionally against another) and return the printed table."""
    t = _truth(truth)
    f = load_forecasts(forecasts)
    v = load_forecasts(versus) if versus else None
    return format_score(score(t, f, versus=v))
