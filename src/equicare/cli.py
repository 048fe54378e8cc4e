"""Command-line interface: a thin layer over :mod:`equicare.pipeline` and the stage modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="equicare",
    help="equicare: share scarce health-care resources fairly, sufficiently and at good quality.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("demo")
def demo_cmd(
    out: str = typer.Option("equicare-out", "--out", help="Output folder for report.html, the store and CSVs."),
    store: str = typer.Option(None, "--store", help="DuckDB store (default: OUT/equicare.duckdb)."),
    severity: float = typer.Option(None, "--severity", help="Severe-season multiplier on forecast flu ICU patients."),
    stockpile: int = typer.Option(None, "--stockpile", help="National stockpile of surge ICU beds."),
    as_of: str = typer.Option(None, "--as-of", help="Planning reference date (a Saturday, YYYY-MM-DD)."),
) -> None:
    """Run the whole pipeline on the bundled real US data and write OUT/report.html."""
    import time
    from dataclasses import replace

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from equicare.pipeline import DemoParams, run_demo

    params = DemoParams()
    changes = {k: v for k, v in {"severity": severity, "stockpile": stockpile, "as_of": as_of}.items() if v is not None}
    params = replace(params, **changes)
    console = Console(stderr=True)
    t0 = time.perf_counter()
    with Progress(TextColumn("{task.description:<40}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("starting", total=7)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        result = run_demo(out, params, store_path=store, progress=progress)
    s = result.summary
    console.print(f"[bold]equicare demo[/bold] run {result.run_id} finished in {time.perf_counter() - t0:.1f} s")
    typer.echo(f"Gini of beds per 1,000 (pop.-weighted): counties {s['gini_beds_per_1000_counties']:.3f}, "
               f"states {s['gini_beds_per_1000_states']:.3f}")
    for row in s.get("forecast_scores", []):
        typer.echo(f"forecast {row['model']:<15} WIS {row['wis']:.1f}  95% coverage {row.get('coverage_95', float('nan')):.2f}")
    typer.echo(f"{s['states_with_need']} states need {s['total_need']:,.0f} surge ICU beds; stockpile {s['stockpile']:,}; "
               f"minimum share of need met {100 * s['min_share']:.1f}%")
    typer.echo(f"report: {result.report_path}")
    typer.echo(f"store:  {store or (result.out_dir / 'equicare.duckdb')}")


@app.command("load")
def load_cmd(
    path: str = typer.Argument(..., help="CSV or Parquet file."),
    kind: str = typer.Option(..., "--kind", help="Table kind: regions, facilities, demand or costs."),
    name: str = typer.Option(None, "--name", help="Dataset name in the store (default: the file's stem)."),
    store: str = typer.Option("equicare-out/equicare.duckdb", "--store", help="DuckDB store."),
    regions: str = typer.Option(None, "--regions", help="Name of a stored regions dataset to check region ids against."),
) -> None:
    """Validate and clean a file, store it, and print the cleaning report (a rejected file stores nothing)."""
    from pathlib import Path

    from equicare.data import fingerprint, load_table
    from equicare.store import Store

    with Store(store) as st:
        known = None
        if regions:
            ds = st.find_dataset(regions)
            if ds is None:
                raise typer.BadParameter(f"no regions dataset called {regions!r} in {store}")
            known = set(st.get_dataset(ds)["id"])
        table, report = load_table(path, kind, regions=known)
        ds_id = st.save_dataset(name or Path(path).stem, kind, table, source=Path(path).name,
                                fingerprint=fingerprint(path), report=report.to_dict())
    typer.echo(f"stored {len(table):,} rows as dataset {ds_id} ({kind})")
    rep = report.to_frame()
    if len(rep):
        typer.echo(rep.to_string(index=False))


@app.command("forecast")
def forecast_cmd(
    reference_date: str = typer.Option(..., "--reference-date", help="Reference date R (a Saturday, YYYY-MM-DD)."),
    out: str = typer.Option(..., "--out", help="Output CSV (hubverse quantile rows)."),
    truth: str = typer.Option(None, "--truth", help="Hub target data CSV (default: the bundled file)."),
    model: str = typer.Option(None, "--model", help="Forecast model (see equicare.forecast.MODELS)."),
    history: str = typer.Option(None, "--history", help="Optional older admissions in the same format."),
) -> None:
    """Quantile forecasts of weekly flu admissions for one reference date (uses data up to R - 7 days)."""
    from equicare.forecast import cli as fc

    n = fc.forecast_to_csv(truth, reference_date, out, model=model, history=history)
    typer.echo(f"wrote {n} rows to {out}")


@app.command("backtest")
def backtest_cmd(
    start: str = typer.Option(..., "--start", help="First reference date (a Saturday)."),
    end: str = typer.Option(..., "--end", help="Last reference date (a Saturday)."),
    out: str = typer.Option(..., "--out", help="Output CSV (hubverse quantile rows)."),
    truth: str = typer.Option(None, "--truth", help="Hub target data CSV (default: the bundled file)."),
    model: str = typer.Option(None, "--model", help="Forecast model (see equicare.forecast.MODELS)."),
    history: str = typer.Option(None, "--history", help="Optional older admissions in the same format."),
) -> None:
    """Forecasts for every Saturday from START to END, each using only data available at the time."""
    from equicare.forecast import cli as fc

    def progress(done: int, total: int) -> None:
        typer.echo(f"\rreference dates: {done}/{total}", nl=done == total, err=True)

    n = fc.backtest_to_csv(truth, start, end, out, model=model, history=history, progress=progress)
    typer.echo(f"wrote {n} rows to {out}")


@app.command("score")
def score_cmd(
    forecasts: str = typer.Option(..., "--forecasts", help="Hubverse quantile forecasts CSV (or .csv.gz)."),
    truth: str = typer.Option(None, "--truth", help="Hub target data CSV (default: the bundled file)."),
    versus: str = typer.Option(None, "--versus", help="Other model's forecasts for the mean WIS ratio."),
) -> None:
    """WIS, absolute error of the median, 50%/95% coverage and (with --versus) the mean WIS ratio."""
    from equicare.forecast import cli as fc

    typer.echo(fc.score_files(truth, forecasts, versus))


def main() -> None:  # pragma: no cover - console entry point
    """Console-script entry point: user errors print a clear message and exit 2, never a stack trace."""
    import sys

    from equicare.errors import EquicareError

    try:
        app(standalone_mode=False)
    except EquicareError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
