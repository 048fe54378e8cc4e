"""The dashboard's project runs in the service's worker pool (:mod:`equicare.service.jobs`).

A project run ingests the planner's files, computes access, inequality, a forecast and an allocation, and
writes a report: seconds to minutes of work, which never runs in the web process. The web process

1. checks the upload in a worker (:func:`check_job`: the project file parses and names only uploaded files,
   every input is read and validated as ``equicare run --check`` does);
2. records the run (``running``, "queued for a worker") and hands it to the pool (:func:`start_project_run`);
   a full pool refuses it with :class:`~equicare.service.jobs.Busy` before anything is recorded;
3. when the worker answers, writes the cleaned inputs as datasets, the run's parameters, fingerprints and
   results in one transaction (:func:`finish_project_run`), or marks the run failed with the error's own
   message (a worker that died is said as such); nothing of a failed run is kept.

The worker (:func:`project_job`) runs :func:`equicare.project.run_project` on a throw-away in-memory store
whose run has the id the web process recorded, writes the report and CSVs under the project's folder
(``<folder>/out``), the run page's maps and tables (:mod:`equicare.service.project_pages`) and its progress to
``<folder>/.progress.json`` (:func:`read_progress`; uploaded file names never start with a dot, so it cannot
clash with an input), and sends back the tables. A what-if on a finished run's allocation is solved in a worker
too (:func:`whatif_job`).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

import pandas as pd

from equicare.errors import EquicareError
from equicare.store import Store

__all__ = ["PROGRESS_FILE", "ProjectCheck", "ProjectOutput", "StoredDataset", "check_job", "confine",
           "finish_project_run", "project_job", "read_progress", "start_project_run", "whatif_job"]

PROGRESS_FILE = ".progress.json"


def project_paths(project) -> list[tuple[str, Path]]:
    """Every file or folder a parsed project names, as ``(key, path)`` (``regions.file``, ``travel.network``,
    ``prepared``, ...): every :class:`~pathlib.Path` field of the project and of its sections, so a key added to
    the project file later is covered without a change here."""
    out: list[tuple[str, Path]] = []
    for f in fields(project):
        if f.name == "path":
            continue
        value = getattr(project, f.name)
        if isinstance(value, Path):
            out.append((f.name, value))
        elif is_dataclass(value):
            out += [(f"{f.name}.{g.name}", getattr(value, g.name)) for g in fields(value)
                    if isinstance(getattr(value, g.name), Path)]
    return out


def confine(project, folder: Path) -> None:
    """Refuse a project whose files lie outside its upload folder (an uploaded project names only uploaded files).

    Raises
    ------
    EquicareError
        Naming the key and the file name.
    """
    root = Path(folder).resolve()
    for key, path in project_paths(project):
        if not Path(path).resolve().is_relative_to(root):
            raise EquicareError(f"{key}: {Path(path).name} is not among the uploaded files; upload it with the "
                                "project and name it without a folder")


@dataclass
class StoredDataset:
    """A cleaned input the run stored (regions, facilities, demand), to be saved in the service's store."""

    name: str
    kind: str
    table: pd.DataFrame
    source: str
    fingerprint: str
    report: dict
    org: str


@dataclass
class ProjectOutput:
    """What a project run computed in a worker: the run's record, result tables and cleaned inputs."""

    params: dict
    fingerprints: dict
    summary: dict
    tables: dict[str, pd.DataFrame]
    datasets: list[StoredDataset] = field(default_factory=list)
    worker_pid: int = 0


class _RunStore(Store):
    """A throw-away in-memory store whose run gets the id the web process already recorded."""

    def __init__(self, run_id: str) -> None:
        super().__init__(":memory:")
        self.fixed_run_id = run_id

    def start_run(self, kind, params, fingerprints=None, org="local", created_by=None, run_id=None) -> str:
        return super().start_run(kind, params, fingerprints, org, created_by, run_id=self.fixed_run_id)


@dataclass
class ProjectCheck:
    """What :func:`check_job` found: the project's name and what would run (``equicare run --check``'s lines)."""

    name: str
    lines: list[str]
    worker_pid: int = 0


def check_job(path: str, folder: str) -> ProjectCheck:
    """Validate an uploaded project in a worker: the project file parses, its files lie in ``folder`` and every
    input reads cleanly.

    Raises
    ------
    EquicareError / ValidationError
        A file outside the upload, a bad project file or input (file, row, column and rule).
    """
    from equicare.project import check_project, load_project

    project = load_project(path)
    confine(project, Path(folder))
    return ProjectCheck(project.name, check_project(path)[2], os.getpid())


