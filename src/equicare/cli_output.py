"""Output helpers shared by the command-line modules."""

from __future__ import annotations

import typer


def write_table(table, out: str | None, decimals=None) -> None:
    """Write TABLE as CSV to OUT (folders made; a line on stderr says how many rows) or to stdout without OUT;
    whole-number columns without decimals, the columns in ``decimals`` rounded
    (:func:`equicare.csvout.whole_numbers`)."""
    from equicare.csvout import csv_text, write_csv

    if out:
        write_csv(table, out, decimals=decimals)
        typer.echo(f"wrote {len(table)} rows to {out}", err=True)
    else:
        typer.echo(csv_text(table, decimals), nl=False)
