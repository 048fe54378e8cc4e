"""The one-resource stockpile allocation against hand-worked cases, water-filling and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from equicare.errors import EquicareError
from equicare.optimize import allocate_stockpile


def water_fill(need: np.ndarray, cap: np.ndarray, stock: float) -> np.ndarray:
    """Independent reference: continuous lexicographic max-min by bisection on the common level."""
    u = np.minimum(need, cap)
    if u.sum() <= stock:
        return u.copy()
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.minimum(u, mid * need).sum() > stock:
            hi = mid
        else:
            lo = mid
    return np.minimum(u, lo * need)


def min_share(need, x):
    pos = need > 0
    return float((x[pos] / need[pos]).min()) if pos.any() else 1.0


def test_hand_worked_case():
    # A needs 100 but can staff 10; B and C share the remaining 110 beds at a common level 110/250 = 44%.
    res = allocate_stockpile(["A", "B", "C", "D"], [100, 50, 200, 0], 120, cap=[10, 1000, 1000, 5],
                             region_names=["Alpha", "Beta", "Gamma", "Delta"])
    t = res.table.set_index("region")
    assert list(t.columns) == ["name", "need", "cap", "allocated", "share_met", "binding", "explanation"]
    assert t.loc["A", "allocated"] == pytest.approx(10)
    assert t.loc["B", "allocated"] == pytest.approx(22, abs=1e-6)
    assert t.loc["C", "allocated"] == pytest.approx(88, abs=1e-6)
    assert t.loc["D", "allocated"] == pytest.approx(0)
    assert res.total_allocated == pytest.approx(120, abs=1e-6)
    assert res.min_share == pytest.approx(0.10, abs=1e-7)
    assert t.loc["A", "binding"] == "absorption cap"
    assert t.loc["B", "binding"] == "national stock"
    assert t.loc["D", "binding"] == "need met"
    # the minimum share is held by A's cap, so more stock does not raise it; the stock-limited level does
    assert res.stock_shadow_price == pytest.approx(0.0, abs=1e-9)
    assert res.stock_level == pytest.approx(0.44, abs=1e-7)
    assert res.stock_level_shadow_price == pytest.approx(1 / 250, rel=1e-6)
    assert res.stock_marginal_coverage == pytest.approx(1.0, abs=1e-4)
    assert "Beta" in t.loc["B", "explanation"] and "44.0% to 44.4%" in t.loc["B", "explanation"]
    assert "absorption cap" in t.loc["A", "explanation"]
    d = res.to_dict()
    assert len(d["regions"]) == 4 and d["stock_shadow_price"] == pytest.approx(0.0, abs=1e-9)


def test_hand_worked_no_caps_min_share_and_price():
    # needs 10, 30, 60 and 50 beds: everyone gets 50% ; one more bed raises the level by 1/100
    res = allocate_stockpile(["X", "Y", "Z"], [10, 30, 60], 50)
    assert res.table["allocated"].to_numpy() == pytest.approx([5, 15, 30], abs=1e-6)
    assert res.min_share == pytest.approx(0.5, abs=1e-7)
    assert res.stock_shadow_price == pytest.approx(0.01, rel=1e-6)


def test_enough_stock_meets_every_need_and_never_exceeds_it():
    res = allocate_stockpile(["A", "B"], [7, 3], 100)
    assert res.table["allocated"].to_numpy() == pytest.approx([7, 3])
    assert (res.table["binding"] == "need met").all()
    assert res.min_share == pytest.approx(1.0)
    assert res.stock_shadow_price == pytest.approx(0.0, abs=1e-9)


instances = st.integers(min_value=2, max_value=12).flatmap(lambda n: st.tuples(
    st.lists(st.floats(min_value=0, max_value=500, allow_nan=False), min_size=n, max_size=n),
    st.lists(st.one_of(st.just(np.inf), st.floats(min_value=0, max_value=300, allow_nan=False)),
             min_size=n, max_size=n),
    st.floats(min_value=0, max_value=3000, allow_nan=False)))


def test_a_tiny_need_keeps_its_tiny_share():
    """Found by the property below: needs (0, 469, 500, 0.031) and a stock of 0.03125 fill to the level
    L = 0.03125 / 969.031 = 3.2249e-5, so the region needing 0.031 gets 0.031 L = 1.0e-6 units, not 0 (the solver-
    noise cleaning must not round a fraction of a fractional need away)."""
    need = np.array([0.0, 469.0, 500.0, 0.031])
    res = allocate_stockpile(["a", "b", "c", "d"], need, 0.03125, cap=np.full(4, np.inf))
    level = 0.03125 / need.sum()
    assert res.table["allocated"].to_numpy() == pytest.approx(need * level, rel=1e-6, abs=1e-12)
    assert res.min_share == pytest.approx(level, rel=1e-6)
    big = allocate_stockpile(["a", "b"], np.array([345.0, 10.0]), 355.0 - 1e-9)  # noise near whole units
    assert big.table["allocated"].to_numpy() == pytest.approx([345.0, 10.0], abs=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_matches_water_filling(inst):
    need, cap, stock = (np.array(v, dtype=float) for v in inst)
    need = np.round(need, 3)
    ids = [f"r{i}" for i in range(len(need))]
    res = allocate_stockpile(ids, need, float(stock), cap=cap)
    ref = water_fill(need, cap, float(stock))
    x = res.table["allocated"].to_numpy()
    assert x == pytest.approx(ref, abs=1e-5 * max(1.0, need.max()))
    assert x.sum() <= stock + 1e-6
    assert np.all(x <= np.minimum(need, cap) + 1e-6)
    assert res.min_share == pytest.approx(min_share(need, ref), abs=1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_shadow_price_matches_finite_difference(inst):
    need, cap, stock = (np.array(v, dtype=float) for v in inst)
    need = np.round(need, 3)
    stock = float(stock)
    h = 1e-3
    assume(stock > 10 * h)  # at zero stock every bound is active and the dual is not unique
    ids = [f"r{i}" for i in range(len(need))]
    res = allocate_stockpile(ids, need, stock, cap=cap)
    f = lambda s: min_share(need, water_fill(need, cap, s))
    right = (f(stock + h) - f(stock)) / h
    left = (f(stock) - f(max(stock - h, 0))) / h if stock > h else right
    # at a breakpoint any value between the one-sided derivatives is a valid dual
    lo, hi = min(left, right), max(left, right)
    tol = 1e-4 * max(1.0, abs(hi))
    assert lo - tol <= res.stock_shadow_price <= hi + tol
    # and the same against the engine itself re-solved with a little more stock
    res2 = allocate_stockpile(ids, need, stock + h, cap=cap)
    fd = (res2.min_share - res.min_share) / h
    assume(abs(left - right) < 1e-9)  # away from breakpoints the derivative is unique
    assert res.stock_shadow_price == pytest.approx(fd, abs=2e-3 * max(1.0, abs(fd)))


def brute_force_leximin(need, cap, stock):
    """All whole-unit allocations; best sorted share vector (lexicographic), then the largest total."""
    u = np.minimum(need, cap).astype(int)
    pos = need > 0
    best, best_key = None, None
    for x in itertools.product(*[range(k + 1) for k in u]):
        x = np.array(x)
        if x.sum() > stock:
            continue
        key = (tuple(np.round(np.sort(x[pos] / need[pos]), 9)), x.sum())
        if best_key is None or key > best_key:
            best, best_key = x, key
    return best, best_key


small = st.integers(min_value=2, max_value=4).flatmap(lambda n: st.tuples(
    st.lists(st.integers(min_value=0, max_value=6), min_size=n, max_size=n),
    st.lists(st.integers(min_value=0, max_value=6), min_size=n, max_size=n),
    st.integers(min_value=0, max_value=14)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small)
def test_integer_matches_brute_force(inst):
    need, cap, stock = np.array(inst[0], float), np.array(inst[1], float), inst[2]
    ids = [f"r{i}" for i in range(len(need))]
    res = allocate_stockpile(ids, need, stock, cap=cap, integer=True)
    x = res.table["allocated"].to_numpy()
    assert np.all(x == np.round(x))
    pos = need > 0
    _, key = brute_force_leximin(need, cap, stock)
    got = (tuple(np.round(np.sort(x[pos] / need[pos]), 9)), x.sum())
    assert got == key


def test_bad_input_is_a_clear_error():
    with pytest.raises(EquicareError, match="non-negative"):
        allocate_stockpile(["A", "B"], [1, -2], 5)
    with pytest.raises(EquicareError, match="2 regions"):
        allocate_stockpile(["A", "B"], [1, 2, 3], 5)
    with pytest.raises(EquicareError, match="stock"):
        allocate_stockpile(["A"], [1], float("nan"))
