"""An uploaded table (``POST /api/datasets``, the dashboard's upload form): checked in a worker process, stored by
the web process.

The web process receives the body in memory (:mod:`equicare.service.uploads`: bounded while it streams, never
spooled to disk) and hands the bytes to the service's worker pool (:mod:`equicare.service.jobs`), where
:func:`check_upload` parses the CSV, XLSX or Parquet file, checks every row and builds the cleaned table exactly
as ``equicare load`` does (:func:`equicare.data.load_table`), and takes the bytes' fingerprint. The web process
only writes the checked table into the store, in one transaction, on a thread (:func:`store_checked`): a file
that breaks a rule (file, row, column, rule: :class:`~equicare.errors.ValidationError`) or a worker that dies
leaves nothing stored. A full pool refuses the upload with :class:`~equicare.service.jobs.Busy` (503, or 429
for an account's own share) before it is checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from equicare.data.load import ReadLimits
from equicare.errors import EquicareError
from equicare.store import Store

__all__ = ["UPLOAD_KINDS", "CheckedUpload", "StoredUpload", "check_upload", "dataset_name", "label_of",
           "store_checked", "upload_dataset"]

UPLOAD_KINDS = ("regions", "facilities", "demand", "costs")
"""Kinds of table a dataset upload may be (the schemas of :mod:`equicare.data.schemas`)."""


@dataclass
class CheckedUpload:
    """A table :func:`check_upload` read and checked (in a worker): the cleaned rows, the cleaning report
    (:meth:`equicare.data.load.CleaningReport.to_dict`), the SHA-256 of the uploaded bytes, the label the
    messages used and the worker's process id."""

    table: pd.DataFrame
    report: dict
    fingerprint: str
    label: str
    worker_pid: int


@dataclass
class StoredUpload:
    """An upload stored as a dataset: its id, its cleaning report and the process id of the worker that checked
    it (recorded in the audit log)."""

    id: int
    report: dict
    worker_pid: int


def label_of(filename: str | None) -> str:
    """An uploaded file's name reduced to its base name (at most 128 characters): a label for messages only,
    never a path."""
    return Path(str(filename or "upload").replace("\\", "/")).name[:128] or "upload"


def dataset_name(name: str | None, label: str) -> str:
    """The dataset's name: the one given, else the file's stem (at most 128 characters)."""
    return (name or Path(label).stem or "upload")[:128]


def check_upload(data: bytes, kind: str, filename: str | None, limits: ReadLimits | None = None,
                 count_columns: list[str] | None = None) -> CheckedUpload:
    """Parse and check an uploaded table of ``kind`` (runs in a worker process; touches no store).

    Raises
    ------
    ValidationError
        Every broken rule (file, 1-based row with the header as row 1, column, rule), counted per rule.
    EquicareError
        An unknown ``kind``.
    """
    from equicare.data import fingerprint, load_table

    if kind not in UPLOAD_KINDS:
        raise EquicareError(f"kind must be one of {', '.join(UPLOAD_KINDS)}, got {kind!r}")
    label = label_of(filename)
    # the upload form declares no date format: its messages say YYYY-MM-DD only, never suggest date_format
    table, report = load_table(data, kind, name=label, limits=limits, count_columns=count_columns,
                               date_format_key=None)
    return CheckedUpload(table, report.to_dict(), fingerprint(data), label, os.getpid())


def store_checked(store: Store, checked: CheckedUpload, kind: str, name: str | None, *, org: str,
                  user: str) -> int:
    """Write a checked upload into ``store`` as a dataset of ``org`` (one transaction); returns its id."""
    return store.save_dataset(dataset_name(name, checked.label), kind, checked.table,
                              source=f"upload:{checked.label}", fingerprint=checked.fingerprint,
                              report=checked.report, org=org, created_by=user)


async def upload_dataset(store: Store, pool, who: str, data: bytes, kind: str, name: str | None,
                         filename: str | None, *, org: str, user: str, limits: ReadLimits | None = None,
                         count_columns: list[str] | None = None) -> StoredUpload:
    """Check an upload in a worker of ``pool`` (a :class:`~equicare.service.jobs.JobPool`), then store it from a
    thread of the web process.

    Raises :class:`~equicare.service.jobs.Busy` or :class:`~equicare.service.jobs.WorkerCrashed` (nothing
    stored), or :func:`check_upload`'s errors.
    """
    from fastapi.concurrency import run_in_threadpool

    if kind not in UPLOAD_KINDS:  # said at once, without a worker
        raise EquicareError(f"kind must be one of {', '.join(UPLOAD_KINDS)}, got {kind!r}")
    checked = await pool.run(who, check_upload, data, kind, filename, limits, count_columns)
    ds_id = await run_in_threadpool(store_checked, store, checked, kind, name, org=org, user=user)
    return StoredUpload(ds_id, checked.report, checked.worker_pid)