def whatif_job(allocation: pd.DataFrame, stock: float, objective: str, fairness_weight: float,
               max_gini: float | None) -> tuple[pd.DataFrame, dict]:
    """:func:`equicare.project.allocation.whatif_allocation` of a project run's allocation (in a worker process:
    it builds and solves the allocation model again)."""
    from equicare.project.allocation import whatif_allocation

    return whatif_allocation(allocation, stock=stock, objective=objective, fairness_weight=fairness_weight,
                             max_gini=max_gini)


def _write_progress(folder: Path, stage: str, done: int, total: int) -> None:
    tmp = folder / (PROGRESS_FILE + ".tmp")
    tmp.write_text(json.dumps({"stage": str(stage), "done": int(done), "total": int(total)}))
    tmp.replace(folder / PROGRESS_FILE)


def read_progress(folder: Path) -> dict | None:
    """The worker's last progress report for a project run in ``folder`` (stage, done, total), or None."""
    try:
        return json.loads((Path(folder) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None


def project_job(run_id: str, path: str, folder: str, overrides: dict, org: str, created_by: str | None,
                extra_params: dict) -> ProjectOutput:
    """Run an uploaded project to the end in a worker process (module docstring); the store is not touched.

    Raises whatever :func:`equicare.project.run_project` raises (a user error names the file and rule).
    """
    from equicare.project import load_project, run_project

    where = Path(folder)
    confine(load_project(path), where)
    with _RunStore(run_id) as mem:
        run_project(path, where / "out", store=mem, org=org, created_by=created_by, overrides=overrides,
                    extra_params=extra_params, progress=lambda s, d, t: _write_progress(where, s, d, t))
        info = mem.get_run(run_id)
        tables = {n: mem.get_result(run_id, n) for n in mem.result_names(run_id)}
        datasets = []
        for ds_id in sorted(int(i) for i in mem.list_datasets()["id"]):
            d = mem.dataset_info(ds_id)
            datasets.append(StoredDataset(str(d["name"]), str(d["kind"]), mem.get_dataset(ds_id), str(d["source"]),
                                          str(d["fingerprint"] or ""), d["report"], str(d["org"])))
    _draw_page(where, run_id, tables)
    return ProjectOutput(info["params"], info["fingerprints"], info["summary"], tables, datasets, os.getpid())


def _draw_page(folder: Path, run_id: str, tables: dict[str, pd.DataFrame]) -> None:
    """Draw the run page's maps and tables here, in the worker (:mod:`equicare.service.project_pages`); a drawing
    that fails leaves no file (the page then draws them in a pool worker on its first view)."""
    from equicare.service.project_pages import render_project_page, write_page

    try:
        write_page(folder, run_id, render_project_page(tables))
    except Exception:  # noqa: BLE001 - the run's results stand without their drawing
        pass


def start_project_run(store: Store, pool, who: str, *, path: Path, folder: Path, project_name: str,
                      overrides: dict, org: str, user: str, project_id: str) -> str:
    """Record a project run and queue it in ``pool`` (a :class:`~equicare.service.jobs.JobPool`); returns its id.

    Raises
    ------
    Busy
        The pool or the account's share of it is full (nothing is recorded).
    """
    run_id = uuid.uuid4().hex[:12]
    extra = {"project_id": project_id}
    fut = pool.submit(who, project_job, run_id, str(path), str(folder), dict(overrides), org, user, extra)
    store.start_run("project", {"project": project_name, "file": str(path), "overrides": dict(overrides), **extra},
                    org=org, created_by=user, run_id=run_id)
    store.set_progress(run_id, 0, 1, "queued for a worker")
    fut.add_done_callback(lambda f: finish_project_run(store, run_id, f, user))  # after the run is recorded
    return run_id


def finish_project_run(store: Store, run_id: str, fut, user: str | None = None) -> None:
    """Done-callback of a project run's job: its datasets, record and results in one transaction, or its failure."""
    from equicare.service.jobs import failure_message

    try:
        exc = fut.exception() if not fut.cancelled() else RuntimeError("cancelled: the service is shutting down")
        if exc is not None:
            store.fail_run(run_id, failure_message(exc))
            return
        out: ProjectOutput = fut.result()
        with store.transaction():
            for d in out.datasets:
                store.save_dataset(d.name, d.kind, d.table, source=d.source, fingerprint=d.fingerprint,
                                   report=d.report, org=d.org, created_by=user)
            store.update_run(run_id, params=out.params, fingerprints=out.fingerprints)
            store.finish_run(run_id, out.tables, {**out.summary, "worker_pid": out.worker_pid})
    except Exception as exc:  # noqa: BLE001 - results that cannot be written: the run fails, cleanly
        try:
            store.fail_run(run_id, failure_message(exc))
        except Exception:  # noqa: BLE001 - the store is closed (shutdown); start-up recovery marks it
            pass
