"""Forecasting from the command line: ``equicare forecast``, ``backtest`` and ``score`` (thin shells over
:mod:`equicare.forecast`); registered on the application in :mod:`equicare.cli`."""

from __future__ import annotations

import typer

from equicare.cli_output import write_table

# options shared by `forecast`, `backtest` (and --truth by `score`)
_TRUTH = typer.Option(None, "--truth", help="Hub target data CSV (default: the bundled file).")
_MODEL = typer.Option(None, "--model", help="Forecast model (see equicare.forecast.MODELS).")
_HISTORY = typer.Option(None, "--history", help="Optional older admissions in the same format.")
_ILINET = typer.Option(None, "--ilinet", help="Optional ILINet extract(s), comma-separated (state, HHS-region): "
                       "extra training epidemics.")
_EXTRAS = typer.Option(True, "--extras/--no-extras", help="Train also on the bundled NHSN admissions 2020-23 and "
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
_REGION = typer.Option("region", "--region", help="With --series: the region id column.")
_DATE = typer.Option("date", "--date", help="With --series: the date column.")
_VALUE = typer.Option("value", "--value", help="With --series: the count column.")
_HORIZONS = typer.Option(4, "--horizons", min=1, help="With --series: steps ahead (horizons 0..N-1).")
_DATE_FORMAT = typer.Option(None, "--date-format", help="With --series: how the dates are written when not "
                            "YYYY-MM-DD, e.g. '%d/%m/%Y' (never guessed); also for --reference-date.")
_INTEGER = typer.Option(False, "--integer", help="Whole-number quantiles (the hub's 2025-26 rule), monotone and "
                        "non-negative.")


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

    if series:
        _refuse((("--truth", truth), ("--history", history), ("--ilinet", ilinet), ("--vintages", vintages),
                 ("--deadline-days", deadline_days), ("--late-release-days", late_release_days),
                 ("--nowcast", nowcast), ("--missing-weeks", missing_weeks), ("--adaptive-spread", adaptive_spread)),
                "for the US flu truth, not for --series (a series is forecast from its file as it stands)")
        from equicare.forecast import cli as fc
        from equicare.forecast.series import forecast_counts

        s = fc.read_series(series, region, date, value, date_format,
                           notes=lambda note: typer.echo(f"note: {note}", err=True))
        if reference_date is not None:
            reference_date = fc.series_date(reference_date, "--reference-date", date_format)
        table = forecast_counts(s, reference_date, model or "ensemble", horizons=tuple(range(horizons)))
        if integer:  # whole-number quantiles, as for the flu forecasts (monotone and non-negative stay so)
            from equicare.forecast.run import integer_quantiles

            table["value"] = integer_quantiles(table["value"].to_numpy(float))
        write_table(table, out)
        for note in table.attrs.get("notes", []):
            typer.echo(f"note: {note}", err=True)
        return
    if reference_date is None:
        raise EquicareError("--reference-date is required for the flu truth (or give --series)")
    if date_format is not None:
        raise EquicareError("--date-format is for --series: the flu truth and --reference-date are YYYY-MM-DD")
    from equicare.data.dates import parse_date

    reference_date = parse_date(reference_date, "--reference-date", where=None).strftime("%Y-%m-%d")
    from equicare.forecast import cli as fc

    n = fc.forecast_to_csv(truth, reference_date, out, model=model, history=history, ilinet=ilinet, extras=extras,
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

    if series:
        _refuse((("--start", start), ("--end", end), ("--truth", truth), ("--history", history),
                 ("--ilinet", ilinet), ("--vintages", vintages), ("--deadline-days", deadline_days),
                 ("--late-release-days", late_release_days), ("--nowcast", nowcast),
                 ("--missing-weeks", missing_weeks), ("--adaptive-spread", adaptive_spread)),
                "for the US flu truth, not for --series (a series is back-tested at its last --holdout dates)")
        s = fc.read_series(series, region, date, value, date_format,
                           notes=lambda note: typer.echo(f"note: {note}", err=True))
        n = fc.backtest_series_to_csv(s, out, model=model, horizons=horizons,
                                      holdout=8 if holdout is None else holdout, integer=integer)
        typer.echo(f"wrote {n} rows to {out}")
        return
    _refuse((("--holdout", holdout), ("--date-format", date_format)),
            "for --series (the flu back-test runs from --start to --end, written YYYY-MM-DD)")
    if start is None or end is None:
        raise EquicareError("--start and --end are required for the flu truth (or give --series)")
    start = parse_date(start, "--start", where=None).strftime("%Y-%m-%d")  # YYYY-MM-DD: never guessed
    end = parse_date(end, "--end", where=None).strftime("%Y-%m-%d")

    def progress(done: int, total: int) -> None:
        typer.echo(f"\rreference dates: {done}/{total}", nl=done == total, err=True)

    n = fc.backtest_to_csv(truth, start, end, out, model=model, history=history, progress=progress,
                           ilinet=ilinet, extras=extras, notes=lambda note: typer.echo(f"note: {note}", err=True),
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
) -> None:
    """WIS, absolute error of the median, 50%/95% coverage and (with --versus) the mean WIS ratio; against the flu
    truth, or with --series against a planner's own count series."""
    from equicare.forecast import cli as fc

    if series:
        _refuse((("--truth", truth),), "for the US flu truth; with --series the forecasts are scored against it")
        s = fc.read_series(series, region, date, value, date_format,
                           notes=lambda note: typer.echo(f"note: {note}", err=True))
        typer.echo(fc.score_series_files(s, forecasts, versus))
        return
    _refuse((("--date-format", date_format),), "for --series (the flu files are written YYYY-MM-DD)")
    typer.echo(fc.score_files(truth, forecasts, versus))
