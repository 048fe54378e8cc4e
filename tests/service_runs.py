"""Waiting for a service run in the API tests: one poll loop instead of one per test file."""

from __future__ import annotations

import time


def wait_for_run(client, headers: dict, run_id: str, seconds: float = 600) -> dict:
    """GET /api/runs/RUN_ID every quarter second until the run is no longer running; its info. Bounded: a
    stuck run fails the test (AssertionError after ``seconds``), never hangs it."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        info = client.get(f"/api/runs/{run_id}", headers=headers).json()
        if info["status"] != "running":
            return info
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} still running after {seconds} s")
