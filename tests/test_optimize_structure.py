"""The optimisation package's shape: no private names across modules, no import circles, small modules,
one definition of the Gini, the JSON sanitiser and the 23 quantile levels."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "equicare"
OPT = SRC / "optimize"


def _module(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names imported, line) for every import in ``path`` (relative ones resolved)."""
    tree = ast.parse(path.read_text())
    me = _module(path)
    pkg = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([mod] if mod else []))
            out.append((mod, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                out.append((a.name, [], node.lineno))
    return out


def _opt_files() -> list[Path]:
    return sorted(OPT.rglob("*.py"))


def test_no_private_name_is_imported_across_optimize_modules():
    bad = []
    for f in _opt_files():
        for mod, names, line in _imports(f):
            if not mod.startswith("equicare"):
                continue
            hidden = [n for n in names if n.startswith("_") and not n.startswith("__")]
            hidden += [p for p in mod.split(".") if p.startswith("_") and not p.startswith("__")]
            if hidden and mod != _module(f):
                bad.append(f"{f.relative_to(SRC)}:{line} imports {', '.join(hidden)} from {mod}")
    assert not bad, "\n".join(bad)


def test_the_check_itself_sees_a_private_import(tmp_path):
    """The test above must fail on a private import: parse a file that has one."""
    f = OPT / "allocation" / "_probe_for_test.py"
    f.write_text("from equicare.optimize.allocation.lp import _arcs\n")
    try:
        with pytest.raises(AssertionError, match="_arcs"):
            test_no_private_name_is_imported_across_optimize_modules()
    finally:
        f.unlink()


def test_imports_flow_one_way_within_the_allocation_package():
    """No circle among the modules of optimize/allocation and optimize/scenario (module-level and local imports)."""
    graph: dict[str, set[str]] = {}
    for f in _opt_files():
        me = _module(f)
        deps = {mod for mod, _, _ in _imports(f) if mod.startswith("equicare.optimize") and mod != me}
        graph[me] = {d for d in deps if not (f.name == "__init__.py" and d.startswith(me + "."))}
    pkgs = {m for m in graph if (OPT.parent.parent / Path(*m.split("."))).is_dir()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in graph.get(m, ()):
            if d in pkgs or d not in graph:  # a package's __init__ only re-exports
                continue
            if state.get(d) == 1:
                raise AssertionError("import circle: " + " -> ".join(path + [m, d]))
            if not state.get(d):
                visit(d, path + [m])
        state[m] = 2

    for m in graph:
        if m not in pkgs and not state.get(m):
            visit(m, [])


def test_allocation_modules_are_small():
    big = [f"{f.relative_to(SRC)} ({n} lines)" for f in _opt_files()
           if f.parent.name in ("allocation", "scenario") and (n := len(f.read_text().splitlines())) > 600]
    assert not big, big


@pytest.mark.parametrize("pattern, allowed", [
    (r"^def (weighted_)?gini\(", {"analyze/inequality.py"}),  # the Gini (optimize's weighted_gini wraps it)
    (r"0\.01, 0\.025, 0\.05, 0\.1", {"params.py"}),  # the 23 quantile levels
    (r"isfinite\(obj\)|math\.isfinite\(v\)", {"jsonsafe.py"}),  # the JSON sanitiser
])
def test_one_definition_in_the_package(pattern, allowed):
    found = {str(f.relative_to(SRC)) for f in SRC.rglob("*.py") if re.search(pattern, f.read_text(), re.M)}
    if "gini" in pattern:  # the allocation's weighted_gini delegates to analyze.inequality.gini
        g = (OPT / "allocation" / "gini.py").read_text()
        assert "from equicare.analyze.inequality import gini" in g
        found.discard("optimize/allocation/gini.py")
    assert found == allowed, found


def test_parameters_agree_between_demo_service_and_model():
    from dataclasses import fields

    from equicare import params
    from equicare.optimize import AllocationProblem
    from equicare.pipeline import DemoParams
    from equicare.service.scenarios import ScenarioParams

    demo, svc = DemoParams(), ScenarioParams()
    for name in ("as_of", "severity", "stockpile", "scenario_quantile", "forecast_model"):
        assert getattr(demo, name) == getattr(svc, name), name
    assert demo.severity == svc.severity == params.SEVERITY.default  # one default (the demo's 2.0)
    prob = {f.name: f.default for f in fields(AllocationProblem)}
    assert prob["max_gini"] is svc.max_gini is None and prob["fairness_weight"] == svc.fairness_weight
    # one range for max_gini everywhere: [0, 1]
    from equicare.errors import EquicareError
    from equicare.service.scenarios import parse_params

    assert parse_params({"max_gini": 0}).max_gini == 0.0 and parse_params({"max_gini": 1}).max_gini == 1.0
    for bad in (-0.01, 1.01):
        with pytest.raises(EquicareError, match=r"max_gini'? must be in \[0, 1\]"):
            parse_params({"max_gini": bad})
        with pytest.raises(EquicareError, match=r"max_gini'? must be in \[0, 1\]"):
            AllocationProblem(regions=["a"], resources=["r"], capacity=[[0.0]], demand=[[[1.0]]], max_gini=bad)


def test_problem_is_frozen_and_validated_once():
    import dataclasses

    import numpy as np

    from equicare.optimize import AllocationProblem

    P = AllocationProblem(regions=["a", "b"], resources=["r"], capacity=[[0.0], [1.0]], demand=[[[2.0], [3.0]]],
                          stock=[4.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.budget = 3.0
    with pytest.raises(ValueError):
        P.stock[0] = 9.0  # read-only arrays
    Q = dataclasses.replace(P, stock=np.array([9.0]))
    assert Q.stock[0] == 9.0 and P.stock[0] == 4.0


def test_the_docs_example_runs():
    """docs/optimize.md's short example, executed as written."""
    doc = (SRC.parents[1] / "docs" / "optimize.md").read_text()
    code = doc.split("A short example (runs as is):", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    ns: dict = {}
    exec(compile(code, "docs/optimize.md", "exec"), ns)  # noqa: S102
    res = ns["res"]
    assert res.min_share == pytest.approx(2 / 3) and res.whole_units.lp_bound >= res.min_share
