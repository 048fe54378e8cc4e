"""Command-line interface: a thin layer over :mod:`equicare.project` and the stage modules (``demo`` and ``run``
are in :mod:`equicare.cli_project`, ``forecast``, ``backtest`` and ``score`` in :mod:`equicare.cli_forecast`,
``locate`` in :mod:`equicare.cli_locate`)."""

from __future__ import annotations

import typer

from equicare.cli_forecast import backtest_cmd, forecast_cmd, score_cmd
from equicare.cli_locate import locate_cmd
from equicare.cli_output import write_table
from equicare.cli_project import demo_cmd, run_cmd
from equicare.cli_travel import MAX_MINUTES_OPTION, MODE_OPTION, NETWORK_OPTION, network_costs

app = typer.Typer(
    name="equicare",
    help="equicare: share scarce health-care resources fairly, sufficiently and at good quality.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# options shared by several commands (one definition each)
DEFAULT_STORE = "equicare-out/equicare.duckdb"
_STORE = typer.Option(DEFAULT_STORE, "--store", help="DuckDB store.")
_SCHEDULER = typer.Option(None, "--scheduler", help="Split origins into chunks on this Dask cluster.")
_WORKERS = typer.Option(None, "--workers", help="Split origins into chunks on N local Dask worker processes.")


def _chunk_rows(default: int):
    """``--chunk-rows`` of `costs` and `access` (each command has its own default)."""
    return typer.Option(default, "--chunk-rows", help="With --scheduler/--workers: origins per task.")


# the whole pipeline: `equicare demo` (the bundled US project) and `equicare run PROJECT.yaml`
app.command("demo")(demo_cmd)
app.command("run")(run_cmd)


@app.command("load")
def load_cmd(
    path: str = typer.Argument(..., help="CSV or Parquet file."),
    kind: str = typer.Option(..., "--kind", help="Table kind: regions, facilities, demand or costs."),
    name: str = typer.Option(None, "--name", help="Dataset name in the store (default: the file's stem)."),
    store: str = _STORE,
    regions: str = typer.Option(None, "--regions", help="Name of a stored regions dataset to check region ids against."),
    count_columns: str = typer.Option(None, "--count-columns", help="Comma-separated columns that count people "
                                      "(suppressed in every export); default: columns named like admissions, "
                                      "cases, deaths, patients, visits, ..."),
    sheet: str = typer.Option(None, "--sheet", help="XLSX: sheet name or 0-based number (default: the first)."),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV delimiter: ',', ';', tab or '|' (default: detected)."),
    decimal: str = typer.Option(None, "--decimal", help="CSV decimal mark: '.' or ',' (default: detected)."),
    encoding: str = typer.Option(None, "--encoding", help="Text encoding, e.g. utf-8, cp1252, latin-1 (default: detected)."),
    missing: list[str] = typer.Option(None, "--missing", help="Missing-value policy: POLICY for every column or "
                                      "COLUMN=POLICY (repeatable); drop, impute_median, impute_zero, flag or error."),
    id_format: str = typer.Option("text", "--id-format", help="text: ids kept exactly as written (default); "
                                  "us-fips: all-digit US state/county codes zero-padded to 2/5 digits."),
    date_format: str = typer.Option(None, "--date-format", help="How dates are written when not YYYY-MM-DD, e.g. "
                                    "'%d/%m/%Y' (never guessed: without it 01/07/2024 is an error)."),
) -> None:
    """Validate and clean a file (CSV, XLSX or Parquet), store it, and print the cleaning report (a rejected file
    stores nothing)."""
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
        options = {"sheet": sheet, "delimiter": delimiter, "decimal": decimal, "encoding": encoding}
        table, report = load_table(path, kind, regions=known, missing=_missing_policies(missing, kind),
                                   count_columns=None if count_columns is None else count_columns.split(","),
                                   id_format=id_format, date_format=date_format, date_format_key="--date-format",
                                   **{k: v for k, v in options.items() if v is not None})
        ds_id = st.save_dataset(name or Path(path).stem, kind, table, source=Path(path).name,
                                fingerprint=fingerprint(path), report=report.to_dict())
    typer.echo(f"stored {len(table):,} rows as dataset {ds_id} ({kind})")
    rep = report.to_frame()
    if len(rep):
        typer.echo(rep.to_string(index=False))


def _missing_policies(items: list[str] | None, kind: str) -> dict[str, str] | None:
    """``--missing`` values as a per-column policy map (a bare POLICY applies to every column of the schema and,
    as ``"*"``, to the file's other number columns)."""
    from equicare.data.schemas import get_schema
    from equicare.errors import EquicareError

    allowed = ("drop", "impute_median", "impute_zero", "flag", "error")
    out: dict[str, str] = {}
    for item in items or []:
        col, _, pol = item.rpartition("=")
        if pol not in allowed:
            raise EquicareError(f"--missing {item!r}: the policy must be one of {', '.join(allowed)}")
        if col:
            out[col.strip()] = pol
        else:
            out.update({c.name: pol for c in get_schema(kind).columns if c.name not in ("id",)})
            out["*"] = pol  # and the file's own number columns (beds, icu_beds, ...): "every column"
    return out or None


@app.command("export")
def export_cmd(
    dataset: int = typer.Argument(..., help="Id of a stored dataset (see the cleaning report printed by load)."),
    out: str = typer.Option(..., "--out", help="Output CSV of the cleaned table (ids as stored, as text)."),
    store: str = _STORE,
) -> None:
    """Write a stored, cleaned dataset to CSV."""
    from equicare.store import Store

    with Store(store, read_only=True) as st:
        table = st.get_dataset(dataset)
    write_table(table, out)


# `forecast`, `backtest` and `score` (in equicare.cli_forecast)
app.command("forecast")(forecast_cmd)
app.command("backtest")(backtest_cmd)
app.command("score")(score_cmd)


users_app = typer.Typer(help="Accounts of the web service (API tokens, roles, organisations).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add_cmd(
    name: str = typer.Argument(..., help="User name (letters, digits, _.@-)."),
    org: str = typer.Option(..., "--org", help="Organisation the user belongs to."),
    role: str = typer.Option("viewer", "--role", help="viewer, planner or admin."),
    store: str = _STORE,
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
    store: str = _STORE,
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
    level: str = typer.Option("state", "--level", help="Public region list: state, county or a declared list."),
    out: str = typer.Option(None, "--out", help="Write the release to this CSV."),
    store: str = _STORE,
) -> None:
    """Differentially private per-region count, sum or mean of a dataset (OpenDP), with its 95% error bound."""
    from equicare.privacy.ledger import privacy_budget, privacy_spent, release_dataset
    from equicare.service.region_lists import public_regions
    from equicare.store import Store

    bounds = None if lower is None and upper is None else (lower, upper)
    if bounds is not None and None in bounds:
        raise typer.BadParameter("give both --lower and --upper")
    with Store(store) as st:
        rel = release_dataset(st, dataset, by=by, statistic=statistic, epsilon=epsilon,
                              regions=public_regions(level, st)["id"].tolist(), column=column, bounds=bounds,
                              created_by="cli")
        spent, budget = privacy_spent(st, dataset), privacy_budget(st, dataset)
    if out:
        from equicare.csvout import write_csv

        write_csv(rel.table, out)
    else:
        typer.echo(rel.table.to_string(index=False))
    typer.echo(f"epsilon {rel.epsilon:g} ({rel.mechanism}); 95% error bound {rel.error_bound:,.2f}; "
               f"dataset budget: {spent:g} of {budget:g} spent", err=True)


@app.command("serve")
def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    store: str = typer.Option(DEFAULT_STORE, "--store", help="DuckDB store (the service is its one writer)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Worker processes for forecasts, solves and pooling."),
    queue: int = typer.Option(64, "--queue", min=0, help="Jobs that may wait for a worker; beyond, 503 busy."),
    per_user: int = typer.Option(16, "--per-user", min=1, help="Jobs one account may have in the pool; beyond, 429."),
    trusted_proxy: list[str] = typer.Option([], "--trusted-proxy", help="Address of a reverse proxy whose X-Forwarded-Proto is believed (repeatable)."),
    dask_scheduler: str = typer.Option(None, "--dask-scheduler", help="Dask scheduler address that sweeps are handed "
                                       "to (default: EQUICARE_DASK_SCHEDULER; none: solved in a worker process)."),
) -> None:
    """Start the web service and planner dashboard (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from equicare.service.app import create_app
    from equicare.service.jobs import PoolSettings

    typer.echo(f"equicare serving {store} on http://{host}:{port}/ (docs at /docs)", err=True)
    app = create_app(store, workers=PoolSettings(workers=workers, queue=queue, per_user=per_user, prestart=True),
                     trusted_proxies=trusted_proxy, dask_scheduler=dask_scheduler)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=bool(trusted_proxy),
                forwarded_allow_ips=",".join(trusted_proxy) or None)


_STORE_OPT = typer.Option(DEFAULT_STORE, "--store",
                          help="DuckDB store for inputs given as dataset:ID (a dataset stored by `load`).")


def _read_csv_ids(path: str, store: str | None = None):
    """Read a table for the analysis commands (CSV, XLSX or Parquet; see :mod:`equicare.data.readers`): ids stay
    text exactly as written, all-number columns become numbers; ``dataset:ID`` reads a stored dataset; bad files
    are user errors."""
    from equicare.errors import EquicareError

    if path.startswith("dataset:"):
        from equicare.store import Store

        ref = path.split(":", 1)[1]
        if not ref.isdigit():
            raise EquicareError(f"{path}: give a dataset id, e.g. dataset:3")
        with Store(store or DEFAULT_STORE, read_only=True) as st:
            df = st.get_dataset(int(ref))
        df.columns = [str(c) for c in df.columns]
        if "cap_capacity" not in df.columns:
            df = df.rename(columns={c: c[4:] for c in df.columns if c.startswith("cap_") and c[4:] not in df.columns})
        for c in ("id", "origin", "destination", "region"):
            if c in df.columns:
                df[c] = df[c].astype("string")
        return df
    from equicare.data.readers import read_table

    return read_table(path, text=("id", "origin", "destination"))


@app.command("costs")
def costs_cmd(
    origins: str = typer.Option(..., "--origins", help="Origins: point layer, or CSV/XLSX with id, lat, lon."),
    destinations: str = typer.Option(..., "--destinations", help="Destinations: point layer, or CSV/XLSX with id, lat, lon."),
    out: str = typer.Option(..., "--out", help="Output CSV: origin,destination,cost (minutes),distance_m."),
    network: str = typer.Option(None, "--network", help="OpenStreetMap .osm.pbf extract or street-centreline line "
                                "layer; without it: great-circle distance x detour factor at an assumed speed."),
    mode: str = MODE_OPTION,
    max_minutes: float = MAX_MINUTES_OPTION,
    max_km: float = typer.Option(None, "--max-km", help="Keep pairs within this many km along the network."),
    origin_id: str = typer.Option("id", "--origin-id", help="Id column of the origins."),
    destination_id: str = typer.Option("id", "--destination-id", help="Id column of the destinations."),
    max_snap: float = typer.Option(1000.0, "--max-snap", help="Points farther than this (metres) from every road "
                                   "are reported and not joined."),
    speeds: str = typer.Option(None, "--speeds", help="Driving speeds per highway class, e.g. "
                               "'residential=25,primary=50' (km/h), overriding the defaults."),
    population: str = typer.Option(None, "--population", help="Population column of the origins: also write "
                                   "OUT_catchments.csv and OUT_nearest.csv."),
    catchment_minutes: float = typer.Option(None, "--catchment-minutes", help="Catchment travel time (default "
                                            "--max-minutes)."),
    scheduler: str = _SCHEDULER,
    workers: int = _WORKERS,
    chunk_rows: int = _chunk_rows(2000),
) -> None:
    """Travel-time table between two sets of points along a road network (or the stated great-circle fallback)."""
    from equicare.analyze.travel import costs_to_files
    from equicare.analyze.travel.osm import parse_speed_overrides

    engine = None
    if scheduler is not None or workers is not None:
        from equicare.scale.chunked_costs import costs_engine
        from equicare.scale.cluster import ClusterSpec

        engine = costs_engine(ClusterSpec(scheduler=scheduler, workers=workers), chunk_rows)

    res, files = costs_to_files(origins, destinations, out, network=network, mode=mode, max_minutes=max_minutes,
                                max_km=max_km, origin_id=origin_id, destination_id=destination_id,
                                population=population, catchment_minutes=catchment_minutes, max_snap_m=max_snap,
                                speeds=parse_speed_overrides(speeds) if speeds else None, engine=engine)
    typer.echo(res.summary(), err=True)
    typer.echo(f"wrote {', '.join(str(f) for f in files)}", err=True)


@app.command("access")
def access_cmd(
    demand: str = typer.Option(..., "--demand", help="CSV with columns id and the demand value."),
    supply: str = typer.Option(..., "--supply", help="CSV with columns id and one or more supply values."),
    cost: str = typer.Option(None, "--cost", help="Costs demand id -> supply id: long CSV origin,destination,cost or a "
                             "wide matrix (origin ids in the first column, one column per supply id). Without it, "
                             "give --network, or --max-km and lat/lon columns in --demand and --supply."),
    method: str = typer.Option(..., "--method", help="fca, 2sfca, e2sfca, gravity, 3sfca, raam or nearest."),
    out: str = typer.Option(None, "--out", help="Output CSV (id, <method>_<supply column>); stdout if omitted."),
    demand_value: str = typer.Option("population", "--demand-value", help="Demand column in --demand."),
    supply_value: list[str] = typer.Option(["capacity"], "--supply-value", help="Supply column(s); repeatable."),
    max_cost: float = typer.Option(None, "--max-cost", help="Catchment: keep pairs with cost <= this "
                                   "(required by fca, and by 2sfca without --weights)."),
    weights: str = typer.Option(None, "--weights", help="Step weights 'cost:weight,...' in cost units, e.g. "
                                "'4000:1,8000:0.68,12000:0.22' (required by e2sfca and 3sfca)."),
    scale: float = typer.Option(None, "--scale", help="Gravity: f(c) = (max(c, min_dist)/scale)^alpha."),
    alpha: float = typer.Option(None, "--alpha", help="Gravity exponent, with its sign (negative = decay)."),
    min_dist: float = typer.Option(None, "--min-dist", help="Gravity: costs below this count as this (default 0)."),
    sigma: float = typer.Option(None, "--sigma", help="Gravity with Gaussian decay exp(-c^2/(2 sigma^2)) instead of power."),
    tau: float = typer.Option(None, "--tau", help="RAAM (required): travel cost, in cost units, equal to 100% "
                              "congestion (access uses 60 for minutes)."),
    rho: float = typer.Option(None, "--rho", help="RAAM: demand-to-supply ratio (default: the mean)."),
    max_cycles: int = typer.Option(None, "--max-cycles", help="RAAM iterations (default 150)."),
    demand_cost: str = typer.Option(None, "--demand-cost", help="FCA: origin,destination,cost between demand locations."),
    normalize: bool = typer.Option(False, "--normalize", help="Divide by the population-weighted mean."),
    network: str = NETWORK_OPTION,
    mode: str = MODE_OPTION,
    max_minutes: float = MAX_MINUTES_OPTION,
    max_km: float = typer.Option(None, "--max-km", help="Without --cost: great-circle km from the lat/lon of --demand "
                                 "to the lat/lon of --supply, pairs within this distance (also the catchment)."),
    store: str = _STORE_OPT,
    scheduler: str = _SCHEDULER,
    workers: int = _WORKERS,
    chunk_rows: int = _chunk_rows(5000),
) -> None:
    """Spatial access to care by demand location (floating catchments, gravity, RAAM, nearest)."""
    from equicare.analyze.access import access_table, parse_step_weights
    from equicare.analyze.od_matrix import as_long
    from equicare.errors import EquicareError

    params = {"max_cost": max_cost, "scale": scale, "alpha": alpha, "min_dist": min_dist, "sigma": sigma,
              "tau": tau, "rho": rho, "max_cycles": max_cycles,
              "weights": parse_step_weights(weights) if weights else None}
    dem_t, sup_t = _read_csv_ids(demand, store), _read_csv_ids(supply, store)
    km_catchment = False
    if network:
        cost_t = network_costs(demand, supply, network, mode, max_minutes)
        cost = network
    elif cost is not None:
        cost_t = as_long(_read_csv_ids(cost, store), cost)
    elif max_km is None:
        raise EquicareError("give --cost (a cost file), --network (travel times on roads) or --max-km "
                            "(great-circle km from lat/lon columns)")
    else:
        from equicare.analyze.od_matrix import coordinate_costs

        cost_t = coordinate_costs(dem_t, sup_t, max_km, files=(demand, supply))
        cost = f"great-circle km within {max_km:g} km"
        if params["max_cost"] is None:
            params["max_cost"] = max_km
            km_catchment = True
    table = access_table(dem_t, sup_t, cost_t, method,
                         demand_value=demand_value, supply_values=supply_value,
                         demand_costs=_read_csv_ids(demand_cost) if demand_cost else None,
                         normalize=normalize, files=(demand, supply, cost),
                         engine=_dask_access_engine(scheduler, workers, chunk_rows), **params)
    write_table(table, out)
    from equicare.analyze.access import default_notes

    notes = list(table.attrs.get("notes", [])) + default_notes(method, **params)
    for col in table.columns[1:]:  # an empty cell is said, not left silent
        empty = table["id"][table[col].isna()].astype(str).tolist()
        if empty:
            notes.append(f"{col}: {len(empty)} demand location{'s' if len(empty) != 1 else ''} with no supply "
                         f"in reach (or no demand) left empty: {', '.join(empty[:10])}"
                         f"{', ...' if len(empty) > 10 else ''}")
    if km_catchment:
        notes.append(f"catchment not given: --max-km {max_km:g} km is used as max_cost")
    for note in notes:
        typer.echo(f"note: {note}", err=True)


def _dask_access_engine(scheduler: str | None, workers: int | None, chunk_rows: int):
    """The chunked access computation on a Dask cluster when --scheduler/--workers is given, else None."""
    if scheduler is None and workers is None:
        return None
    from equicare.scale.chunked_access import access_engine
    from equicare.scale.cluster import ClusterSpec

    return access_engine(ClusterSpec(scheduler=scheduler, workers=workers), chunk_rows)


@app.command("inequality")
def inequality_cmd(
    data: str = typer.Option(None, "--data", help="Subgroup data in the HEAT Plus upload template."),
    regions: str = typer.Option(None, "--regions", help="Region table with a rate column (and a population column)."),
    value: str = typer.Option(None, "--value", help="With --regions: the rate column (e.g. beds per 1,000)."),
    weight: str = typer.Option(None, "--weight", help="With --regions: the population column used as weight."),
    unweighted: bool = typer.Option(False, "--unweighted", help="With --regions: count every region once "
                                    "(instead of --weight)."),
    out: str = typer.Option(None, "--out", help="Output CSV; stdout if omitted."),
    conf_level: float = typer.Option(0.95, "--conf-level", help="Confidence level of the intervals."),
    n_sim: int = typer.Option(100, "--n-sim", help="HEAT: simulations for the simulated intervals."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Regions: bootstrap replicates."),
    epsilon: float = typer.Option(0.5, "--epsilon", help="Regions: Atkinson inequality aversion."),
    seed: int = typer.Option(123456, "--seed", help="Random seed of the simulated/bootstrap intervals."),
    store: str = _STORE_OPT,
) -> None:
    """Inequality summary measures: HEAT measures by subgroup (--data) or Gini/Theil/Atkinson across regions (--regions)."""
    from equicare.errors import EquicareError

    if bool(data) == bool(regions):
        raise EquicareError("give exactly one of --data (HEAT template) or --regions (region table)")
    if data:
        from equicare.analyze.heat import heat_summary

        table = heat_summary(data, conf_level=conf_level, n_sim=n_sim, seed=seed)
        for note in table.attrs.get("notes", []):
            typer.echo(f"note: {note}", err=True)
    else:
        from equicare.analyze.inequality import region_inequality_table

        if not value:
            raise EquicareError("--regions needs --value (the rate column)")
        if not weight and not unweighted:
            raise EquicareError("--regions needs --weight COLUMN (the population of each region, e.g. --weight "
                                "population) or --unweighted to count every region once")
        table = region_inequality_table(_read_csv_ids(regions, store), value, weight or None, unweighted=unweighted,
                                        file=regions, epsilon=epsilon, n_boot=n_boot, level=conf_level, seed=seed)
    write_table(table, out)


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
    for note in doc.get("notes", []):
        typer.echo(f"note: {note}", err=True)


# `locate` (in equicare.cli_locate)
app.command("locate")(locate_cmd)


@app.command("sweep")
def sweep_cmd(
    scenario: str = typer.Argument(..., help="Scenario YAML (as for equicare allocate)."),
    grid: str = typer.Option(..., "--grid", help="Grid YAML: dotted scenario keys -> lists of values."),
    out: str = typer.Option(..., "--out", help="Output folder: sweep.csv, sweep.parquet, report.html, points/."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler (tcp://host:8786)."),
    workers: int = typer.Option(None, "--workers", help="Local cluster of N worker processes (default: the cores)."),
) -> None:
    """Solve every combination of a grid of scenario values as one task each on a Dask cluster."""
    from equicare.scale.progress import progress_callback
    from equicare.scale.sweep import read_grid, run_sweep

    g = read_grid(grid)
    typer.echo(f"{g.size:,} points ({' x '.join(str(len(v)) for v in g.values)})", err=True)
    with progress_callback("sweep points") as cb:
        res = run_sweep(scenario, g, out, scheduler=scheduler, workers=workers, progress=cb)
    typer.echo(f"{len(res.table):,} points: {res.solved_now:,} solved now, {res.reused:,} kept from an earlier run, "
               f"{res.failed:,} without an optimal answer; {res.seconds:,.1f} s on {res.cluster}")
    typer.echo(f"wrote {out}/sweep.csv, sweep.parquet, report.html", err=True)


def _usage_lines(exc: Exception) -> list[str]:
    """A usage mistake (missing or unknown option, bad value, unknown command) in two lines, no stack trace."""
    import re

    try:
        msg = exc.format_message()  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover - any click-like error has format_message
        msg = str(exc)
    lines = [f"error: {msg}"]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        usage = re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(),
                       ctx.get_usage().strip().removeprefix("Usage:").strip())
        lines.append(f"usage: {usage}   (see '{ctx.command_path} --help')")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: user errors print a clear message and exit 2, never a stack trace.

    Usage mistakes (a missing required option, an unknown option or command, a value of the wrong type)
    print the error and the command's usage line; errors in the input (:class:`~equicare.errors.EquicareError`)
    print the message.  Both exit with status 2.
    """
    from equicare.command_clock import command_process

    with command_process():  # a command's --time-limit counts from the process start
        _run_main(argv)


