"""The linear-programming attack on small-cell suppression, shared by the cross-output and service tests.

Every cell recorded as shown (by any output of the same data) is an equality the attacker knows; every hidden
primary cell and every small row count lies in ``1 .. threshold - 1``. For each hidden value, two LPs
(scipy ``linprog``/HiGHS, independent of equicare's own check) give the tightest interval the attacker can
derive; an interval narrower than 1 would pin the value.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from equicare.privacy.disclosure import DataIndex, recorded_cells
from equicare.privacy.ledger import budget_key


def attack(store, ds: int, threshold: int = 11, org: str = "north", column: str = "value"
           ) -> dict[str, tuple[float, float]]:
    """Interval ``(low, high)`` of every hidden small count (rows and cells of any output), by name: the cell's
    spec, or ``row REGION DATE`` for a row (``row I`` without region and date columns)."""
    df = store.get_dataset(ds)
    x = df[column].to_numpy(float)
    n = len(df)
    idx = DataIndex(df)
    rec = recorded_cells(store, org, budget_key(store, ds).data_key, column)
    A, b, cells = [], [], []
    for spec, shown, primary in zip(rec.spec, rec.shown, rec.primary_cell):
        row = np.zeros(n)
        row[idx.members(spec)] = 1
        if shown:
            A.append(row)
            b.append(float(x @ row))  # the attacker reads the published value
        elif primary:
            cells.append((spec, row))
    for i in np.flatnonzero((x >= 1) & (x <= threshold - 1)):
        name = f"row {df.region[i]} {df.date[i].date()}" if {"region", "date"} <= set(df) else f"row {i}"
        cells.append((name, np.eye(n)[i]))
    A_ub = [r for _, row in cells for r in (row, -row)]  # hidden primary cells lie in 1..threshold-1
    b_ub = [v for _ in cells for v in (threshold - 1, -1)]
    out = {}
    for name, row in cells:
        lo = linprog(row, A_ub=A_ub, b_ub=b_ub, A_eq=A or None, b_eq=b or None, bounds=(0, None), method="highs")
        hi = linprog(-row, A_ub=A_ub, b_ub=b_ub, A_eq=A or None, b_eq=b or None, bounds=(0, None), method="highs")
        assert lo.status == 0 and hi.status == 0
        out[name] = (lo.fun, -hi.fun)
    return out
