"""Small-cell suppression: hand cases and a property test that no hidden count can be recovered.

The independent reference is a linear programme (scipy's HiGHS): for every hidden cell we minimise and
maximise its value subject to everything published (shown cells, shown totals, the table identities) and
to what an attacker knows of hidden cells (a small count lies in 1..10, any count is >= 0). A cell is
disclosed when the minimum equals the maximum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from equicare.errors import EquicareError
from equicare.privacy.suppress import suppress_small_cells


def _attack(df: pd.DataFrame, out: pd.DataFrame, col: str, threshold: int, group: str | None) -> list[tuple]:
    """Cells whose value an attacker can pin exactly; [] when the table is safe.

    Rebuilds the lines from the published table (``total_row=True``) and solves min/max LPs.
    """
    body = out[~out["is_total"]].reset_index(drop=True)
    totals = out[out["is_total"]].reset_index(drop=True)
    true_body = df[col].to_numpy(dtype=float)
    cells = []  # (true value, shown?)
    for i in range(len(body)):
        cells.append((true_body[i], not body[f"{col}_suppressed"].iloc[i]))
    lines = []
    if group is None:
        tot_true = true_body.sum()
        cells.append((tot_true, not totals[f"{col}_suppressed"].iloc[0]))
        lines.append((list(range(len(body))), len(body)))
    else:
        gvals = list(pd.unique(df[group]))
        n = len(body)
        for k, g in enumerate(gvals):
            members = [i for i in range(n) if df[group].iloc[i] == g]
            cells.append((true_body[members].sum(), not totals[f"{col}_suppressed"].iloc[k]))
            lines.append((members, n + k))
        cells.append((true_body.sum(), not totals[f"{col}_suppressed"].iloc[len(gvals)]))
        lines.append((list(range(n, n + len(gvals))), n + len(gvals)))
    hidden = [i for i, (_, shown) in enumerate(cells) if not shown]
    # Cells the suppression rule alone pins (every cell unknown, only the bounds and identities known)
    # cannot be protected by hiding more; only what publishing adds counts as a disclosure.
    pinned = _pinned_cells(cells, lines, hidden, threshold)
    if not pinned:
        return []
    by_rule = _pinned_cells(cells, lines, list(range(len(cells))), threshold, only={p[0] for p in pinned})
    return [p for p in pinned if p[0] not in {q[0] for q in by_rule}]


def _pinned_cells(cells, lines, hidden, threshold, only=None):
    if not hidden:
        return []
    pos = {c: k for k, c in enumerate(hidden)}
    A, b = [], []
    for members, total in lines:
        row = np.zeros(len(hidden))
        rhs = 0.0
        for m in members:
            if m in pos:
                row[pos[m]] += 1
            else:
                rhs -= cells[m][0]
        if total in pos:
            row[pos[total]] -= 1
        else:
            rhs += cells[total][0]
        if row.any():
            A.append(row)
            b.append(rhs)
    bounds = []
    for c in hidden:
        v = cells[c][0]
        bounds.append((1, threshold - 1) if 1 <= v <= threshold - 1 else (0, None))
    pinned = []
    for k, c in enumerate(hidden):
        if only is not None and c not in only:
            continue
        obj = np.zeros(len(hidden))
        obj[k] = 1
        lo = linprog(obj, A_eq=np.array(A) if A else None, b_eq=b or None, bounds=bounds, method="highs")
        hi = linprog(-obj, A_eq=np.array(A) if A else None, b_eq=b or None, bounds=bounds, method="highs")
        assert lo.status == 0, "the true table must be feasible"
        hi_val = np.inf if hi.status == 3 else -hi.fun
        if hi_val - lo.fun < 0.5:
            pinned.append((c, cells[c][0], lo.fun, hi_val))
    return pinned


def test_primary_rule_zero_shown_and_threshold_shown():
    df = pd.DataFrame({"state": list("ABCDEF"), "n": [0, 1, 10, 11, 50, 200]})
    out, rep = suppress_small_cells(df, ["n"])
    assert out["n_suppressed"].tolist()[:4] == [False, True, True, False]
    assert out["n"].iloc[0] == 0 and out["n"].iloc[3] == 11
    assert pd.isna(out["n"].iloc[1]) and pd.isna(out["n"].iloc[2])
    assert rep.n_primary == 2 and rep.n_complementary == 0


def test_single_small_cell_gets_smallest_nonzero_complement():
    # Total 10+0+40+25+300 = 375 would reveal the lone 10; the next smallest non-zero count (25) goes too.
    df = pd.DataFrame({"state": list("ABCDE"), "n": [10, 0, 40, 25, 300]})
    out, rep = suppress_small_cells(df, "n", total_row=True)
    assert out["n_suppressed"].tolist() == [True, False, False, True, False, False]
    assert rep.n_primary == 1 and rep.n_complementary == 1
    assert out["n"].iloc[-1] == 375 and out["state"].iloc[-1] == "Total" and out["is_total"].iloc[-1]


def test_two_tens_with_known_total_are_pinned_and_get_a_third_cell():
    # 10 + 10 hidden, rest shown: their sum 20 equals the largest two small counts can reach -> both = 10.
    df = pd.DataFrame({"r": list("ABC"), "n": [10, 10, 30]})
    out, rep = suppress_small_cells(df, "n")
    assert out["n_suppressed"].tolist() == [True, True, True]
    assert rep.n_complementary == 1


def test_small_total_is_suppressed_and_protected_in_grand_line():
    df = pd.DataFrame({"state": ["X", "X", "Y", "Y", "Z"], "county": list("abcde"), "n": [3, 0, 40, 60, 500]})
    out, rep = suppress_small_cells(df, "n", group_column="state", total_row=True)
    tot = out[out["is_total"]].set_index("state")
    # X's subtotal (3) is small; in the grand line the next smallest subtotal (Y: 100) is hidden too,
    # and then Y's own line needs a second hidden cell (40).
    assert bool(tot.loc["X", "n_suppressed"]) and bool(tot.loc["Y", "n_suppressed"])
    assert not bool(tot.loc["Total", "n_suppressed"]) and tot.loc["Total", "n"] == 603
    body = out[~out["is_total"]].set_index("county")
    assert bool(body.loc["a", "n_suppressed"]) and bool(body.loc["c", "n_suppressed"])
    assert _attack(df, out, "n", 11, "state") == []


def test_missing_counts_stay_missing_and_are_not_flagged():
    df = pd.DataFrame({"r": list("ABC"), "n": [np.nan, 20, 30]})
    out, rep = suppress_small_cells(df, "n")
    assert pd.isna(out["n"].iloc[0]) and not out["n_suppressed"].iloc[0]
    assert rep.n_primary == 0


@pytest.mark.parametrize("bad, rule", [(-1, "negative"), (2.5, "whole number"), ("x", "not a number")])
def test_bad_counts_are_rejected_with_row_and_column(bad, rule):
    df = pd.DataFrame({"r": list("AB"), "n": [20, bad]})
    with pytest.raises(EquicareError, match=rf"row 2, column 'n'.*{rule}"):
        suppress_small_cells(df, "n")


def test_unknown_column_is_rejected():
    with pytest.raises(EquicareError, match="not in the table"):
        suppress_small_cells(pd.DataFrame({"n": [1]}), ["m"])


_counts = st.one_of(st.integers(0, 12), st.integers(0, 60))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), _counts, _counts), min_size=1, max_size=9),
    grouped=st.booleans(),
    threshold=st.sampled_from([3, 11]),
)
def test_no_hidden_cell_is_recoverable_from_published_totals(rows, grouped, threshold):
    df = pd.DataFrame(rows, columns=["g", "a", "b"])
    df["region"] = [f"r{i}" for i in range(len(df))]
    df = df[["g", "region", "a", "b"]]
    group = "g" if grouped else None
    out, rep = suppress_small_cells(df, ["a", "b"], threshold=threshold, group_column=group, total_row=True)
    for col in ("a", "b"):
        body = out[~out["is_total"]]
        # every small count is hidden, and every shown count is the true one
        small = df[col].between(1, threshold - 1).to_numpy()
        assert body[f"{col}_suppressed"].to_numpy()[small].all()
        shown = ~body[f"{col}_suppressed"].to_numpy()
        assert (body[col].to_numpy()[shown].astype(int) == df[col].to_numpy()[shown]).all()
        assert _attack(df, out, col, threshold, group) == []


def test_real_flu_admissions_weeks_are_protected(shared_data):
    """Weekly influenza admissions per state (CDC NHSN via FluSight), four summer weeks where many states
    report 1..10 admissions: every such count is hidden, shown counts are true, the weekly totals (the
    national count, published by CDC) and the grand total reveal nothing (LP attack)."""
    d = pd.read_csv(shared_data / "flusight" / "target-hospital-admissions.csv", dtype={"location": str})
    d = d[(d["location"] != "US") & d["date"].isin(["2023-06-03", "2023-06-17", "2023-07-01", "2023-08-12"])]
    d = d[["date", "location", "value"]].reset_index(drop=True)
    small = d["value"].between(1, 10)
    assert small.sum() >= 100  # the real data has many small cells in these weeks
    out, rep = suppress_small_cells(d, "value", group_column="date", total_row=True)
    body = out[~out["is_total"]]
    assert rep.n_primary >= small.sum()
    assert body["value_suppressed"].to_numpy()[small.to_numpy()].all()
    shown = ~body["value_suppressed"].to_numpy()
    assert (body["value"].to_numpy()[shown].astype(int) == d["value"].to_numpy()[shown]).all()
    assert _attack(d, out, "value", 11, "date") == []
