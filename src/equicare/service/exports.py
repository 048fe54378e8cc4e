"""Exports and downloads: every table leaving the service has its person counts small-cell suppressed.

Person counts are the columns the uploader declared (``count_columns``, stored in the dataset's report)
or, without a declaration, the numeric columns of whole non-negative numbers named like a count of
people or events (:data:`equicare.data.counts.COUNT_NAME`: ``count``, ``*admissions*``, ``*patients*``,
``*cases*``, ``*deaths*``, ``*visits*``, ...), plus ``value`` in a table of region x date observations.
A table that already carries ``<column>_suppressed`` flags (a suppressed release) keeps its own
suppression. Counts of facilities or beds (``n_facilities``, ``cap_*``) are not about people.

Those columns go through :func:`equicare.privacy.suppress.suppress_small_cells` (1..10 hidden, with
complementary suppression), grouped by date when the table has one. For a stored dataset, every download
and every suppressed release is also checked against the outputs already given out of the same data
(:mod:`equicare.privacy.disclosure`), so that two outputs together cannot reveal a hidden count.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from equicare.data.counts import COUNT_NAME, default_count_columns, is_count_name, type_extra_columns
from equicare.privacy.disclosure import DataIndex, OutputCells, RecordedCells, plan_outputs, protect_outputs
from equicare.privacy.ledger import budget_key
from equicare.privacy.suppress import suppress_small_cells
from equicare.service.csvsafe import neutralise_formulas
from equicare.store import Store

__all__ = ["PERSON_COUNT", "ROWS", "DownloadCells", "DownloadInputs", "SuppressedCells", "csv_text", "dataset_export",
           "download_cells", "download_inputs", "person_count_columns", "record_download",
           "record_suppressed_release", "result_download", "suppressed_release",
           "suppressed_release_cells", "suppressed_table"]

PERSON_COUNT = COUNT_NAME
ROWS = "__rows__"  # the ledger's name for "number of rows" (a release without count columns)
THRESHOLD = 11


def person_count_columns(df: pd.DataFrame, declared: list[str] | None = None) -> list[str]:
    """The columns of ``df`` treated as counts of people (see the module docstring)."""
    flagged = {c for c in map(str, df.columns) if f"{c}_suppressed" in df.columns}
    if declared is not None:
        return [c for c in declared if c in df.columns and c not in flagged]
    out = [c for c in default_count_columns(df) if c not in flagged]
    if "date" in df.columns and "value" in df.columns and "value" not in out and "value" not in flagged:
        if default_count_columns(df.rename(columns={"value": "count"})).count("count"):
            out.append("value")
    return out


def suppressed_table(df: pd.DataFrame, threshold: int = THRESHOLD, count_columns: list[str] | None = None
                     ) -> tuple[pd.DataFrame, dict]:
    """``df`` with its person-count columns suppressed (one output on its own, nothing recorded)."""
    cols = person_count_columns(df, count_columns)
    if not cols:
        return df, {"columns": [], "n_primary": 0, "n_complementary": 0}
    group = "date" if "date" in df.columns and len(df) else None
    out, rep = suppress_small_cells(df, cols, threshold=threshold, group_column=group)
    return out, {"columns": cols, **rep.to_dict()}


def csv_text(df: pd.DataFrame) -> str:
    """CSV text of a table as it leaves the service: spreadsheet formulas neutralised
    (:func:`equicare.service.csvsafe.neutralise_formulas`), whole-number columns as integers
    (:func:`equicare.csvout.csv_text`), no index."""
    from equicare import csvout

    return csvout.csv_text(neutralise_formulas(df))


def result_download(df: pd.DataFrame, write: Callable[[pd.DataFrame], str], threshold: int = THRESHOLD) -> str:
    """A run result as it leaves the service: person counts suppressed (:func:`suppressed_table`), then written
    as text by ``write`` (:func:`csv_text`, or JSON records); the service makes it in a worker process for a
    large table."""
    out, _ = suppressed_table(df, threshold)
    return write(out)


def _cells(index: DataIndex, out: pd.DataFrame, col: str, members: list[np.ndarray], specs: list[str],
           signature: str) -> OutputCells:
    flag = out[f"{col}_suppressed"].to_numpy(bool)
    return OutputCells(signature, col, specs, members, np.zeros(len(specs)), ~flag, np.zeros(len(specs), bool))


def _finish(o: OutputCells, base: np.ndarray, threshold: int) -> OutputCells:
    vals = np.array([float(np.nansum(base[m])) for m in o.members])
    o.values = vals
    o.primary = (vals >= 1) & (vals <= threshold - 1)
    return o


def _apply_outputs(table: pd.DataFrame, names: list[str], outputs: list[OutputCells],
                   truths: dict[str, np.ndarray]) -> int:
    """Write each output's first ``len(table)`` cells (the table's own rows; the rest are group sums and totals)
    into ``table`` as shown values and ``<name>_suppressed`` flags; returns the cells hidden by the cross-output
    check."""
    k = len(table)
    for c, o in zip(names, outputs):
        body = OutputCells(o.signature, c, o.specs[:k], o.members[:k], o.values[:k], o.shown[:k], o.primary[:k])
        _apply(table, c, body, truths[c])
    return int(sum(o.added for o in outputs))


def _apply(out: pd.DataFrame, col: str, o: OutputCells, truth: np.ndarray) -> None:
    s = pd.array(np.where(np.isnan(truth), 0, truth).astype(np.int64), dtype="Int64")
    s[np.isnan(truth) | ~o.shown] = pd.NA
    out[col] = pd.Series(s, index=out.index)
    out[f"{col}_suppressed"] = ~o.shown


@dataclass
class DownloadInputs:
    """What a download of a stored dataset is computed from (:func:`download_inputs`, in the process that owns the
    store): the typed rows, the person-count columns, the data's budget key and the cells already recorded for it."""

    table: pd.DataFrame
    columns: list[str]
    org: str
    data_key: str
    recorded: RecordedCells


