"""Forecasting from the command line: ``equicare forecast``, ``backtest`` and ``score`` (thin shells over
:mod:`equicare.forecast`); registered on the application in :mod:`equicare.cli`."""

from __future__ import annotations

import typer


# options shared by `forecast`, `backtest` (and --truth by `score`)
_TRUTH = typer.Option(None, "--truth", help="Hub target data CSV (default: the bundled file).")
#: The model names of ``--model`` as the help lists them (a test checks them against
#: :data:`equicare.forecast.models.SERIES_MODELS`; ``count_ensemble`` is for --series only).
MODEL_NAMES = ("ensemble", "seasonal_naive", "flat_baseline", "linear", "pooled_ar", "pooled_gbm", "pooled_gbqr",
               "damped_trend", "count_ensemble")
_MODEL = typer.Option(None, "--model", help="Forecast model: " + ", ".join(MODEL_NAMES) + " (count_ensemble with "
                      "--series only; default ensemble).")
_HISTORY = typer.Option(None, "--history", help="Optional older admissions in the same format.")
_ILINET = typer.Option(None, "--ilinet", help="Optional ILINet extract(s), comma-separated (state, HHS-region): "
                       "extra training epidemics.")
_EXTRAS = typer.Option(None, "--extras/--no-extras", help="Train also on the bundled NHSN admissions 2020-23 and "
                       "ILINet extracts where --history/--ilinet are not given (default: on).")
_VINTAGES = typer.Option(None, "--vintages", help="Vintage file (as_of,date,location,value; changes only): forecast "
                         "in real time from the data as published on or before R - 3 days, or in a late release of "
                         "the week (see --late-release-days), instead of --truth.")
_DEADLINE = typer.Option(None, "--deadline-days", help="With --vintages: use the versions published on or before "
                         "R - N days (default 3, the hub's Wednesday deadline).")
_LATE = typer.Option(None, "--late-release-days", help="With --vintages: when the week R - 7 was published or "
                     "corrected up to N days after the deadline (a late weekly release), use that release, as the "
                     "hub moved its deadline in those weeks (default 1: the Thursday; 0 = strict).")
_NOWCAST = typer.Option(None, "--nowcast/--no-nowcast", help="With --vintages: correct the latest weeks for their "
                        "expected revision, learned from past vintages.")
_MISSING_WEEKS = typer.Option(None, "--missing-weeks", help="Locations whose latest weeks are unpublished: 'carry' "
                              "(default: forecast from the last published week, horizon counted from there), "
                              "'model-sqrt' or 'model-carry' (fill 1-2 missing weeks with the pooled AR's median).")
_ADAPTIVE = typer.Option(None, "--adaptive-spread", help="Adaptive conformal 95% interval factor learned from this "
                         "season's scored forecasts, e.g. '4:both' or '8:widen' (window weeks:mode); default 'off'.")
_HUB_OUT = typer.Option(..., "--out", help="Output CSV (hubverse quantile rows).")
# a planner's own count series (`backtest` and `score`; `forecast` has the same options)
_SERIES = typer.Option(None, "--series", help="Any count series instead of US flu truth: a CSV/XLSX with region ids "
                       "(any text), dates (daily, weekly or monthly) and counts.")
_REGION = typer.Option(None, "--region", help="With --series: the region id column (default 'region').")
_DATE = typer.Option(None, "--date", help="With --series: the date column (default 'date').")
_VALUE = typer.Option(None, "--value", help="With --series: the count column (default 'value').")
_HORIZONS = typer.Option(None, "--horizons", min=1, help="With --series: how many steps ahead, a count N giving "
                         "horizons 0..N-1 (default 4; a project file's horizons: lists them instead).")
_SHEET = typer.Option(None, "--sheet", help="With --series: the XLSX sheet, by name or 0-based number (default the "
                      "first; the project key sheet).")
_DECIMAL = typer.Option(None, "--decimal", help="With --series: the CSV's decimal mark, '.' or ',' (with ',' a '.' "
                        "is a thousands separator: 1.443 reads 1443; the project key decimal). Default detected.")
_DATE_FORMAT = typer.Option(None, "--date-format", help="With --series: how the dates are written when not "
                            "YYYY-MM-DD, e.g. '%d/%m/%Y' (never guessed); also for --reference-date.")
_INTEGER = typer.Option(False, "--integer", help="Whole-number quantiles (the hub's 2025-26 rule), monotone and "
                        "non-negative.")


def _series_only(region, date, value, horizons, date_format, sheet, decimal, holdout=None) -> tuple:
    """The options that only apply with --series (refused without it, never silently ignored)."""
    return (("--region", region), ("--date", date), ("--value", value), ("--horizons", horizons),
            ("--date-format", date_format), ("--sheet", sheet), ("--decimal", decimal), ("--holdout", holdout))


