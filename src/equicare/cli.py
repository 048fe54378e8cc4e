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


def main() -> None:  # pragma: no cover - console entry point
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