@dataclass
class DownloadCells:
    """A download computed from :class:`DownloadInputs` (:func:`download_cells`, a worker process runs it): each
    count column's cells (rows, then date groups, then the total), suppressed and already checked against the
    recorded outputs of the same data; recorded and applied by :func:`record_download`."""

    inputs: DownloadInputs
    outputs: list[OutputCells]
    bases: dict[str, np.ndarray]
    index: DataIndex
    report: dict


def download_inputs(store: Store, dataset_id: int) -> DownloadInputs:
    """Read a stored dataset, its person-count columns and the cells recorded for its data (cheap; no check)."""
    df = store.get_dataset(dataset_id)
    info = store.dataset_info(dataset_id)
    # datasets stored before extra columns were typed: count-named text columns of numbers become numbers
    df, _ = type_extra_columns(df, {c for c in df.columns if not is_count_name(c)})
    declared = (info.get("report") or {}).get("count_columns")
    cols = person_count_columns(df, declared)
    if not cols or not len(df):
        return DownloadInputs(df, [], "", "", RecordedCells({}))
    key = budget_key(store, dataset_id)
    return DownloadInputs(df, cols, key.org, key.data_key, RecordedCells.read(store, key.org, key.data_key, cols))


def download_cells(inputs: DownloadInputs, threshold: int = THRESHOLD) -> DownloadCells:
    """Suppress the person counts of ``inputs`` (1..10 hidden, complementary cells per date group and in total)
    and check the cells against the outputs recorded for the same data; touches no store."""
    df, cols = inputs.table, inputs.columns
    group = "date" if "date" in df.columns else None
    full, rep = suppress_small_cells(df, cols, threshold=threshold, group_column=group, total_row=True)
    index = DataIndex(df)
    n = len(df)
    members = [np.array([i]) for i in range(n)]
    specs = list(index.row_keys)
    if group:
        codes, uniques = pd.factorize(df[group], sort=False, use_na_sentinel=False)
        for g in range(len(uniques)):
            rows = np.flatnonzero(codes == g)
            members.append(rows)
            specs.append(index.group_spec({group: int(rows[0])}))
    members.append(np.arange(n))
    specs.append(json.dumps({"g": {}}))
    outputs, bases = [], {}
    for c in cols:
        base = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bases[c] = base
        outputs.append(_finish(_cells(index, full, c, members, specs, f"download|group={group}"), base, threshold))
    plan_outputs(inputs.recorded, index, outputs, bases, threshold)
    return DownloadCells(inputs, outputs, bases, index, {"columns": cols, **rep.to_dict()})


def record_download(store: Store, cells: DownloadCells, threshold: int = THRESHOLD) -> tuple[pd.DataFrame, dict]:
    """Record a computed download's cells (checked again here only if other outputs of the same data were
    recorded meanwhile) and return the table as it leaves, with its suppression report."""
    inp = cells.inputs
    outputs = cells.outputs
    protect_outputs(store, inp.org, inp.data_key, cells.index, outputs, cells.bases, threshold,
                    planned=inp.recorded)
    out = inp.table.copy()
    added = _apply_outputs(out, inp.columns, outputs, cells.bases)
    return out, {**cells.report, "added_by_cross_check": added}


def dataset_export(store: Store, dataset_id: int, threshold: int = THRESHOLD) -> tuple[pd.DataFrame, dict]:
    """A stored dataset as it may leave the service: person counts suppressed, consistently with every
    earlier output of the same data (recorded in the store), all in this process. The service computes
    the cells in a worker (:func:`download_inputs`, :func:`download_cells`, :func:`record_download`)."""
    inputs = download_inputs(store, dataset_id)
    if not inputs.columns:
        return inputs.table, {"columns": [], "n_primary": 0, "n_complementary": 0}
    return record_download(store, download_cells(inputs, threshold), threshold)