def _flu_only(truth, history, ilinet, extras, vintages, deadline_days, late_release_days, nowcast, missing_weeks,
              adaptive_spread) -> tuple:
    """The options that only apply to the US flu truth (refused with --series, never silently ignored)."""
    return (("--truth", truth), ("--history", history), ("--ilinet", ilinet), ("--extras/--no-extras", extras),
            ("--vintages", vintages), ("--deadline-days", deadline_days), ("--late-release-days", late_release_days),
            ("--nowcast", nowcast), ("--missing-weeks", missing_weeks), ("--adaptive-spread", adaptive_spread))


def _check_model(model: str | None) -> None:
    """An unknown ``--model``: a usage error (exit 2, with the usage line) listing the models."""
    if model is None:
        return
    if model not in MODEL_NAMES:  # (count_ensemble on the flu path: refused by the model factory, with its reason)
        raise typer.BadParameter(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)} (count_ensemble "
                                 "with --series only)", param_hint="'--model'")


def _progress(done: int, total: int) -> None:
    """Back-test progress on stderr: one line rewritten on a terminal; elsewhere (a log) only the final count."""
    import sys

    if sys.stderr.isatty():
        typer.echo(f"\rreference dates: {done}/{total}", nl=done == total, err=True)
    elif done == total:
        typer.echo(f"reference dates: {done}/{total}", err=True)


def _refuse(given: tuple[tuple[str, object], ...], why: str) -> None:
    """Options that would be silently ignored: an error naming them instead."""
    from equicare.errors import EquicareError

    names = [name for name, value in given if value is not None]
    if names:
        raise EquicareError(f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} {why}")


def forecast_cmd(
    reference_date: str = typer.Option(None, "--reference-date", help="Reference date R (a Saturday, YYYY-MM-DD); "
                                       "with --series: default one step after the last date."),
    out: str = _HUB_OUT,
    truth: str = _TRUTH,
    model: str = _MODEL,
    history: str = _HISTORY,
    ilinet: str = _ILINET,
    extras: bool = _EXTRAS,
    series: str = _SERIES,
    region: str = _REGION,
    date: str = _DATE,
    value: str = _VALUE,
    horizons: int = _HORIZONS,
    date_format: str = _DATE_FORMAT,
    sheet: str = _SHEET,
    decimal: str = _DECIMAL,
    vintages: str = _VINTAGES,
    deadline_days: int = _DEADLINE,
    late_release_days: int = _LATE,
    nowcast: bool = _NOWCAST,
    integer: bool = _INTEGER,
    missing_weeks: str = _MISSING_WEEKS,
    adaptive_spread: str = _ADAPTIVE,
) -> None:
    """Quantile forecasts for one reference date: US flu admissions (hub truth), or any count series (--series)."""
    from equicare.errors import EquicareError

    _check_model(model)
    if series:
        _refuse(_flu_only(truth, history, ilinet, extras, vintages, deadline_days, late_release_days, nowcast,
                          missing_weeks, adaptive_spread),
                "for the US flu truth, not for --series (a series is forecast from its file as it stands)")
        from equicare.forecast import cli as fc

        say = lambda note: typer.echo(f"note: {note}", err=True)  # noqa: E731
        s = fc.read_series(series, region, date, value, date_format, notes=say, sheet=sheet, decimal=decimal)
        if reference_date is not None:
            reference_date = fc.series_date(reference_date, "--reference-date", date_format)
        n = fc.forecast_series_to_csv(s, reference_date, out, model=model, horizons=horizons, integer=integer,
                                      notes=say)
        typer.echo(f"wrote {n} rows to {out}", err=True)
        return
    _refuse(_series_only(region, date, value, horizons, date_format, sheet, decimal),
            "for --series only (the flu forecasts have horizons 0-3 and YYYY-MM-DD dates); give --series or "
            "leave them out")
    if reference_date is None:
        raise EquicareError("--reference-date is required for the flu truth (or give --series)")
    from equicare.data.dates import parse_date

    reference_date = parse_date(reference_date, "--reference-date", where=None).strftime("%Y-%m-%d")
    from equicare.forecast import cli as fc

    n = fc.forecast_to_csv(truth, reference_date, out, model=model, history=history, ilinet=ilinet,
                           extras=True if extras is None else extras,
                           notes=lambda note: typer.echo(f"note: {note}", err=True), vintages=vintages,
                           nowcast=nowcast, integer=integer, missing_weeks=missing_weeks,
                           adaptive=adaptive_spread, deadline_days=deadline_days,
                           late_days=late_release_days)
    typer.echo(f"wrote {n} rows to {out}")


