"""Scenario sweeps on a Dask cluster: every combination of a grid of scenario values, one task each.

A grid file maps dotted scenario keys to lists of values::

    budget: [30000000, 45000000, 60000000, 80000000]
    demand.severity: [2.0, 3.0, 4.0]
    resources.icu_beds.stock: [2000, 2500]

and :func:`run_sweep` solves the scenario once per combination (the Cartesian product, in the grid's
key order), exactly as ``equicare allocate`` would solve the scenario with those values written in.
What-ifs and budget sweeps of the scenario file are not run for each point.

Results are kept point by point in ``OUT/points/`` as each task completes (written by the client, so a
cluster without a shared file system works), so a worker or the whole run may die and a rerun solves only
the points that are missing (or that failed with an unexpected error).  A point's key is a hash of the
scenario file, the files it names and the point's values: editing an input makes every point new again.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from equicare.csvout import write_csv
from equicare.errors import EquicareError, InfeasibleError, Problem, ValidationError

MAX_POINTS = 1_000_000
RESULT_COLUMNS = ["min_share", "covered", "cost", "status", "seconds"]
RERUN_STATUSES = {"error"}  # unexpected failures are tried again on a rerun; infeasible/invalid are answers


@dataclass(frozen=True)
class Grid:
    """The parsed grid: ``keys`` (dotted, as written) and each key's list of ``values``."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.values)

    def points(self) -> list[dict[str, Any]]:
        """Every combination, in the grid's key order (the last key varies fastest)."""
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*self.values)]


@dataclass(frozen=True)
class PointResult:
    """One solved grid point: its values, the allocation's summary figures, status and time."""

    key: str
    values: dict[str, Any]
    min_share: float | None
    covered: float | None
    cost: float | None
    status: str
    seconds: float
    message: str = ""


def read_grid(path: str | Path) -> Grid:
    """Read a grid YAML file: a mapping of dotted keys to non-empty lists (a single value is a list of one).

    Raises
    ------
    ValidationError
        Not a mapping, an empty list, a nested mapping as a value, a repeated value, or more than
        1,000,000 points.
    """
    fname = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise EquicareError(f"{fname}: cannot read the grid file ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ValidationError([Problem(fname, None, None, f"not valid YAML: {exc}")]) from exc
    if not isinstance(doc, dict) or not doc:
        raise ValidationError([Problem(fname, None, None, "the grid must be a mapping of scenario keys to lists")])
    problems: list[Problem] = []
    keys, values = [], []
    for k, v in doc.items():
        key = str(k)
        vals = v if isinstance(v, list) else [v]
        if not vals:
            problems.append(Problem(fname, None, key, "needs at least one value"))
        if any(isinstance(x, (dict, list)) for x in vals):
            problems.append(Problem(fname, None, key, "values must be plain numbers or words, not mappings or lists"))
        elif len({json.dumps(x) for x in vals}) != len(vals):
            problems.append(Problem(fname, None, key, "a value is repeated"))
        if any(not part for part in key.split(".")):
            problems.append(Problem(fname, None, key, "a dotted key must not have empty parts"))
        keys.append(key)
        values.append(tuple(vals))
    if problems:
        raise ValidationError(problems)
    grid = Grid(tuple(keys), tuple(values))
    if grid.size > MAX_POINTS:
        raise ValidationError([Problem(fname, None, None, f"the grid has {grid.size:,} points; at most {MAX_POINTS:,}")])
    return grid


def read_scenario_doc(path: str | Path) -> dict:
    """The scenario YAML as a mapping, with relative ``file:`` paths made absolute (so it can move)."""
    from equicare.optimize.scenario import read_scenario_yaml

    return _absolute_files(read_scenario_yaml(path), Path(path).resolve().parent)


def _absolute_files(node: Any, base: Path) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "file" and isinstance(v, str) and not Path(v).is_absolute():
                out[k] = str(base / v)
            else:
                out[k] = _absolute_files(v, base)
        return out
    if isinstance(node, list):
        return [_absolute_files(v, base) for v in node]
    return node


def _files_named(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == "file" and isinstance(v, str)]
        for v in node.values():
            found += _files_named(v)
        return found
    if isinstance(node, list):
        return [f for v in node for f in _files_named(v)]
    return []


def apply_point(doc: dict, values: dict[str, Any], file: str = "grid") -> dict:
    """A copy of the scenario ``doc`` with each dotted key set to its value; what-ifs and sweeps dropped.

    Raises
    ------
    ValidationError
        A dotted key goes through something that is not a mapping.
    """
    out = copy.deepcopy(doc)
    out.pop("what_if", None)
    out.pop("budget_sweep", None)
    for key, value in values.items():
        node = out
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                where = ".".join(parts[: depth + 1])
                raise ValidationError([Problem(file, None, key, f"'{where}' in the scenario is not a mapping")])
            node = nxt
        node[parts[-1]] = value
    return out


def sweep_fingerprint(doc: dict) -> str:
    """SHA-256 over the scenario mapping and the bytes of every file it names."""
    h = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode())
    for f in sorted(set(_files_named(doc))):
        try:
            h.update(Path(f).read_bytes())
        except OSError:
            h.update(f"missing:{f}".encode())
    return h.hexdigest()


