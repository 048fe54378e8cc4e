"""One entry point for every location model, and the files behind ``equicare locate``."""

from __future__ import annotations

import re
import numpy as np
import pandas as pd

from equicare.data.readers import find_column, read_table, sheet_row
from equicare.errors import EquicareError, Problem, ValidationError
from equicare.optimize.location.center import p_center
from equicare.optimize.location.costs import CostTable, cost_table_from_long, read_cost_csv
from equicare.optimize.location.coverage import mclp
from equicare.optimize.location.capacitated import capacitated_p_median
from equicare.optimize.location.median import p_median
from equicare.optimize.location.progress import DEFAULT_GAP, Deadline, Progress
from equicare.optimize.location.result import LocationResult
from equicare.optimize.location.setcover import lscp

MODELS = ("pmedian", "cpmedian", "mclp", "lscp", "pcenter")


def locate(model: str, table: CostTable, demand: np.ndarray | None = None, p: int | None = None,
           service_radius: float | None = None, open_sites=None, capacity=None,
           time_limit: float | None = None, gap: float = DEFAULT_GAP, deadline: Deadline | None = None,
           progress: Progress | None = None) -> LocationResult:
    """Dispatch to one of :data:`MODELS` on a :class:`CostTable` (used by ``equicare locate``).

    ``time_limit`` (seconds) and ``gap`` (relative) bound the solve; a ``deadline`` started earlier (by the
    command, before reading its files) takes precedence, so that the limit covers the whole command.
    """
    if model not in MODELS:
        raise EquicareError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    if time_limit is not None and not (np.isfinite(time_limit) and time_limit > 0):
        raise EquicareError(f"--time-limit must be a positive number of seconds, got {time_limit}")
    if not (0 <= gap < 1):
        raise EquicareError(f"--gap must be a fraction in [0, 1), not {gap:g}")
    deadline = deadline or Deadline(time_limit)
    kw = {"site_ids": table.site_ids, "demand_ids": table.demand_ids, "open_sites": open_sites}
    if model == "pmedian":
        return p_median(table.rows, demand, p, gap=max(gap, 1e-9), deadline=deadline, progress=progress, **kw)
    left = deadline.remaining()
    if left is not None and left <= 0:
        # (the deadline keeps a margin to write the answer, so its seconds are not the --time-limit given)
        raise EquicareError(f"the time limit was used up before the {model} model could be built (starting and "
                            f"reading the files took {deadline.elapsed():.2f} s); give a larger --time-limit")
    if model == "cpmedian":
        if capacity is None:
            raise EquicareError("the capacitated p-median needs site capacities (--capacity)")
        return capacitated_p_median(table.rows, demand, capacity, p, gap=gap, deadline=deadline, progress=progress,
                                    **kw)
    if model == "mclp":
        return mclp(table.rows, demand, p, service_radius, gap=gap, deadline=deadline, progress=progress, **kw)
    if model == "lscp":
        return lscp(table.rows, service_radius, time_limit=left, **kw)
    return p_center(table.rows, p, deadline=deadline, progress=progress, **kw)


def _read_csv(path: str, what: str) -> pd.DataFrame:
    """The ``what`` table (CSV, XLSX or Parquet) with ids as text (see :mod:`equicare.data.readers`)."""
    return read_table(path, text=("id", "origin", "destination"), ids=("id", "origin", "destination"))


def named_columns(df: pd.DataFrame, names, path: str) -> pd.DataFrame:
    """``df`` with its columns ``names`` spelled as asked, matched ignoring case and surrounding spaces (as every
    other reader does: ``Origin``, `` ID `` and ``Demand`` are ``origin``, ``id`` and ``demand``).

    Raises
    ------
    ValidationError
        Every column that is not there, with the closest names (:func:`equicare.data.readers.find_column`).
    """
    renames, probs = {}, []
    for name in names:
        try:
            col = find_column(df, name, label=path)
        except ValidationError as exc:  # keep this command's wording, with the reader's suggestion
            hint = exc.problems[0].rule.split("; ", 1)[-1]
            probs.append(Problem(path, None, name, f"required column is missing; {hint}"))
            continue
        if col != name:
            renames[col] = name
    if probs:
        raise ValidationError(probs)
    return df.rename(columns=renames) if renames else df