def backtest_cmd(
    start: str = typer.Option(None, "--start", help="First reference date (a Saturday; required for the flu truth)."),
    end: str = typer.Option(None, "--end", help="Last reference date (a Saturday; required for the flu truth)."),
    out: str = _HUB_OUT,
    truth: str = _TRUTH,
    model: str = _MODEL,
    history: str = _HISTORY,
    ilinet: str = _ILINET,
    extras: bool = _EXTRAS,
    series: str = _SERIES,
    region: str = _REGION,
    date: str = _DATE,
    value: str = _VALUE,
    horizons: int = _HORIZONS,
    date_format: str = _DATE_FORMAT,
    sheet: str = _SHEET,
    decimal: str = _DECIMAL,
    holdout: int = typer.Option(None, "--holdout", help="With --series: the last N reference dates whose every "
                                "horizon is observed (default 8)."),
    vintages: str = _VINTAGES,
    deadline_days: int = _DEADLINE,
    late_release_days: int = _LATE,
    nowcast: bool = _NOWCAST,
    integer: bool = _INTEGER,
    missing_weeks: str = _MISSING_WEEKS,
    adaptive_spread: str = _ADAPTIVE,
) -> None:
    """Forecasts for every Saturday from START to END, each using only data available at the time; or, with
    --series, for the last --holdout dates of a planner's own count series."""
    from equicare.data.dates import parse_date
    from equicare.errors import EquicareError
    from equicare.forecast import cli as fc

    _check_model(model)
    if series:
        _refuse((("--start", start), ("--end", end),
                 *_flu_only(truth, history, ilinet, extras, vintages, deadline_days, late_release_days, nowcast,
                            missing_weeks, adaptive_spread)),
                "for the US flu truth, not for --series (a series is back-tested at its last --holdout dates)")
        say = lambda note: typer.echo(f"note: {note}", err=True)  # noqa: E731
        s = fc.read_series(series, region, date, value, date_format, notes=say, sheet=sheet, decimal=decimal)
        n = fc.backtest_series_to_csv(s, out, model=model, horizons=horizons, holdout=holdout, integer=integer,
                                      notes=say)
        typer.echo(f"wrote {n} rows to {out}")
        return
    _refuse(_series_only(region, date, value, horizons, date_format, sheet, decimal, holdout),
            "for --series only (the flu back-test runs from --start to --end with horizons 0-3, written "
            "YYYY-MM-DD); give --series or leave them out")
    if start is None or end is None:
        raise EquicareError("--start and --end are required for the flu truth (or give --series)")
    start = parse_date(start, "--start", where=None).strftime("%Y-%m-%d")  # YYYY-MM-DD: never guessed
    end = parse_date(end, "--end", where=None).strftime("%Y-%m-%d")
    n = fc.backtest_to_csv(truth, start, end, out, model=model, history=history, progress=_progress,
                           ilinet=ilinet, extras=True if extras is None else extras,
                           notes=lambda note: typer.echo(f"note: {note}", err=True),
                           vintages=vintages, nowcast=nowcast, integer=integer, missing_weeks=missing_weeks,
                           adaptive=adaptive_spread, deadline_days=deadline_days,
                           late_days=late_release_days)
    typer.echo(f"wrote {n} rows to {out}")


def score_cmd(
    forecasts: str = typer.Option(..., "--forecasts", help="Hubverse quantile forecasts CSV (or .csv.gz)."),
    truth: str = _TRUTH,
    versus: str = typer.Option(None, "--versus", help="Other model's forecasts for the mean WIS ratio."),
    series: str = _SERIES,
    region: str = _REGION,
    date: str = _DATE,
    value: str = _VALUE,
    date_format: str = _DATE_FORMAT,
    sheet: str = _SHEET,
    decimal: str = _DECIMAL,
) -> None:
    """WIS, absolute error of the median, 50%/95% coverage and (with --versus) the mean WIS ratio; against the flu
    truth, or with --series against a planner's own count series."""
    from equicare.forecast import cli as fc

    if series:
        _refuse((("--truth", truth),), "for the US flu truth; with --series the forecasts are scored against it")
        s = fc.read_series(series, region, date, value, date_format,
                           notes=lambda note: typer.echo(f"note: {note}", err=True), sheet=sheet, decimal=decimal)
        typer.echo(fc.score_series_files(s, forecasts, versus))
        return
    _refuse(_series_only(region, date, value, None, date_format, sheet, decimal),
            "for --series only (the flu files are scored against the hub truth, written YYYY-MM-DD); give --series "
            "or leave them out")
    typer.echo(fc.score_files(truth, forecasts, versus))
