"""Usage mistakes on every command print the error in a line or two and exit 2, never a traceback (issue 11, item 15).

The table is built by introspecting the typer app, so a new command or option is covered without editing this file:
for every command, a missing required parameter, an unknown option and a value of the wrong type for each int/float
option; plus an unknown command at the top level and in each group.
"""

from __future__ import annotations

import pytest
import typer.main

from equicare.cli import app

ROOT = typer.main.get_command(app)


def _commands(cmd=ROOT, path=()):
    subs = getattr(cmd, "commands", None)
    if subs:
        for name, sub in subs.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, cmd


def _groups(cmd=ROOT, path=()):
    subs = getattr(cmd, "commands", None)
    if subs:
        yield path
        for name, sub in subs.items():
            yield from _groups(sub, (*path, name))


COMMANDS = list(_commands())
SAMPLE = {"int": "1", "float": "1.5", "str": "x"}


def _required_args(cmd, skip: str | None = None) -> list[str]:
    """Valid-looking values for every required parameter (never reached: parsing fails first)."""
    out: list[str] = []
    for p in cmd.params:
        if not p.required or p.name == skip:
            continue
        value = SAMPLE.get(p.bare_type(), "x")
        out += [value] if p.param_type_name == "argument" else [p.opts[0], value]
    return out


def _numeric_options():
    for path, cmd in COMMANDS:
        for p in cmd.params:
            if p.bare_type() in ("int", "float"):
                yield pytest.param(path, cmd, p, id=f"{' '.join(path)} {p.opts[0]}")


def _check(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith("error: "), err
    for n in needles:
        assert n in err, (n, err)


def test_every_command_is_in_the_table():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"demo", "load", "forecast", "backtest", "score", "access", "inequality", "allocate", "locate",
            "release", "serve", "users add", "users list"} <= names


@pytest.mark.parametrize("path,cmd", [pytest.param(p, c, id=" ".join(p)) for p, c in COMMANDS
                                      if any(x.required for x in c.params)])
def test_missing_required_parameter(run_cli, path, cmd):
    first = next(x for x in cmd.params if x.required)
    code, out, err = run_cli(*path, *_required_args(cmd, skip=first.name))
    shown = first.opts[0] if first.param_type_name == "option" else first.name
    _check(code, err, "Missing", shown, f"equicare {' '.join(path)}")


def test_the_issue_example(run_cli):
    code, _, err = run_cli("locate", "--model", "pmedian")
    _check(code, err, "Missing option '--demand'", "usage: equicare locate")  # --cost is optional (--network)
    code, _, err = run_cli("locate", "--cost", "c.csv", "--demand", "d.csv", "--model", "pmedian", "--out", "o.json",
                           "--p", "ten")
    _check(code, err, "Invalid value for '--p'")


@pytest.mark.parametrize("path,cmd", [pytest.param(p, c, id=" ".join(p)) for p, c in COMMANDS])
def test_unknown_option(run_cli, path, cmd):
    code, _, err = run_cli(*path, *_required_args(cmd), "--no-such-option")
    _check(code, err, "No such option: --no-such-option")


@pytest.mark.parametrize("path,cmd,param", list(_numeric_options()))
def test_value_of_the_wrong_type(run_cli, path, cmd, param):
    args = _required_args(cmd, skip=param.name)
    bad = [param.opts[0], "ten"] if param.param_type_name == "option" else ["ten"]
    code, _, err = run_cli(*path, *(bad + args if param.param_type_name == "argument" else args + bad))
    shown = param.opts[0] if param.param_type_name == "option" else param.name
    _check(code, err, "Invalid value for", shown)


@pytest.mark.parametrize("group", list(_groups()), ids=lambda g: " ".join(g) or "equicare")
def test_unknown_command(run_cli, group):
    code, _, err = run_cli(*group, "frobnicate")
    _check(code, err, "No such command 'frobnicate'")


def test_help_still_exits_0(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0 and "locate" in out
    code, out, _ = run_cli("locate", "--help")
    assert code == 0 and "--cost" in out
