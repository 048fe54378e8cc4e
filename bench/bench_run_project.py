"""Benchmark: wall and CPU time of ``equicare run`` (a fresh process, as a planner runs it) on two projects.

1. The bundled US project (``equicare run bundled:us``, which ``equicare demo`` runs): 52 states as points,
   3,221 counties as small areas (2SFCA access, shortage areas), 7,146 hospitals, FluSight weekly admissions with
   the bundled training extras, back-tests of three models over the 2023-24 season.
2. The non-US test project (``tests/region_fixture.py``): 87 Japanese municipalities as polygons (GeoPackage in a
   projected CRS), hospitals in XLSX, a weekly series; access, inequality, forecast with a 3-week back-test,
   allocation and the report.

Prints wall and CPU seconds per run (CPU time is the steadier figure on a shared machine) and seconds per stage
(from the run's summary); also ``equicare demo`` (the same project) when ``--demo`` is given. A plain script: it
never asserts on time.
Run: ``.venv/bin/python bench/bench_run_project.py [--demo]``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _run(args: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one ``equicare`` process."""
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run([sys.executable, "-m", "equicare", *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - t, cpu


def _stages(store: Path) -> dict:
    from equicare.store import Store

    with Store(store, read_only=True) as st:
        runs = st.list_runs()
        return st.get_run(str(runs["id"].iloc[0]))["summary"].get("timings", {})


def main() -> None:
    from region_fixture import build_project

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        sec = _run(["run", "bundled:us", "--out", str(tmp / "us")])
        rows.append(("bundled US project (equicare run bundled:us)", sec, _stages(tmp / "us" / "equicare.duckdb")))
        project = build_project(tmp / "jp")
        sec = _run(["run", str(project), "--out", str(tmp / "jp-out")])
        rows.append(("87 Japanese municipalities (test fixture)", sec, _stages(tmp / "jp-out" / "equicare.duckdb")))
        if "--demo" in sys.argv:
            sec = _run(["demo", "--out", str(tmp / "d")])
            rows.append(("equicare demo (the same bundled US project)", sec, _stages(tmp / "d" / "equicare.duckdb")))
    for name, (wall, cpu), stages in rows:
        print(f"{name:<50} {wall:8.1f} s wall {cpu:8.1f} s CPU   stages: "
              + json.dumps({k: round(v, 1) for k, v in stages.items()}))


if __name__ == "__main__":
    main()