def run() -> None:
    """The ``equicare`` program (console script and ``python -m equicare``): :func:`main`, then the process
    ends at once with its exit status, its output flushed, without the interpreter's own teardown of every
    loaded module (about 1 s under load, after the command's work: a ``--time-limit`` bounds what the user
    waits for). Every file and store is closed by the command itself before this point. Callers that run
    commands in their own process (tests) call :func:`main`."""
    import os
    import sys

    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = int(exc.code or 0)
        else:  # sys.exit("message"): the message goes to stderr, status 1 (as the interpreter does)
            print(exc.code, file=sys.stderr)
            code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def _run_main(argv: list[str] | None) -> None:
    """The body of :func:`main`."""
    import sys

    import click
    import numpy as np

    from equicare.errors import EquicareError

    np.set_printoptions(legacy="1.25")  # numbers in messages print as -3, not np.int64(-3) (this process only)
    try:
        code = app(args=argv, prog_name="equicare", standalone_mode=False)
    except EquicareError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except (typer.Abort, click.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except (typer.Exit, click.exceptions.Exit) as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except (typer.TyperException, click.ClickException) as exc:
        if not hasattr(exc, "format_message"):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `equicare` or a bare group: show the help
            exc.show()  # type: ignore[attr-defined]
            sys.exit(0)
        for line in _usage_lines(exc):
            typer.secho(line, err=True, fg=typer.colors.RED if line.startswith("error") else None)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
