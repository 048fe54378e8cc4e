"""Small-cell suppression with complementary suppression for published count tables.

Rule (the CMS cell-size suppression policy): a count from 1 to ``threshold - 1`` (1..10 by default) is
never published; zeros and counts of ``threshold`` or more are. Suppressing the small cells alone is not
enough when totals are published (or can be found elsewhere): a single suppressed cell in a column equals
the column total minus the shown cells. So every *line* of the table -- the cells of one count column
within one group together with that group's total -- must hide either nothing or at least two cells, and
the hidden cells must not be pinned to a single value by what an attacker knows about them (a primary
suppressed cell lies in ``1..threshold-1``, any other cell is ``>= 0``).

Threat model
------------
The published information is every shown cell, every shown total (per group when ``group_column`` is given,
and the grand total), and the suppression rule itself. Totals are protected whether or not they are printed
(``total_row=False`` assumes they may be published elsewhere), and a total that is itself 1..threshold-1 is
suppressed like any other cell. Count columns are protected one at a time: the sum *across* count columns of
a row is assumed not to be published (put it in its own count column and it is protected like the others,
but the cross-column identity is not; see ``docs/privacy.md``).

References
----------
.. [1] Centers for Medicare & Medicaid Services, "CMS Cell Size Suppression Policy" (2020): no cell
   1..10 may be displayed, nor any value from which such a cell could be derived.
.. [2] Hundepool, A. et al. (2012). *Statistical Disclosure Control*, Wiley, ch. 4.3 (primary and
   secondary suppression; the "at least two suppressed cells per line" rule and interval disclosure).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from equicare.errors import EquicareError

__all__ = ["SuppressionReport", "suppress_small_cells", "TOTAL_LABEL"]

TOTAL_LABEL = "Total"

_SHOWN, _PRIMARY, _COMPLEMENT = 0, 1, 2


@dataclass
class SuppressionReport:
    """What :func:`suppress_small_cells` hid and why.

    Attributes
    ----------
    threshold : int
        Counts from 1 to ``threshold - 1`` were suppressed (primary suppression).
    rule : str
        The rule in words, for the report.
    n_cells : int
        Count cells examined (body cells and totals).
    n_primary, n_complementary : int
        Cells hidden because they were small, and cells hidden so that totals cannot reveal those.
    by_column : dict
        ``{column: {"primary": n, "complementary": n}}``.
    """

    threshold: int
    rule: str
    n_cells: int = 0
    n_primary: int = 0
    n_complementary: int = 0
    by_column: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_counts(df: pd.DataFrame, count_columns: list[str]) -> np.ndarray:
    missing = [c for c in count_columns if c not in df.columns]
    if missing:
        raise EquicareError(f"suppress_small_cells: count column(s) not in the table: {', '.join(missing)}")
    out = np.empty((len(df), len(count_columns)), dtype=float)
    for j, c in enumerate(count_columns):
        col = pd.to_numeric(df[c], errors="coerce")
        bad = col.isna() & df[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise EquicareError(f"suppress_small_cells: row {i + 1}, column '{c}': count is not a number "
                                f"(value: {df[c].iloc[i]!r})")
        v = col.to_numpy(dtype=float, na_value=np.nan)
        finite = ~np.isnan(v)
        neg = finite & (v < 0)
        frac = finite & (np.abs(v - np.round(v)) > 1e-9)
        for mask, rule in ((neg, "count is negative"), (frac, "count is not a whole number")):
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                raise EquicareError(f"suppress_small_cells: row {i + 1}, column '{c}': {rule} (value: {v[i]!r})")
        out[:, j] = np.round(v)
    return out


def _others_sum(b: np.ndarray) -> np.ndarray:
    """For each i, the sum of ``b`` over all j != i, exact when some entries are infinite."""
    inf = np.isinf(b)
    fin = np.where(inf, 0.0, b)
    n_inf = inf.sum()
    out = fin.sum() - fin
    others_inf = n_inf - inf > 0
    return np.where(others_inf, np.inf if (b[inf] > 0).all() else -np.inf, out)


def _propagate(lo: np.ndarray, hi: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray]],
               max_rounds: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Tighten cell intervals ``[lo, hi]`` over the line identities ``sum(sign * x) == 0`` to a fixpoint.

    Each round applies, per line and with ``y_i = sign_i x_i``, ``y_i in [-sum_{j!=i} hi_j, -sum_{j!=i} lo_j]``
    (interval constraint propagation). The lines of a suppression table form a tree, on which this
    gives the exact ranges an attacker can deduce (checked against linear programming in the tests).
    """
    lo, hi = lo.copy(), hi.copy()
    for _ in range(max_rounds):
        changed = False
        for idx, sign in lines:
            ylo = np.where(sign > 0, lo[idx], -hi[idx])
            yhi = np.where(sign > 0, hi[idx], -lo[idx])
            with np.errstate(invalid="ignore"):
                nlo = np.maximum(ylo, -_others_sum(yhi))
                nhi = np.minimum(yhi, -_others_sum(ylo))
            xlo = np.where(sign > 0, nlo, -nhi)
            xhi = np.where(sign > 0, nhi, -nlo)
            if np.any(xlo > lo[idx] + 1e-9) or np.any(xhi < hi[idx] - 1e-9):
                lo[idx], hi[idx] = np.maximum(lo[idx], xlo), np.minimum(hi[idx], xhi)
                changed = True
        if not changed:
            break
    return lo, hi