@dataclass
class SuppressedCells:
    """A suppressed release computed from the rows (:func:`suppressed_release_cells`; the service runs it in a
    worker process), before it is checked against the earlier outputs of the same data and recorded
    (:func:`record_suppressed_release`, in the process that owns the store).

    ``agg``: the per-region sums (one row per region found, exact values); ``outputs``: the cells of each
    count column (per-region cells, then the total), suppressed on their own; ``bases``: each row's count
    per count column; ``index``: the rows' cell specs (:class:`~equicare.privacy.disclosure.DataIndex`);
    ``report``: the suppression report; ``notes``: notes on the rows outside the public region list.
    """

    agg: pd.DataFrame
    names: list[str]
    outputs: list[OutputCells]
    bases: dict[str, np.ndarray]
    index: DataIndex
    report: dict
    notes: list[str] = field(default_factory=list)
    planned: RecordedCells | None = None  # the records the outputs were already checked against (in the worker)


def suppressed_release_cells(df: pd.DataFrame, by: str, cols: list[str], regions: list[str], codes: np.ndarray,
                             threshold: int = THRESHOLD) -> SuppressedCells:
    """Per-region sums of ``cols`` (or row counts) over the rows in a public region, each column suppressed on
    its own, with the cells' specs and members (reads every row; touches no store). ``codes`` are the rows'
    indices in ``regions`` (``len(regions)`` outside)."""
    inside = np.flatnonzero(codes < len(regions))
    sub = df.iloc[inside]
    names = list(cols) or ["count"]
    keys = sub[by].astype("string").str.strip()
    rcodes, uniques = pd.factorize(keys, sort=True)
    agg = pd.DataFrame({by: [str(u) for u in uniques]})
    bases = {}
    for c in names:
        base = (np.ones(len(df)) if not cols else
                pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan))
        bases[ROWS if not cols else c] = base
        agg[c] = np.bincount(rcodes, weights=np.nan_to_num(base[inside]), minlength=len(uniques)).round()
    full, rep = suppress_small_cells(agg, names, threshold=threshold, total_row=True)
    index = DataIndex(df)
    order = np.argsort(rcodes, kind="stable")  # each region's rows, in row order
    bounds = np.cumsum(np.bincount(rcodes, minlength=len(uniques)))[:-1]
    members = (np.split(inside[order], bounds) if len(uniques) else []) + [inside]
    specs = [index.group_spec({by: int(m[0])}) for m in members[:-1]]
    specs.append(json.dumps({"g": {}}) if len(inside) == len(df) else index.within_spec(by, inside))
    ends = f"{regions[0]}:{regions[-1]}" if regions else ""
    signature = f"release|by={by}|regions={len(regions)}:{ends}"
    outputs = []
    for c in names:
        name = ROWS if not cols else c
        o = _cells(index, full, c, members, specs, signature)
        o.column = name
        outputs.append(_finish(o, bases[name], threshold))
    return SuppressedCells(agg, names, outputs, bases, index, rep.to_dict())


def record_suppressed_release(store: Store, org: str, data_key: str, cells: SuppressedCells,
                              threshold: int = THRESHOLD) -> tuple[pd.DataFrame, dict]:
    """Check a computed suppressed release against every earlier output of the same data (``org`` and
    ``data_key``: the dataset's budget key), hide more where needed, record its cells
    (:func:`~equicare.privacy.disclosure.protect_outputs`, atomic under the store's lock; inside a caller's
    transaction it commits with it) and return the table and its report."""
    outputs = cells.outputs
    protect_outputs(store, org, data_key, cells.index, outputs, cells.bases, threshold, planned=cells.planned)
    table = cells.agg.copy()
    truths = {c: cells.agg[c].to_numpy(dtype=float) for c in cells.names}
    added = _apply_outputs(table, cells.names, outputs, truths)
    return table, {**cells.report, "added_by_cross_check": added}


def suppressed_release(store: Store, dataset_id: int, df: pd.DataFrame, by: str, cols: list[str],
                       regions: list[str], codes: np.ndarray, threshold: int = THRESHOLD
                       ) -> tuple[pd.DataFrame, dict]:
    """Per-region sums of ``cols`` (or row counts) over the rows in a public region, suppressed and checked
    against every earlier output of the same data, in this process (:func:`suppressed_release_cells` then
    :func:`record_suppressed_release`). ``codes`` are the rows' indices in ``regions`` (``len(regions)``
    outside)."""
    cells = suppressed_release_cells(df, by, cols, regions, codes, threshold)
    key = budget_key(store, dataset_id)
    return record_suppressed_release(store, key.org, key.data_key, cells, threshold)
