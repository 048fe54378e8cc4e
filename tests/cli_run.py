"""Run the ``equicare`` command line in the test's process (shared by the newcomer and outside-input tests)."""

from __future__ import annotations


def cli(argv: list, capsys) -> tuple[int, str]:
    """Run ``equicare ARGV`` in this process (arguments turned into text); return (exit code, stdout + stderr)."""
    from equicare.cli import main

    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err
