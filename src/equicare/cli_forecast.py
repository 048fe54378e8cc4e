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
                         "in real time from the data as published on or before R - 3 days (instead of --truth).")
_DEADLINE = typer.Option(None, "--deadline-days", help="With --vintages: use the versions published on or before "
                         "R - N days (default 3, the hub's Wednesday deadline; 2 = the Thursday, which the hub used "
                         "when a week's release came a day late).")
_NOWCAST = typer.Option(None, "--nowcast/--no-nowcast", help="With --vintages: correct the latest weeks for their "
                        "expected revision, learned from past vintages.")
_MISSING_WEEKS = typer.Option(None, "--missing-weeks", help="Locations whose latest weeks are unpublished: 'carry' "
                              "(default: forecast from the last published week, horizon counted from there), "
                              "'model-sqrt' or 'model-carry' (fill 1-2 missing weeks with the pooled AR's median).")
_ADAPTIVE = typer.Option(None, "--adaptive-spread", help="Adaptive conformal 95% interval factor learned from this "
                         "season's scored forecasts, e.g. '4:both' or '8:widen' (window weeks:mode); default 'off'.")
_HUB_OUT = typer.Option(..., "--out", help="Output CSV (hubverse quantile rows).")
_INTEGER = typer.Option(False, "--integer", help="Whole-number quantiles (the hub's 2025-26 rule), monotone and "
                        "non-negative.")


def forecast_cmd(
    reference_date: str = typer.Option(None, "--reference-date", help="Reference date R (a Saturday, YYYY-MM-DD); "
                                       "with --series: default one step after the last date."),
    out: str = _HUB_OUT,
    truth: str = _TRUTH,
    model: str = _MODEL,
    history: str = _HISTORY,
    ilinet: str = _ILINET,
    extras: bool = _EXTRAS,
    series: str = typer.Option(None, "--series", help="Any count series instead of US flu truth: a CSV/XLSX with "
                               "region ids (any text), dates (daily, weekly or monthly) and counts."),
    region: str = typer.Option("region", "--region", help="With --series: the region id column."),
    date: str = typer.Option("date", "--date", help="With --series: the date column."),
    value: str = typer.Option("value", "--value", help="With --series: the count column."),
    horizons: int = typer.Option(4, "--horizons", min=1, help="With --series: steps ahead (horizons 0..N-1)."),
    date_format: str = typer.Option(None, "--date-format", help="With --series: how the dates are written when "
                                    "not YYYY-MM-DD, e.g. '%d/%m/%Y' (never guessed); also for --reference-date."),
    vintages: str = _VINTAGES,
    deadline_days: int = _DEADLINE,
    nowcast: bool = _NOWCAST,
    integer: bool = _INTEGER,
    missing_weeks: str = _MISSING_WEEKS,
    adaptive_spread: str = _ADAPTIVE,
) -> None:
    """Quantile forecasts for one reference date: US flu admissions (hub truth), or any count series (--series)."""
    from equicare.errors import EquicareError

    if series:
        from pathlib import Path

        flu_only = [name for name, given in (("--truth", truth), ("--history", history), ("--ilinet", ilinet),
                                             ("--vintages", vintages), ("--deadline-days", deadline_days),
                                             ("--nowcast", nowcast), ("--missing-weeks", missing_weeks),
                                             ("--adaptive-spread", adaptive_spread)) if given is not None]
        if flu_only:  # these would be silently ignored: say so instead
            raise EquicareError(f"{', '.join(flu_only)} {'is' if len(flu_only) == 1 else 'are'} for the US flu "
                                "truth, not for --series (a series is forecast from its file as it stands)")

        from equicare.forecast.series import forecast_counts, load_counts
        from equicare.project.spec import resolve_column
        from equicare.project.tables import read_tabular

        df = read_tabular(series, ids=(region,))  # a region "NA" (Namibia) stays an id
        name = Path(series).name
        cols = {k: resolve_column(df, v, name, f"--{k}") for k, v in (("region", region), ("date", date),
                                                                       ("value", value))}
        from equicare.data.dates import check_date_format, parse_date

        fmt = check_date_format(date_format, "--date-format")
        if reference_date is not None:
            reference_date = parse_date(reference_date, "--reference-date", fmt, "--date-format").strftime("%Y-%m-%d")
        s = load_counts(df, region=cols["region"], date=cols["date"], value=cols["value"], file=name,
                        date_format=fmt, date_format_key="--date-format")
        n_blank = int(df[cols["value"]].astype("string").str.strip().fillna("").eq("").sum())
        if n_blank:  # said, as `equicare run`'s cleaning report says it
            typer.echo(f"note: {n_blank:,} blank value{'s' if n_blank != 1 else ''} in {name} column "
                       f"'{cols['value']}' read as not reported (left out, not zero)", err=True)
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

    reference_date = parse_date(reference_date, "--reference-date").strftime("%Y-%m-%d")
    from equicare.forecast import cli as fc

    n = fc.forecast_to_csv(truth, reference_date, out, model=model, history=history, ilinet=ilinet, extras=extras,
                           notes=lambda note: typer.echo(f"note: {note}", err=True), vintages=vintages,
                           nowcast=nowcast, integer=integer, missing_weeks=missing_weeks,
                           adaptive=adaptive_spread, deadline_days=deadline_days)
    typer.echo(f"wrote {n} rows to {out}")


def backtest_cmd(
    start: str = typer.Option(..., "--start", help="First reference date (a Saturday)."),
    end: str = typer.Option(..., "--end", help="Last reference date (a Saturday)."),
    out: str = _HUB_OUT,
    truth: str = _TRUTH,
    model: str = _MODEL,
    history: str = _HISTORY,
    ilinet: str = _ILINET,
    extras: bool = _EXTRAS,
    vintages: str = _VINTAGES,
    deadline_days: int = _DEADLINE,
    nowcast: bool = _NOWCAST,
    integer: bool = _INTEGER,
    missing_weeks: str = _MISSING_WEEKS,
    adaptive_spread: str = _ADAPTIVE,
) -> None:
    """Forecasts for every Saturday from START to END, each using only data available at the time."""
    from equicare.data.dates import parse_date
    from equicare.forecast import cli as fc

    start = parse_date(start, "--start").strftime("%Y-%m-%d")  # YYYY-MM-DD: never guessed
    end = parse_date(end, "--end").strftime("%Y-%m-%d")

    def progress(done: int, total: int) -> None:
        typer.echo(f"\rreference dates: {done}/{total}", nl=done == total, err=True)

    n = fc.backtest_to_csv(truth, start, end, out, model=model, history=history, progress=progress,
                           ilinet=ilinet, extras=extras, notes=lambda note: typer.echo(f"note: {note}", err=True),
                           vintages=vintages, nowcast=nowcast, integer=integer, missing_weeks=missing_weeks,
                           adaptive=adaptive_spread, deadline_days=deadline_days)
    typer.echo(f"wrote {n} rows to {out}")


def score_cmd(
    forecasts: str = typer.Option(..., "--forecasts", help="Hubverse quantile forecasts CSV (or .csv.gz)."),
    truth: str = _TRUTH,
    versus: str = typer.Option(None, "--versus", help="Other model's forecasts for the mean WIS ratio."),
) -> None:
    """WIS, absolute error of the median, 50%/95% coverage and (with --versus) the mean WIS ratio."""
    from equicare.forecast import cli as fc

    typer.echo(fc.score_files(truth, forecasts, versus))