def _protect_column(values: np.ndarray, lines: list[tuple[np.ndarray, int]], threshold: int) -> np.ndarray:
    """Suppression status of every cell of one count column.

    ``values`` holds the body cells then the totals (NaN = missing, treated as a known 0 by an attacker,
    which is the conservative choice); each line is ``(member cell indices, total cell index)`` with
    ``sum(members) == total``. An attacker knows every shown cell, that a primary hidden cell lies in
    ``1..threshold-1`` and any other in ``[0, inf)``; a hidden cell is disclosed when those facts and the
    identities pin it to one value while the rule alone (nothing shown) would not.
    """
    n_cells = len(values)
    status = np.zeros(n_cells, dtype=np.int8)
    known = ~np.isnan(values)
    vals0 = np.where(known, values, 0.0)
    primary = known & (vals0 >= 1) & (vals0 <= threshold - 1)
    status[primary] = _PRIMARY
    signed = [(np.append(m, t), np.append(np.ones(len(m)), -1.0)) for m, t in lines]
    cell_lines: list[list[int]] = [[] for _ in range(n_cells)]
    for k, (m, t) in enumerate(lines):
        for c in m:
            cell_lines[c].append(k)
        cell_lines[t].append(k)
    rule_lo = np.where(primary, 1.0, 0.0)
    rule_hi = np.where(primary, threshold - 1.0, np.inf)
    rlo, rhi = _propagate(rule_lo, rule_hi, signed)
    pinned_by_rule = rhi - rlo < 0.5

    def add_complement(members: np.ndarray, total: int) -> bool:
        cand = members[(status[members] == _SHOWN) & known[members]]
        if cand.size:
            v = vals0[cand]
            pos = cand[v > 0]
            pick = pos[np.argmin(vals0[pos])] if pos.size else cand[np.argmin(v)]
            status[pick] = _COMPLEMENT
            return True
        if status[total] == _SHOWN:
            status[total] = _COMPLEMENT
            return True
        return False

    def protect(cell: int) -> bool:
        """Hide one more cell as near as possible to ``cell`` (its own lines first, then outwards)."""
        seen_lines: set[int] = set()
        frontier = list(cell_lines[cell])
        while frontier:
            for k in frontier:
                if add_complement(*lines[k]):
                    return True
            seen_lines.update(frontier)
            nxt = []
            for k in frontier:
                m, t = lines[k]
                for c in np.append(m, t):
                    if status[c] != _SHOWN:
                        nxt += [j for j in cell_lines[c] if j not in seen_lines and j not in nxt]
            frontier = nxt
        return False

    while True:
        changed = True
        while changed:  # at least two hidden cells in every line that hides any
            changed = False
            for members, total in lines:
                idx = np.append(members, total)
                if int(np.count_nonzero(status[idx] != _SHOWN)) == 1:
                    changed |= add_complement(members, total)
        hidden = status != _SHOWN
        lo = np.where(hidden, rule_lo, vals0)
        hi = np.where(hidden, rule_hi, vals0)
        lo, hi = _propagate(lo, hi, signed)
        disclosed = np.flatnonzero(hidden & (hi - lo < 0.5) & ~pinned_by_rule)
        if disclosed.size == 0 or not any(protect(int(c)) for c in disclosed[:1]):
            return status