def locate_files(cost_path: str, demand_path: str, model: str, p: int | None = None,
                 service_radius: float | None = None, demand_value: str = "demand",
                 open_sites: list[str] | None = None, time_limit: float | None = None,
                 gap: float = DEFAULT_GAP, deadline: Deadline | None = None,
                 progress: Progress | None = None, capacity_path: str | None = None,
                 capacity_value: str = "capacity") -> LocationResult:
    """Read ``C.csv`` (origin,destination,cost) and ``D.csv`` (id and a demand column) and solve.

    ``capacity_path`` (``cpmedian`` only): a table of the candidate sites, column ``id`` and ``capacity_value``
    (the demand each site can serve when open, in the units of the demand column); every site of the cost table
    needs a row, rows of other sites are ignored.

    Demand units are the rows of ``D.csv``, in its order; cost pairs whose origin is not listed there
    are ignored; a (demand, site) pair missing from ``C.csv`` means that site cannot serve that point.
    ``open_sites`` entries may also be comma-separated lists.  The cost table is read with pyarrow
    (millions of rows in seconds).

    Raises
    ------
    ValidationError
        Missing columns, bad numbers or duplicate ids, with file, row and column; a site without a capacity.
    EquicareError
        ``capacity_path`` with a model other than ``cpmedian``, or ``cpmedian`` without it.
    """
    if (capacity_path is not None) != (model == "cpmedian") and model in MODELS:
        raise EquicareError("--capacity is for --model cpmedian only" if capacity_path is not None else
                            "--model cpmedian needs --capacity (a table of the sites with id and capacity)")
    if model == "lscp" and p is not None:  # would be ignored: LSCP chooses how many sites to open
        raise EquicareError("--p is not for --model lscp, which opens the fewest sites that reach every demand "
                            "point within --service-radius; for a fixed number of sites use --model mclp")
    if model in ("pmedian", "cpmedian", "pcenter") and service_radius is not None:
        raise EquicareError(f"--service-radius is for --model mclp or lscp; {model} has no radius (a pair missing "
                            "from the cost table is what keeps a site from serving a point)")
    deadline = deadline or Deadline(time_limit)
    C = named_columns(read_cost_csv(cost_path), ("origin", "destination", "cost"), cost_path)
    if C.empty:
        raise ValidationError([Problem(cost_path, None, None, "file has a header but no rows")])
    D = named_columns(_read_csv(demand_path, "demand"), ("id", demand_value), demand_path)
    ids, w = id_amounts(D, demand_value, demand_path)
    absent = demand_not_in_costs(C, D, ids, demand_path, cost_path)
    if absent and (model != "mclp" or len(absent) == len(ids) or any(", which has" in q.rule for q in absent)):
        more = [Problem(demand_path, None, "id", f"... and {len(absent) - 20:,} more ids not in {cost_path}")]
        # (MCLP alone: a point with no pair is simply never covered, said in a note below)
        raise ValidationError(absent[:20] + (more if len(absent) > 20 else []))
    table = cost_table_from_long(C, demand_ids=list(ids), file=cost_path)
    del C
    cap = None if capacity_path is None else read_capacity(capacity_path, capacity_value, table.site_ids)
    opened = [s.strip() for item in (open_sites or []) for s in str(item).split(",") if s.strip()]
    res = locate(model, table, w, p=p, service_radius=service_radius, open_sites=opened or None,
                 capacity=cap, gap=gap, deadline=deadline, progress=progress)
    if absent:
        n_abs = len(absent)
        res.details["notes"] = list(res.details.get("notes", [])) + [
            f"{n_abs:,} demand point(s) of {demand_path} are not origins in {cost_path} (no site can cover them): "
            + ", ".join(str(q.value) for q in absent[:10]) + (" ..." if n_abs > 10 else "")]
    return res


