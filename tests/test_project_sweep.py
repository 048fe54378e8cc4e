"""The project file's sweep section: the allocation over a grid of allocate values, on a local Dask cluster."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import yaml

from equicare.errors import ValidationError
from equicare.project import check_project, load_project, run_project
from equicare.project.allocation import allocate_stage
from equicare.scale.cluster import ClusterSpec


def _project(tmp_path, sweep: dict):
    pd.DataFrame({"code": ["D1", "D2", "D3", "D4"], "name": ["A", "B", "C", "D"], "population": [1000, 2000, 500, 800],
                  "lat": [1.0, 1.1, 1.2, 1.3], "lon": [36.0, 36.1, 36.2, 36.3], "need": [40, 10, 25, 0],
                  "beds": [100, 50, 80, 20]}).to_csv(tmp_path / "regions.csv", index=False)
    doc = {"name": "sweep", "regions": {"file": "regions.csv", "id": "code", "name": "name",
                                         "population": "population", "lat": "lat", "lon": "lon"},
           "allocate": {"resource": "beds", "stock": 30, "need": "need", "capacity": "beds"}, "sweep": sweep}
    p = tmp_path / "project.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))  # the grid keys in the order written
    return p


def test_project_sweep_equals_the_allocation_stage_per_point(tmp_path, dask_client):
    # on the session's two-worker cluster (tests/conftest.py): `scheduler:` in the file; `workers:` (a local
    # cluster started for the run, the same dask_client path as `equicare costs --workers`) is read below
    address = dask_client.scheduler.address
    p = _project(tmp_path, {"grid": {"stock": [10, 30, 60], "objective": ["leximin", "min_unmet"]},
                            "scheduler": address})
    res = run_project(p, tmp_path / "out")
    assert res.summary["sweep_cluster"] == f"Dask cluster at {address}" and res.summary["sweep_points"] == 6
    t = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert list(t.columns[:5]) == ["stock", "objective", "min_share", "covered", "cost"] and len(t) == 6
    project, inp, _ = check_project(p)
    for _, row in t.iterrows():
        q = replace(project, allocate=replace(project.allocate, stock=float(row["stock"]), objective=row["objective"]))
        _, s = allocate_stage(q, inp, None)
        assert row["status"] == "optimal"
        assert row["min_share"] == pytest.approx(s["min_share"], abs=1e-9)
        assert row["cost"] == pytest.approx(s["total_allocated"], abs=1e-9)
    lex = t[t["objective"] == "leximin"].sort_values("stock")
    assert lex["min_share"].is_monotonic_increasing


def test_sweep_workers_key_asks_for_a_local_cluster(tmp_path):
    sweep = load_project(_project(tmp_path, {"grid": {"stock": [10]}, "workers": 2})).sweep
    assert (sweep.scheduler, sweep.workers) == (None, 2)
    assert ClusterSpec.from_options(sweep.scheduler, sweep.workers).describe() == \
        "local Dask cluster of 2 worker process(es)"


@pytest.mark.parametrize("sweep, word", [
    ({"grid": {"colour": [1]}}, "not an allocate key"),
    ({"grid": {"stock": []}}, "non-empty list"),
    ({"grid": [1, 2]}, "mapping"),
    ({"grids": {"stock": [1]}}, "did you mean 'grid'"),
])
def test_bad_sweep_sections_are_named(tmp_path, sweep, word):
    with pytest.raises(ValidationError, match=word):
        load_project(_project(tmp_path, sweep))
