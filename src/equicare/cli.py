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