def point_key(fingerprint: str, values: dict[str, Any]) -> str:
    return hashlib.sha256((fingerprint + json.dumps(values, sort_keys=True, default=str)).encode()).hexdigest()[:20]


def solve_point(doc: dict, values: dict[str, Any], key: str = "", name: str = "scenario.yaml") -> PointResult:
    """Solve one grid point (runs on a worker): the scenario with ``values`` written in, as ``allocate`` does.

    Never raises: infeasible and invalid points and unexpected errors come back as a status and message.
    """
    from equicare.optimize import allocate
    from equicare.optimize.scenario import problem_from_mapping

    t0 = time.perf_counter()
    status, message = "error", ""
    min_share = covered = cost = None
    try:
        res = allocate(problem_from_mapping(apply_point(doc, values), name))
        status = str(res.status)
        min_share, covered, cost = float(res.min_share), float(res.total_covered), float(res.total_cost)
    except InfeasibleError as exc:
        status, message = "infeasible", str(exc)
    except ValidationError as exc:
        status, message = "invalid", "; ".join(str(p) for p in exc.problems[:5])
    except EquicareError as exc:
        status, message = "invalid", str(exc)
    except Exception as exc:  # noqa: BLE001 - a point's failure must not stop the sweep
        status, message = "error", f"{type(exc).__name__}: {exc}"
    return PointResult(key, dict(values), min_share, covered, cost, status, time.perf_counter() - t0, message)


def surge_point(solve: Callable[[], dict]) -> dict:
    """Run one point of a surge-allocation sweep and report it; never raises.

    ``solve`` returns the allocation's summary (``min_share``, ``total_allocated``). The answer has
    ``min_share``, ``covered`` and ``cost`` (both the units allocated), ``status`` (``optimal``, ``infeasible``,
    ``invalid`` or ``error``), ``message`` and ``seconds``. Used by the service's and the project file's sweeps.
    """
    t0 = time.perf_counter()
    out = {"min_share": None, "covered": None, "cost": None, "status": "error", "message": ""}
    try:
        summary = solve()
        out.update(min_share=summary["min_share"], covered=summary["total_allocated"],
                   cost=summary["total_allocated"], status="optimal")
    except EquicareError as exc:
        out.update(status="infeasible" if "infeasible" in str(exc).lower() else "invalid", message=str(exc))
    except Exception as exc:  # noqa: BLE001 - one point's failure does not stop the sweep
        out["message"] = f"{type(exc).__name__}: {exc}"
    out["seconds"] = round(time.perf_counter() - t0, 4)
    return out


def gather_points(futures) -> list[dict]:
    """The answers of :func:`surge_point` tasks in order; a task that failed on the cluster itself (e.g. its
    workers kept dying) becomes an ``error`` point with the message, so one point never stops a sweep."""
    results = []
    for fut in futures:
        try:
            results.append(fut.result())
        except Exception as exc:  # noqa: BLE001 - e.g. the task's workers kept dying
            results.append({"min_share": None, "covered": None, "cost": None, "status": "error",
                            "seconds": 0.0, "message": f"{type(exc).__name__}: {exc}"})
    return results


class PointStore:
    """Completed points on disk, one JSON file each, written atomically (temporary file, then rename)."""

    def __init__(self, out_dir: Path):
        self.dir = Path(out_dir) / "points"
        self.dir.mkdir(parents=True, exist_ok=True)

    def done(self) -> dict[str, PointResult]:
        found = {}
        for f in self.dir.glob("*.json"):
            try:
                d = json.loads(f.read_text())
                r = PointResult(**d)
            except (OSError, ValueError, TypeError):
                continue  # a torn or foreign file: the point is solved again
            if r.status not in RERUN_STATUSES:
                found[r.key] = r
        return found

    def save(self, r: PointResult) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(r), fh, default=str)
        os.replace(tmp, self.dir / f"{r.key}.json")


@dataclass(frozen=True)
class SweepResult:
    """The sweep table (one row per point, grid keys first) and how many points were solved now."""

    table: pd.DataFrame
    solved_now: int
    reused: int
    failed: int
    seconds: float
    cluster: str