def _id_key(v: str) -> str:
    """An id without case, surrounding spaces or leading zeros in its numbers (``KE-001`` ~ ``ke-1``, ``007`` ~
    ``7``): to name the id a file probably meant, never to match ids."""
    return re.sub(r"(?<!\d)0+(?=\d)", "", str(v).strip().lower())


def demand_not_in_costs(C: pd.DataFrame, D: pd.DataFrame, ids: pd.Series, demand_path: str,
                        cost_path: str) -> list[Problem]:
    """A problem (file, row, column ``id``) for each demand id that is no origin of the cost table at all.

    Ids are compared as text exactly as written; when the cost table has the same id spelled otherwise (leading
    zeros, case, spaces: ``7`` beside ``007``), the rule names it, since that is a mismatch of the files rather
    than a point out of reach."""
    col = C["origin"]
    known = pd.Index(col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype)
                     else col.dropna().unique()).astype(str)
    miss = np.flatnonzero(~ids.isin(known).to_numpy())
    if not len(miss):
        return []
    twin = dict(zip((_id_key(k) for k in known), known))
    probs = []
    for k in miss:
        t = twin.get(_id_key(ids.iloc[k]))
        rule = (f"not an origin in the cost table {cost_path}, which has '{t}' (ids are compared as text, "
                "exactly as written)" if t is not None else
                f"not an origin in the cost table {cost_path}: no site can serve this point")
        probs.append(Problem(demand_path, sheet_row(D, k), "id", rule, ids.iloc[k]))
    return probs


def id_amounts(T: pd.DataFrame, column: str, path: str) -> tuple[pd.Series, np.ndarray]:
    """The ``id`` column as text and ``column`` as non-negative numbers, of a demand or capacity table.

    Raises
    ------
    ValidationError
        A file with a header but no rows; a value that is not a non-negative number, a repeated id (file, row,
        column; the first 20 of each).
    """
    if T.empty:
        raise ValidationError([Problem(path, None, None, "file has a header but no rows")])
    ids = T["id"].astype(str)
    q = pd.to_numeric(T[column], errors="coerce").to_numpy(float)
    probs = [Problem(path, sheet_row(T, k), column, "must be a non-negative number", T[column].iloc[k])
             for k in np.flatnonzero(~np.isfinite(q) | (q < 0))[:20]]
    probs += [Problem(path, sheet_row(T, k), "id", "duplicate id", ids.iloc[k])
              for k in np.flatnonzero(ids.duplicated().to_numpy())[:20]]
    if probs:
        raise ValidationError(probs)
    return ids, q


def read_capacity(path: str, column: str, site_ids) -> np.ndarray:
    """Capacities of ``site_ids`` (in that order) from a table with ``id`` and ``column``; shape ``(n_site,)``.

    Raises
    ------
    ValidationError
        A missing column, a capacity that is not a non-negative number, a repeated id (file, row, column), or sites
        of the cost table without a row.
    """
    T = named_columns(_read_csv(path, "capacity"), ("id", column), path)
    ids, q = id_amounts(T, column, path)
    by_id = pd.Series(q, index=ids.to_numpy())
    sites = pd.Index([str(s) for s in site_ids])
    missing = sites[~sites.isin(by_id.index)]
    if len(missing):
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10:,} more" if len(missing) > 10 else "")
        twin = dict(zip((_id_key(k) for k in by_id.index), by_id.index))
        pairs = [(s, twin[_id_key(s)]) for s in missing if _id_key(s) in twin][:5]
        hint = ("; this file has " + ", ".join(f"'{t}' (not '{s}')" for s, t in pairs) +
                ": ids are compared as text, exactly as written") if pairs else ""
        raise ValidationError([Problem(path, None, "id", f"{len(missing):,} candidate site(s) of the cost table have "
                                                         f"no capacity: {shown}{hint}")])
    return by_id.reindex(sites).to_numpy(float)
