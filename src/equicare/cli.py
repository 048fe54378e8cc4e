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


# options shared by `forecast` and `backtest`
_TRUTH = typer.Option(None, "--truth", help="Hub target data CSV (default: the bundled file).")
_MODEL = typer.Option(None, "--model", help="Forecast model (see equicare.forecast.MODELS).")
_HISTORY = typer.Option(None, "--history", help="Optional older admissions in the same format.")
_ILINET = typer.Option(None, "--ilinet", help="Optional ILINet extract(s), comma-separated (state, HHS-region): "
                       "extra training epidemics.")
_EXTRAS = typer.Option(True, "--extras/--no-extras", help="Train also on the bundled NHSN admissions 2020-23 and "
                       "ILINet extracts where --history/--ilinet are not given (default: on).")


@app.command("forecast")
def forecast_cmd(
    reference_date: str = typer.Option(..., "--reference-date", help="Reference date R (a Saturday, YYYY-MM-DD)."),
    out: str = typer.Option(..., "--out", help="Output CSV (hubverse quantile rows)."),
    truth: str = _TRUTH,
    model: str = _MODEL,
    history: str = _HISTORY,
    ilinet: str = _ILINET,
    extras: bool = _EXTRAS,
) -> None:
    """Quantile forecasts of weekly flu admissions for one reference date (uses data up to R - 7 days)."""
    from equicare.forecast import cli as fc

    n = fc.forecast_to_csv(truth, reference_date, out, model=model, history=history, ilinet=ilinet, extras=extras)
    typer.echo(f"wrote {n} rows to {out}")


@app.command("backtest")
def backtest_cmd(
    start: str = typer.Option(..., "--start", help="First reference date (a Saturday)."),
    end: str = typer.Option(..., "--end", help="Last reference date (a Saturday)."),
    out: str = typer.Option(..., "--out", help="Output CSV (hubverse quantile rows)."),
    truth: str = _TRUTH,
    model: str = _MODEL,
    history: str = _HISTORY,
    ilinet: str = _ILINET,
    extras: bool = _EXTRAS,
) -> None:
    """Forecasts for every Saturday from START to END, each using only data available at the time."""
    from equicare.forecast import cli as fc

    def progress(done: int, total: int) -> None:
        typer.echo(f"\rreference dates: {done}/{total}", nl=done == total, err=True)

    n = fc.backtest_to_csv(truth, start, end, out, model=model, history=history, progress=progress,
                           ilinet=ilinet, extras=extras)
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


users_app = typer.Typer(help="Accounts of the web service (API tokens, roles, organisations).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add_cmd(
    name: str = typer.Argument(..., help="User name (letters, digits, _.@-)."),
    org: str = typer.Option(..., "--org", help="Organisation the user belongs to."),
    role: str = typer.Option("viewer", "--role", help="viewer, planner or admin."),
    store: str = typer.Option("equicare-out/equicare.duckdb", "--store", help="DuckDB store."),
) -> None:
    """Create an account and print its API token once (only a salted hash is stored)."""
    from equicare.service.accounts import add_user
    from equicare.service.audit import record
    from equicare.store import Store

    with Store(store) as st:
        token = add_user(st, name, org, role, created_by="cli")
        record(st, "users add", user="cli", org=org, target=f"user:{name}", detail={"role": role})
    typer.echo(token)
    typer.echo(f"user {name!r} ({role}, {org}) created; store the token now, it is not shown again", err=True)


@users_app.command("list")
def users_list_cmd(
    org: str = typer.Option(None, "--org", help="Only this organisation's accounts."),
    store: str = typer.Option("equicare-out/equicare.duckdb", "--store", help="DuckDB store."),
) -> None:
    """List accounts (never their tokens)."""
    import pandas as pd

    from equicare.service.accounts import list_users
    from equicare.store import Store

    with Store(store) as st:
        rows = list_users(st, org)
    typer.echo(pd.DataFrame(rows).to_string(index=False) if rows else "no users")


@app.command("release")
def release_cmd(
    dataset: int = typer.Argument(..., help="Id of a stored row-level dataset."),
    by: str = typer.Option("region", "--by", help="Region column."),
    statistic: str = typer.Option("count", "--statistic", help="count, sum or mean."),
    epsilon: float = typer.Option(..., "--epsilon", help="Privacy loss of this release (charged to the dataset's budget)."),
    column: str = typer.Option(None, "--column", help="Numeric column for a sum or mean."),
    lower: float = typer.Option(None, "--lower", help="Public lower bound of --column."),
    upper: float = typer.Option(None, "--upper", help="Public upper bound of --column."),
    level: str = typer.Option("state", "--level", help="Public region list: state or county."),
    out: str = typer.Option(None, "--out", help="Write the release to this CSV."),
    store: str = typer.Option("equicare-out/equicare.duckdb", "--store", help="DuckDB store."),
) -> None:
    """Differentially private per-region count, sum or mean of a dataset (OpenDP), with its 95% error bound."""
    from equicare.privacy.dp import privacy_budget, privacy_spent, release_dataset
    from equicare.service.releases import public_regions
    from equicare.store import Store

    bounds = None if lower is None and upper is None else (lower, upper)
    if bounds is not None and None in bounds:
        raise typer.BadParameter("give both --lower and --upper")
    with Store(store) as st:
        rel = release_dataset(st, dataset, by=by, statistic=statistic, epsilon=epsilon,
                              regions=public_regions(level)["id"].tolist(), column=column, bounds=bounds,
                              created_by="cli")
        spent, budget = privacy_spent(st, dataset), privacy_budget(st, dataset)
    if out:
        rel.table.to_csv(out, index=False)
    else:
        typer.echo(rel.table.to_string(index=False))
    typer.echo(f"epsilon {rel.epsilon:g} ({rel.mechanism}); 95% error bound {rel.error_bound:,.2f}; "
               f"dataset budget: {spent:g} of {budget:g} spent", err=True)