def suppress_small_cells(
    df: pd.DataFrame,
    count_columns: list[str] | str,
    threshold: int = 11,
    group_column: str | None = None,
    total_row: bool = False,
) -> tuple[pd.DataFrame, SuppressionReport]:
    """Hide counts from 1 to ``threshold - 1`` and enough other cells that totals cannot reveal them.

    Primary suppression hides every count ``1 <= x < threshold`` (zeros are shown, per the CMS rule).
    Complementary suppression then repeats, per count column, over every line -- the rows of one group
    (or of the whole table) plus that line's total -- until each line hides no cell or at least two, and
    no hidden cell of a line with a known total is pinned to one value by the bounds an attacker knows
    (``1..threshold-1`` for a primary cell, ``>= 0`` otherwise). The complement chosen is the smallest
    non-zero shown count of the line (a zero only when nothing else is left, the line's total last).
    With ``group_column`` the group totals form a further line summing to the grand total, so a hidden
    group total is protected the same way. Lines form a tree, so at least two hidden cells per line
    means no hidden cell is a linear function of the published cells ([2]_).

    Parameters
    ----------
    df : DataFrame
        One row per region (or region x category); not modified.
    count_columns : list of str or str
        Columns holding non-negative whole counts (missing values stay missing and are not flagged).
    threshold : int, default 11
        Smallest count that may be shown (CMS: 11).
    group_column : str, optional
        Rows sharing a value of this column form a group with its own (sub)total, e.g. counties
        within a state.
    total_row : bool, default False
        Append the totals (one row per group and a grand total, marked by a boolean ``is_total``
        column and the label ``"Total"``), themselves suppressed where needed. Totals are protected
        even when not appended.

    Returns
    -------
    table : DataFrame
        ``df`` with each count column as nullable ``Int64`` (suppressed cells are ``<NA>``) followed by
        a boolean ``<column>_suppressed`` flag.
    report : SuppressionReport
        Numbers of primary and complementary suppressions, per column.

    Raises
    ------
    EquicareError
        A count column is missing or holds a negative, fractional or non-numeric value, or the
        threshold is below 1.

    References
    ----------
    .. [1] CMS Cell Size Suppression Policy (2020).
    .. [2] Hundepool et al. (2012), Statistical Disclosure Control, sec. 4.3.
    """
    if isinstance(count_columns, str):
        count_columns = [count_columns]
    count_columns = list(count_columns)
    if int(threshold) != threshold or threshold < 1:
        raise EquicareError(f"suppress_small_cells: threshold must be a whole number >= 1, got {threshold!r}")
    threshold = int(threshold)
    if group_column is not None and group_column not in df.columns:
        raise EquicareError(f"suppress_small_cells: group column '{group_column}' is not in the table")
    if group_column in count_columns:
        raise EquicareError(f"suppress_small_cells: '{group_column}' cannot be both the group and a count column")
    vals = _check_counts(df, count_columns)
    n = len(df)

    if group_column is not None:
        codes, uniques = pd.factorize(df[group_column], sort=False, use_na_sentinel=False)
        n_groups = len(uniques)
    else:
        codes, uniques, n_groups = np.zeros(n, dtype=np.int64), [None], 1
    # Cell layout per column: body 0..n-1, group totals n..n+G-1, grand total n+G (only when grouped).
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_groups + 1))
    lines = [(order[bounds[g]:bounds[g + 1]], n + g) for g in range(n_groups)]
    grouped = group_column is not None
    if grouped:
        lines.append((np.arange(n, n + n_groups), n + n_groups))
    n_cells = n + n_groups + (1 if grouped else 0)

    report = SuppressionReport(
        threshold=threshold,
        rule=(f"counts from 1 to {threshold - 1} are suppressed (zeros are shown), plus complementary cells "
              "so that no suppressed count can be recovered from totals"),
    )
    out = df.copy()
    status_all, values_all = {}, {}
    for j, c in enumerate(count_columns):
        v = np.full(n_cells, np.nan)
        v[:n] = vals[:, j]
        body = np.nan_to_num(vals[:, j])
        v[n:n + n_groups] = np.bincount(codes, weights=body, minlength=n_groups)
        if grouped:
            v[-1] = body.sum()
        st = _protect_column(v, lines, threshold)
        status_all[c], values_all[c] = st, v
        npri, ncom = int((st == _PRIMARY).sum()), int((st == _COMPLEMENT).sum())
        report.by_column[c] = {"primary": npri, "complementary": ncom}
        report.n_primary += npri
        report.n_complementary += ncom
        report.n_cells += int((~np.isnan(v)).sum())

    def column(c: str, sl: slice | np.ndarray) -> tuple[pd.Series, np.ndarray]:
        v, st = values_all[c][sl], status_all[c][sl]
        s = pd.array(np.where(np.isnan(v), 0, v).astype(np.int64), dtype="Int64")
        s[np.isnan(v) | (st != _SHOWN)] = pd.NA
        return s, st != _SHOWN

    for c in count_columns:
        s, flag = column(c, slice(0, n))
        out[c] = pd.Series(s, index=out.index)
        out[f"{c}_suppressed"] = flag
    if not total_row:
        return out, report

    out["is_total"] = False
    label_cols = [c for c in df.columns if c not in count_columns and c != group_column]
    tot_idx = np.arange(n, n_cells) if grouped else np.array([n])
    tot = pd.DataFrame(index=range(len(tot_idx)), columns=out.columns)
    tot = tot.astype({c: out[c].dtype for c in out.columns if c not in count_columns}, errors="ignore")
    for c in count_columns:
        s, flag = column(c, tot_idx)
        tot[c] = s
        tot[f"{c}_suppressed"] = flag
    tot["is_total"] = True
    if grouped:
        tot[group_column] = list(uniques) + [TOTAL_LABEL]
    if label_cols:
        tot[label_cols[0]] = TOTAL_LABEL
    out = pd.concat([out, tot], ignore_index=True)
    for c in count_columns:
        out[c] = out[c].astype("Int64")
        out[f"{c}_suppressed"] = out[f"{c}_suppressed"].astype(bool)
    out["is_total"] = out["is_total"].astype(bool)
    return out, report