def run_sweep(scenario: str | Path, grid: Grid | str | Path, out_dir: str | Path, *, scheduler: str | None = None,
              workers: int | None = None, progress: Callable[[int, int], None] | None = None,
              client: Any = None) -> SweepResult:
    """Solve every grid point on a Dask cluster; write ``sweep.csv``, ``sweep.parquet`` and ``report.html``.

    Parameters
    ----------
    scenario : path of the scenario YAML (as for ``equicare allocate``).
    grid : a :class:`Grid` or the path of a grid YAML.
    out_dir : output folder; ``out_dir/points/`` keeps completed points between runs.
    scheduler, workers : an existing cluster's address, or the number of local worker processes.
    progress : called with (points done, points in all) as points complete.
    client : an open ``distributed.Client`` to use instead (the caller keeps it).

    Returns
    -------
    SweepResult
    """
    from equicare.scale.cluster import ClusterSpec, dask_client
    from equicare.scale.sweep_report import write_sweep_report

    t0 = time.perf_counter()
    grid = grid if isinstance(grid, Grid) else read_grid(grid)
    doc = read_scenario_doc(scenario)
    for k in grid.keys:  # refuse a key that cannot be written into the scenario before starting a cluster
        apply_point(doc, {k: grid.values[grid.keys.index(k)][0]}, file=str(grid))
    out = Path(out_dir)
    store = PointStore(out)
    fp = sweep_fingerprint(doc)
    points = grid.points()
    keys = [point_key(fp, v) for v in points]
    done = store.done()
    todo = [(k, v) for k, v in zip(keys, points) if k not in done]
    reused = len(points) - len(todo)
    spec = ClusterSpec.from_options(scheduler, workers)
    if progress:
        progress(reused, len(points))
    if todo:
        if client is not None:
            _solve_all(client, doc, todo, store, done, progress, len(points), Path(scenario).name)
            cluster = "the given Dask client"
        else:
            with dask_client(spec) as c:
                _solve_all(c, doc, todo, store, done, progress, len(points), Path(scenario).name)
            cluster = spec.describe()
    else:
        cluster = "none needed (every point was already solved)"
    rows = []
    for k, v in zip(keys, points):
        r = done[k]
        rows.append({**v, "min_share": r.min_share, "covered": r.covered, "cost": r.cost, "status": r.status,
                     "seconds": round(r.seconds, 4), "message": r.message})
    table = pd.DataFrame(rows, columns=list(grid.keys) + RESULT_COLUMNS + ["message"])
    out.mkdir(parents=True, exist_ok=True)
    write_csv(table, out / "sweep.csv")
    _to_parquet(table, out / "sweep.parquet")
    failed = int((~table["status"].isin(["optimal"])).sum())
    res = SweepResult(table, len(todo), reused, failed, time.perf_counter() - t0, cluster)
    write_sweep_report(res, grid, Path(scenario).name, out / "report.html")
    return res


def _to_parquet(table: pd.DataFrame, path: Path) -> None:
    t = table.copy()
    for c in t.columns:  # grid columns may mix numbers and words; Parquet wants one type per column
        if t[c].dtype == object and c not in ("status", "message"):
            kinds = {type(x) for x in t[c].dropna()}
            if len(kinds) > 1:
                t[c] = t[c].astype(str)
    t.to_parquet(path, index=False)


def _solve_all(client, doc, todo, store: PointStore, done: dict, progress, total: int, name: str) -> None:
    from distributed import as_completed

    # The mapping goes inside a list: `scatter` of a mapping would store each of its values under the mapping's
    # own key ("name", "resources", ...), names every run of every sweep shares on a long-lived scheduler, so the
    # end of a killed earlier run released the data a rerun's points depended on (FutureCancelledError).
    [doc_future] = client.scatter([doc], broadcast=True, hash=False)
    # Task keys are unique to this run: on a long-lived scheduler, a killed earlier run's tasks may still be held
    # under the point's own key while the scheduler notices its client is gone, and a new future on that key
    # would then never complete (a rerun after a kill waited forever).
    run = uuid.uuid4().hex[:8]
    futures = {client.submit(solve_point, doc_future, v, k, name, key=f"sweep-point-{k}-{run}", pure=False): k
               for k, v in todo}
    for fut in as_completed(futures):
        k = futures[fut]
        try:
            r = fut.result()
        except Exception as exc:  # noqa: BLE001 - e.g. the task's worker died more often than allowed
            v = dict(next(v for kk, v in todo if kk == k))
            r = PointResult(k, v, None, None, None, "error", 0.0, f"{type(exc).__name__}: {exc}")
        store.save(r)
        done[k] = r
        if progress:
            progress(len(done), total)
