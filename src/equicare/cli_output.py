"""Output helpers shared by the command-line modules."""

from __future__ import annotations

import typer


def write_table(table, out: str | None) -> None:
    """Write TABLE as CSV to OUT (folders made; a line on stderr says how many rows) or to stdout without OUT."""
    from pathlib import Path

    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
        typer.echo(f"wrote {len(table)} rows to {out}", err=True)
    else:
        typer.echo(table.to_csv(index=False), nl=False)
