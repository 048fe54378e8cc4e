"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data beside the project; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED}; these tests need the real reference data")
    return SHARED


@pytest.fixture(scope="session")
def dask_client():
    """One local Dask cluster (two worker processes, one thread each) for every test that needs a cluster but
    not its own: starting one, and importing equicare in its workers, costs seconds each time."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture()
def run_cli(monkeypatch, capsys):
    """Run ``equicare ARGS...`` in-process through the console entry point; returns (exit code, stdout, stderr)."""
    import sys

    from equicare.cli import main

    def run(*args) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["equicare", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
