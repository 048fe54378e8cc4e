"""Cost tables for facility location: demand points x candidate sites, and the checks every model shares.

A cost table holds the cost of serving each demand point from each candidate site (travel time, metres,
money).  A pair missing from the table means that site cannot serve that demand point (``inf`` in the
dense matrix).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from equicare.data.readers import sheet_row
from equicare.errors import EquicareError, InfeasibleError, Problem, ValidationError
from equicare.optimize.location.rows import SortedRows


@dataclass
class CostTable:
    """Demand ids, site ids and the allowed pairs sorted per demand point (a pair missing from the table
    means that site cannot serve that point).

    Attributes
    ----------
    demand_ids, site_ids : list of str
    rows : SortedRows
        The pairs, sparse: memory follows the pairs in the table, never demand x sites.
    cost : ndarray, shape (n_demand, n_site)
        The dense matrix (``inf`` for a missing pair), built on first use.
    """

    demand_ids: list[str]
    site_ids: list[str]
    rows: SortedRows
    _dense: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_dense(cls, demand_ids, site_ids, cost: np.ndarray) -> CostTable:
        cost = np.asarray(cost, dtype=float)
        return cls([str(v) for v in demand_ids], [str(v) for v in site_ids], SortedRows.from_dense(cost), cost)

    @property
    def cost(self) -> np.ndarray:
        if self._dense is None:
            self._dense = self.rows.dense()
        return self._dense


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and the distinct values (as str) of an id column (categorical columns stay cheap)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(np.int64), col.cat.categories.astype(str).to_numpy()
    codes, uniq = pd.factorize(col.astype(str))
    return codes.astype(np.int64), np.asarray(uniq, dtype=object)


def cost_table_from_long(df: pd.DataFrame, demand_ids=None, file: str = "cost table",
                         origin: str = "origin", destination: str = "destination",
                         cost: str = "cost") -> CostTable:
    """A long cost table (origin = demand point, destination = candidate site) as a :class:`CostTable`.

    Parameters
    ----------
    df : DataFrame
        Columns ``origin, destination, cost`` (id columns may be categorical, as :func:`read_cost_csv`
        gives them).
    demand_ids : sequence of str, optional
        Order of the demand points (default: order of first appearance); pairs of other origins are
        ignored.  A pair missing from the table means that site cannot serve that point.
    file : str
        Name used in error messages.

    Raises
    ------
    ValidationError
        Missing columns, non-numeric or negative costs, duplicate pairs.
    """
    probs = []
    for col in (origin, destination, cost):
        if col not in df.columns:
            probs.append(Problem(file, None, col, "required column is missing"))
    if probs:
        raise ValidationError(probs)
    oc, ov = _codes(df[origin])
    dc, dv = _codes(df[destination])
    for col, codes in ((origin, oc), (destination, dc)):
        for k in np.flatnonzero(codes < 0)[:20]:
            probs.append(Problem(file, sheet_row(df, k), col, "id is missing"))
    c = pd.to_numeric(df[cost], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(c) | (c < 0))
    for k in bad[:20]:
        probs.append(Problem(file, sheet_row(df, k), cost, "must be a non-negative number", df[cost].iloc[k]))
    key = oc.astype(np.int64) * max(len(dv), 1) + dc
    ks = np.sort(key, kind="stable")  # radix sort: a quick test before the slower exact search
    dup = pd.Series(key).duplicated().to_numpy() if np.any(ks[1:] == ks[:-1]) else np.zeros(len(key), bool)
    for k in np.flatnonzero(dup)[:20]:
        probs.append(Problem(file, sheet_row(df, k), f"{origin},{destination}", "duplicate pair",
                             f"{ov[oc[k]]}->{dv[dc[k]]}"))
    if probs:
        raise ValidationError(probs)
    # order of first appearance
    o_first = _first_index(oc, len(ov))
    d_first = _first_index(dc, len(dv))
    d_order = np.argsort(d_first, kind="stable")
    site_ids = [str(v) for v in dv[d_order]]
    site_of = np.empty(len(dv), np.int64)
    site_of[d_order] = np.arange(len(dv))
    if demand_ids is None:
        demand_ids = [str(v) for v in ov[np.argsort(o_first, kind="stable")]]
    demand_ids = [str(v) for v in demand_ids]
    dem_of = pd.Index(demand_ids).get_indexer(pd.Index(ov.astype(str)))
    r = dem_of[oc]
    keep = r >= 0
    rows = SortedRows.from_pairs(r[keep], site_of[dc[keep]], c[keep], len(demand_ids), len(site_ids))
    return CostTable(demand_ids, site_ids, rows)


def _first_index(codes: np.ndarray, k: int) -> np.ndarray:
    """Row of the first appearance of each code ``0..k-1`` (codes that never appear are dropped), in O(rows):
    writing the row numbers backwards leaves the first one."""
    first = np.full(k, len(codes), np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first[first < len(codes)]


BIG_COST_FILE = 64 * 1024 * 1024
"""Cost files larger than this (bytes, plain CSV) are read with pyarrow's fast reader; smaller ones, and
XLSX/Parquet/gzip files, go through :func:`equicare.data.readers.read_table`, which checks the rows and numbers
them exactly (header = row 1)."""


def read_cost_csv(path: str) -> pd.DataFrame:
    """Read a long cost table: the shared reader for ordinary files, pyarrow's multi-threaded CSV reader for
    very large plain CSV files (origin and destination as categoricals, so millions of rows cost no Python
    strings; rows are then numbered as if the file had no blank line).

    Raises
    ------
    EquicareError
        When the file cannot be read.
    """
    from pathlib import Path

    from equicare.data.readers import SheetRows, read_table

    p = Path(path)
    try:
        big = p.stat().st_size > BIG_COST_FILE and p.suffix.lower() == ".csv"
        if big:
            with p.open("rb") as fh:
                big = fh.read(4) != b"PAR1"
    except OSError as exc:
        raise EquicareError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if not big:
        return read_table(path, text=("id", "origin", "destination"), ids=("id", "origin", "destination"))
    import pyarrow as pa
    import pyarrow.csv as pcsv

    cat = pa.dictionary(pa.int32(), pa.string())
    try:
        t = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            column_types={"origin": cat, "destination": cat}, strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return read_table(path, text=("id", "origin", "destination"), ids=("id", "origin", "destination"))
    df = t.to_pandas()
    df.attrs["sheet_rows"] = SheetRows(np.arange(2, len(df) + 2))
    return df


def prepare_rows(cost, weights, open_sites, site_ids, demand_ids):
    """Check a cost matrix (``inf`` = pair not allowed) or sorted pairs, weights, site ids and forced sites;
    returns the allowed pairs sorted per point (:class:`SortedRows`): (rows, w, forced, site_ids, demand_ids)."""
    if isinstance(cost, SortedRows):
        rows = cost
    else:
        C = np.asarray(cost, dtype=float)
        if C.ndim != 2:
            raise EquicareError("cost must be a demand-by-site matrix")
        if np.isnan(C).any():
            raise EquicareError("costs must be numbers (inf for a pair that is not allowed), not NaN")
        rows = SortedRows.from_dense(C)
    return (rows, *_prepare_rest(rows.n_demand, rows.n_site, weights, open_sites, site_ids, demand_ids))


def _prepare_rest(n, m, weights, open_sites, site_ids, demand_ids):
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != (n,):
        raise EquicareError(f"{w.size} demand weights for {n} demand units")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise EquicareError("demand weights must be finite and non-negative")
    site_ids = [str(s) for s in (site_ids if site_ids is not None else range(m))]
    demand_ids = [str(s) for s in (demand_ids if demand_ids is not None else range(n))]
    forced = np.zeros(m, bool)
    if open_sites is not None and len(open_sites):
        idx = {s: k for k, s in enumerate(site_ids)}
        unknown = [str(s) for s in open_sites if str(s) not in idx]
        if unknown:
            raise EquicareError(f"sites to keep open are not candidate sites: {', '.join(unknown[:10])}")
        forced[[idx[str(s)] for s in open_sites]] = True
    return w, forced, site_ids, demand_ids

def check_p(p, m, forced):
    if p is None:
        raise EquicareError("this model needs --p (the number of sites to open)")
    if not 1 <= p <= m:
        raise EquicareError(f"p must be between 1 and the number of candidate sites ({m}), not {p}")
    if forced.sum() > p:
        raise InfeasibleError(f"{int(forced.sum())} sites are forced open but only p = {p} may open")
