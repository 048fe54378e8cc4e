"""Road-network travel times for the commands that take ``--network`` (``costs``, ``access``, ``locate``): the
shared options (one definition each) and the helpers that turn two point files into a cost table."""

from __future__ import annotations

import typer

NETWORK_OPTION = typer.Option(None, "--network", help="Road network: an OpenStreetMap .osm.pbf extract or a "
                              "street-centreline line layer (GeoJSON, GeoPackage, Shapefile).")
MODE_OPTION = typer.Option("drive", "--mode", help="drive or walk.")
MAX_MINUTES_OPTION = typer.Option(None, "--max-minutes", help="Keep pairs within this many minutes.")


def network_costs(origins: str, destinations: str, network: str | None, mode: str, max_minutes: float | None):
    """Travel times (minutes) from the points of ORIGINS to those of DESTINATIONS (files with id and lat/lon or
    point layers) along NETWORK; prints the summary (unreachable pairs, points not joined) and returns the table."""
    from equicare.analyze.travel import travel_costs

    res = travel_costs(origins, destinations, network=network, mode=mode, max_minutes=max_minutes)
    typer.echo(res.summary(), err=True)
    return res.table


def network_cost_file(demand: str, sites: str | None, network: str, mode: str, max_minutes: float | None,
                      out: str) -> str:
    """`locate --network`: write the travel times from the demand units to --sites beside OUT (OUT_costs.csv)."""
    from pathlib import Path

    from equicare.errors import EquicareError

    if not sites:
        raise EquicareError("--network needs --sites (the candidate sites)")
    path = Path(out).with_suffix("")
    path = path.parent / f"{path.name}_costs.csv"
    table = network_costs(demand, sites, network, mode, max_minutes)
    from equicare.csvout import write_csv

    write_csv(table, path)
    return str(path)