@app.command("serve")
def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    store: str = typer.Option("equicare-out/equicare.duckdb", "--store", help="DuckDB store (the service is its one writer)."),
) -> None:
    """Start the web service and planner dashboard (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from equicare.service.app import create_app

    typer.echo(f"equicare serving {store} on http://{host}:{port}/ (docs at /docs)", err=True)
    uvicorn.run(create_app(store), host=host, port=port, log_level="info")


def _read_csv_ids(path: str):
    """Read a CSV for the analysis commands, keeping ids as text; unreadable files are user errors."""
    import pandas as pd

    from equicare.errors import EquicareError

    try:
        return pd.read_csv(path, dtype={"id": str, "origin": str, "destination": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EquicareError(f"{path}: cannot read the file ({exc})") from exc


def _write_table(table, out: str | None) -> None:
    from pathlib import Path

    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
        typer.echo(f"wrote {len(table)} rows to {out}", err=True)
    else:
        typer.echo(table.to_csv(index=False), nl=False)


@app.command("access")
def access_cmd(
    demand: str = typer.Option(..., "--demand", help="CSV with columns id and the demand value."),
    supply: str = typer.Option(..., "--supply", help="CSV with columns id and one or more supply values."),
    cost: str = typer.Option(..., "--cost", help="CSV with columns origin,destination,cost (demand id -> supply id)."),
    method: str = typer.Option(..., "--method", help="fca, 2sfca, e2sfca, gravity, 3sfca, raam or nearest."),
    out: str = typer.Option(None, "--out", help="Output CSV (id, <method>_<supply column>); stdout if omitted."),
    demand_value: str = typer.Option("population", "--demand-value", help="Demand column in --demand."),
    supply_value: list[str] = typer.Option(["capacity"], "--supply-value", help="Supply column(s); repeatable."),
    max_cost: float = typer.Option(None, "--max-cost", help="Catchment: keep pairs with cost <= this."),
    weights: str = typer.Option(None, "--weights", help="Step weights 'cost:weight,...' e.g. '4000:1,8000:0.68,12000:0.22'."),
    scale: float = typer.Option(None, "--scale", help="Gravity: f(c) = (max(c, min_dist)/scale)^alpha."),
    alpha: float = typer.Option(None, "--alpha", help="Gravity exponent, with its sign (negative = decay)."),
    min_dist: float = typer.Option(0.0, "--min-dist", help="Gravity: costs below this count as this."),
    sigma: float = typer.Option(None, "--sigma", help="Gravity with Gaussian decay exp(-c^2/(2 sigma^2)) instead of power."),
    tau: float = typer.Option(60.0, "--tau", help="RAAM: travel cost equal to 100% congestion."),
    rho: float = typer.Option(None, "--rho", help="RAAM: demand-to-supply ratio (default: the mean)."),
    max_cycles: int = typer.Option(150, "--max-cycles", help="RAAM iterations."),
    demand_cost: str = typer.Option(None, "--demand-cost", help="FCA: origin,destination,cost between demand locations."),
    normalize: bool = typer.Option(False, "--normalize", help="Divide by the population-weighted mean."),
) -> None:
    """Spatial access to care by demand location (floating catchments, gravity, RAAM, nearest)."""
    from equicare.analyze.access import access_table, parse_step_weights

    params = {"max_cost": max_cost, "scale": scale, "alpha": alpha, "min_dist": min_dist, "sigma": sigma,
              "tau": tau, "rho": rho, "max_cycles": max_cycles,
              "weights": parse_step_weights(weights) if weights else None}
    table = access_table(_read_csv_ids(demand), _read_csv_ids(supply), _read_csv_ids(cost), method,
                         demand_value=demand_value, supply_values=supply_value,
                         demand_costs=_read_csv_ids(demand_cost) if demand_cost else None,
                         normalize=normalize, files=(demand, supply, cost), **params)
    _write_table(table, out)


@app.command("inequality")
def inequality_cmd(
    data: str = typer.Option(None, "--data", help="Subgroup data in the HEAT Plus upload template."),
    regions: str = typer.Option(None, "--regions", help="Region table with a rate column (and a population column)."),
    value: str = typer.Option(None, "--value", help="With --regions: the rate column (e.g. beds per 1,000)."),
    weight: str = typer.Option(None, "--weight", help="With --regions: the population column used as weight."),
    out: str = typer.Option(None, "--out", help="Output CSV; stdout if omitted."),
    conf_level: float = typer.Option(0.95, "--conf-level", help="Confidence level of the intervals."),
    n_sim: int = typer.Option(100, "--n-sim", help="HEAT: simulations for the simulated intervals."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Regions: bootstrap replicates."),
    epsilon: float = typer.Option(0.5, "--epsilon", help="Regions: Atkinson inequality aversion."),
    seed: int = typer.Option(123456, "--seed", help="Random seed of the simulated/bootstrap intervals."),
) -> None:
    """Inequality summary measures: HEAT measures by subgroup (--data) or Gini/Theil/Atkinson across regions (--regions)."""
    from equicare.errors import EquicareError

    if bool(data) == bool(regions):
        raise EquicareError("give exactly one of --data (HEAT template) or --regions (region table)")
    if data:
        from equicare.analyze.heat import heat_summary

        table = heat_summary(data, conf_level=conf_level, n_sim=n_sim, seed=seed)
    else:
        from equicare.analyze.inequality import region_inequality_table

        if not value:
            raise EquicareError("--regions needs --value (the rate column)")
        table = region_inequality_table(_read_csv_ids(regions), value, weight, file=regions, epsilon=epsilon,
                                        n_boot=n_boot, level=conf_level, seed=seed)
    _write_table(table, out)


@app.command("allocate")
def allocate_cmd(
    scenario: str = typer.Argument(..., help="Scenario YAML (format: docs/optimize.md)."),
    out: str = typer.Option(..., "--out", help="Output folder: allocation/transfers/coverage CSVs and explanations.json."),
    store: str = typer.Option(None, "--store", help="DuckDB store that records the run (default: OUT/equicare.duckdb)."),
) -> None:
    """Fair allocation of resources across regions from a scenario file, with explanations and what-ifs."""
    from equicare.optimize.scenario import run_scenario

    doc = run_scenario(scenario, out, store_path=store)
    alloc = ", ".join(f"{k} {v:,.0f}" for k, v in doc["total_allocated"].items())
    typer.echo(f"{doc['name']}: minimum share of need met {100 * doc['min_share']:.1f}%; placed {alloc}; "
               f"cost {doc['total_cost']:,.0f}; {doc['solve_seconds']:.2f} s; run {doc['run_id']}")
    files = ["allocation.csv", "transfers.csv", "coverage.csv", "scenarios.csv", "what_if.csv", "budget_sweep.csv"]
    files += ["facilities.csv"] if doc.get("facilities") else []
    typer.echo(f"wrote {out}/{', '.join(files)}, explanations.json", err=True)


@app.command("locate")
def locate_cmd(
    cost: str = typer.Option(..., "--cost", help="CSV with columns origin,destination,cost (demand unit -> candidate site)."),
    demand: str = typer.Option(..., "--demand", help="CSV with column id and a demand column."),
    model: str = typer.Option(..., "--model", help="pmedian, mclp, lscp or pcenter."),
    out: str = typer.Option(..., "--out", help="Output JSON: objective, bound, gap, proven_optimal, selected_sites, "
                                               "assignment, solve_seconds."),
    p: int = typer.Option(None, "--p", help="Number of sites to open (pmedian, mclp, pcenter)."),
    service_radius: float = typer.Option(None, "--service-radius", help="Coverage radius in cost units (mclp, lscp)."),
    demand_value: str = typer.Option("demand", "--demand-value", help="Demand column in --demand."),
    open_sites: list[str] = typer.Option(None, "--open", help="Site id that must stay open; repeatable or comma-separated."),
    time_limit: float = typer.Option(None, "--time-limit", help="Seconds for the whole command (reading, building, "
                                     "heuristics, solving); the best answer so far is written with its bound and gap."),
    gap: float = typer.Option(1e-6, "--gap", help="Stop when (objective - bound) / objective is at most this fraction."),
) -> None:
    """Facility location: p-median, maximal covering, set covering or p-center on a cost table."""
    import time

    started = time.perf_counter()  # first: the limit covers loading the solver modules too
    from equicare.errors import EquicareError
    from equicare.optimize.location.progress import Deadline, Progress

    if time_limit is not None and not time_limit > 0:
        raise EquicareError(f"--time-limit must be a positive number of seconds, not {time_limit:g}")
    deadline = Deadline(time_limit, start=started)
    import json
    import sys
    from pathlib import Path

    from equicare.optimize.location import locate_files

    progress = Progress(enabled=sys.stderr.isatty() or bool(time_limit and time_limit > 2), deadline=deadline)
    res = locate_files(cost, demand, model, p=p, service_radius=service_radius, demand_value=demand_value,
                       open_sites=open_sites, gap=gap, deadline=deadline, progress=progress)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(res.to_dict(), indent=1))
    status = "proven optimal" if res.proven_optimal else f"gap {100 * res.gap:.4g}% (bound {res.bound:,.6g})"
    typer.echo(f"{model}: objective {res.objective:,.6g}, {status}, {len(res.selected_sites)} sites, "
               f"{deadline.elapsed():.2f} s -> {out}", err=True)


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
