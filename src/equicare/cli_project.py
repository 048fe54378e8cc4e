"""The whole pipeline from the command line: ``equicare demo`` (the bundled US project, as ``equicare run
bundled:us`` runs it, with the demo's scenario options) and ``equicare run PROJECT.yaml``; registered on the
application in :mod:`equicare.cli`."""

from __future__ import annotations

import typer


def demo_cmd(
    out: str = typer.Option("equicare-out", "--out", help="Output folder for report.html, the store and CSVs."),
    store: str = typer.Option(None, "--store", help="DuckDB store (default: OUT/equicare.duckdb)."),
    severity: float = typer.Option(None, "--severity", help="Severe-season multiplier on forecast flu ICU patients."),
    stockpile: int = typer.Option(None, "--stockpile", help="National stockpile of surge ICU beds."),
    as_of: str = typer.Option(None, "--as-of", help="Planning reference date (a Saturday, YYYY-MM-DD)."),
) -> None:
    """Run the whole pipeline on the bundled real US data and write OUT/report.html.

    The job is the bundled US project, run as `equicare run bundled:us` runs it; its files are in OUT/project.
    """
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from equicare.project.bundled_us import demo_params, run_bundled

    params = demo_params(severity=severity, stockpile=stockpile, as_of=as_of)
    console = Console(stderr=True)
    t0 = time.perf_counter()
    with Progress(TextColumn("{task.description:<40}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("starting", total=7)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        result = run_bundled("us", out, params, store_path=store, progress=progress)
    console.print(f"[bold]equicare demo[/bold] run {result.run_id} finished in {time.perf_counter() - t0:.1f} s")
    _print_summary(result, store)


def _print_summary(res, store: str | None) -> None:
    """The key figures of a project run, as `equicare run` and `equicare demo` print them."""
    s, t = res.summary, res.tables
    ineq = t.get("inequality")
    if ineq is not None and len(ineq) and res.project.facilities is not None:
        c0 = f"{res.project.facilities.capacity[0]}_per_1000"
        g = ineq[(ineq["indicator"] == c0) & (ineq["measure"] == "gini")].set_index("level")["estimate"]
        parts = [f"{'small areas' if lvl == 'small area' else 'regions'} {v:.3f}" for lvl, v in g.items()]
        if parts:
            typer.echo(f"Gini of {c0.replace('_per_1000', '').replace('_', ' ')} per 1,000 (pop.-weighted): "
                       + ", ".join(parts))
    for w in s.get("warnings", []):
        typer.echo(f"warning: {w}", err=True)
    for n in s.get("forecast_notes", []):
        typer.echo(f"note: forecast: {n}", err=True)
    for row in s.get("forecast_scores", []):
        typer.echo(f"forecast {row['model']:<15} WIS {row['wis']:.2f}  95% coverage {row.get('coverage_95', float('nan')):.2f}")
    if "min_share" in s:
        what = res.project.allocate.resource.replace("_", " ")
        given = s.get("total_allocated")
        placed = f"; placed {given:,.0f}" if given is not None else ""
        typer.echo(f"{s['regions_with_need']} regions need {s['total_need']:,.0f} {what}; "
                   f"stock {s['stockpile']:,}{placed}; minimum share of need met {100 * s['min_share']:.1f}%")
        left = s["stockpile"] - given if given is not None else 0.0
        if left >= 0.5:  # as the report says it: a low share beside unused stock is not a shortage of stock
            typer.echo(f"note: {left:,.0f} of the {s['stockpile']:,} units are not placed: every region has its need "
                       "met or has reached the most it can staff (its absorption cap, allocate.surge_cap_ratio of "
                       "its capacity)", err=True)
    typer.echo(f"report: {res.report_path}")
    typer.echo(f"store:  {store or (res.out_dir / 'equicare.duckdb')}")


def run_cmd(
    project: str = typer.Argument(..., help="Project file (YAML): regions, facilities, demand, access, forecast, "
                                  "allocate (docs/own-region.md); or bundled:us, the demo's US scenario."),
    out: str = typer.Option("equicare-out", "--out", help="Output folder: report.html, equicare.duckdb and CSVs."),
    store: str = typer.Option(None, "--store", help="DuckDB store (default: OUT/equicare.duckdb)."),
    check: bool = typer.Option(False, "--check", help="Only validate the project file and every input, and print "
                               "what would run."),
) -> None:
    """Run every stage on the planner's own regions, facilities and series from one project file."""
    import time

    from rich.console import Console

    from pathlib import Path

    from equicare.project import check_project, run_project

    if project.startswith("bundled:"):
        from equicare.project.bundled_us import BUNDLED, write_us_project

        which = project.split(":", 1)[1]
        if which not in BUNDLED:
            raise typer.BadParameter(f"no bundled project {which!r}; choose one of {', '.join(BUNDLED)}")
        project = str(write_us_project(Path(out) / "project"))  # what run_bundled writes and runs
        typer.echo(f"bundled project written to {project}", err=True)
    if check:
        _, _, lines = check_project(project)
        typer.echo("\n".join(lines))
        typer.echo("ok: the project file and its inputs are valid")
        return
    console = Console(stderr=True)
    t0 = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        console.print(f"[{done}/{total}] {stage}")

    res = run_project(project, out, store_path=store, progress=progress)
    console.print(f"[bold]{res.project.name}[/bold]: run {res.run_id} finished in {time.perf_counter() - t0:.1f} s")
    _print_summary(res, store)
