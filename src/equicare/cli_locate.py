"""Facility location from the command line: ``equicare locate`` (a thin shell over
:func:`equicare.optimize.location.locate_files`); registered on the application in :mod:`equicare.cli`."""

from __future__ import annotations

import typer

from equicare.cli_travel import MAX_MINUTES_OPTION, MODE_OPTION, NETWORK_OPTION, network_cost_file


def locate_cmd(
    cost: str = typer.Option(None, "--cost", help="CSV with columns origin,destination,cost (demand unit -> candidate "
                             "site); or give --network and --sites."),
    demand: str = typer.Option(..., "--demand", help="CSV with column id and a demand column."),
    model: str = typer.Option(..., "--model", help="pmedian, cpmedian (capacitated; needs --capacity), mclp, lscp or "
                              "pcenter."),
    out: str = typer.Option(..., "--out", help="Output JSON: objective, bound, gap, proven_optimal, selected_sites, "
                                               "assignment, solve_seconds."),
    p: int = typer.Option(None, "--p", help="Number of sites to open (pmedian, cpmedian, mclp, pcenter)."),
    service_radius: float = typer.Option(None, "--service-radius", help="Coverage radius in cost units (mclp, lscp)."),
    demand_value: str = typer.Option("demand", "--demand-value", help="Demand column in --demand."),
    capacity: str = typer.Option(None, "--capacity", help="cpmedian: table of the candidate sites with column id and "
                                 "a capacity column (the demand each site can serve when open)."),
    capacity_value: str = typer.Option("capacity", "--capacity-value", help="Capacity column in --capacity."),
    open_sites: list[str] = typer.Option(None, "--open", help="Site id that must stay open; repeatable or "
                                         "comma-separated."),
    time_limit: float = typer.Option(None, "--time-limit", help="Seconds for the whole command (reading, building, "
                                     "heuristics, solving); the best answer so far is written with its bound and gap."),
    gap: float = typer.Option(1e-6, "--gap", help="Stop when (objective - bound) / objective is at most this fraction."),
    sites: str = typer.Option(None, "--sites", help="With --network: candidate sites (point layer or CSV with id, lat, "
                              "lon)."),
    network: str = NETWORK_OPTION,
    mode: str = MODE_OPTION,
    max_minutes: float = MAX_MINUTES_OPTION,
) -> None:
    """Facility location: p-median, capacitated p-median, maximal covering, set covering or p-center on a cost
    table."""
    from equicare.errors import EquicareError
    from equicare.optimize.location.progress import Progress, command_deadline

    if time_limit is not None and not (0 < time_limit < float("inf")):
        raise EquicareError(f"--time-limit must be a positive number of seconds, not {time_limit:g}")
    deadline = command_deadline(time_limit)  # from the process start: start-up and imports count too
    import json
    import sys
    from pathlib import Path

    from equicare.optimize.location import locate_files

    if network:
        cost = network_cost_file(demand, sites, network, mode, max_minutes, out)
    elif not cost:
        raise EquicareError("give --cost, or --network with --sites")
    progress = Progress(enabled=sys.stderr.isatty() or bool(time_limit and time_limit > 2), deadline=deadline)
    res = locate_files(cost, demand, model, p=p, service_radius=service_radius, demand_value=demand_value,
                       open_sites=open_sites, gap=gap, deadline=deadline, progress=progress,
                       capacity_path=capacity, capacity_value=capacity_value)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(res.to_dict(), indent=1))
    for note in res.details.get("notes", []):
        typer.echo(f"note: {note}", err=True)
    status = "proven optimal" if res.proven_optimal else f"gap {100 * res.gap:.4g}% (bound {res.bound:,.6g})"
    typer.echo(f"{model}: objective {res.objective:,.6g}, {status}, {len(res.selected_sites)} sites, "
               f"{deadline.elapsed():.2f} s -> {out}", err=True)
