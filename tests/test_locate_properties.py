"""Every location model against brute-force enumeration on random small cost tables, dense and sparse
(a pair missing from the table = that site cannot serve that demand point), with forced-open sites;
plus the worked examples of issue #11 (sparse p-median, p-center with exactly p sites)."""

from __future__ import annotations

import json
from itertools import combinations, product

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equicare.errors import InfeasibleError
from equicare.optimize.location import capacitated_p_median, lscp, mclp, p_center, p_median

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def instances(draw, max_n=7, max_m=5):
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_m))
    C = np.array(draw(st.lists(st.integers(0, 20), min_size=n * m, max_size=n * m)), float).reshape(n, m)
    if draw(st.booleans()):  # sparse: some pairs missing
        keep = np.array(draw(st.lists(st.booleans(), min_size=n * m, max_size=n * m))).reshape(n, m)
        C[~keep] = np.inf
    w = np.array(draw(st.lists(st.integers(0, 10), min_size=n, max_size=n)), float)
    p = draw(st.integers(1, m))
    forced = sorted(draw(st.sets(st.integers(0, m - 1), max_size=p)))
    return C, w, p, forced


def _subsets(m, p, forced):
    return [list(s) for s in combinations(range(m), p) if set(forced) <= set(s)]


def _check_sites(res, p, forced):
    assert len(res.selected_sites) == p
    assert {str(j) for j in forced} <= set(res.selected_sites)


@SETTINGS
@given(instances(), st.booleans())
def test_pmedian_brute_force(inst, reduce):
    C, w, p, forced = inst
    vals = [float(np.dot(w, C[:, s].min(axis=1))) for s in _subsets(C.shape[1], p, forced)
            if np.isfinite(C[:, s].min(axis=1)).all()]
    if not vals:
        with pytest.raises(InfeasibleError, match="no candidate site|no choice of p"):
            p_median(C, w, p, open_sites=forced or None, reduce=reduce)
        return
    r = p_median(C, w, p, open_sites=forced or None, reduce=reduce)
    assert r.objective == pytest.approx(min(vals), abs=1e-9)
    _check_sites(r, p, forced)
    # the objective is the cost of the returned assignment, every point served by an allowed pair
    got = sum(w[i] * C[i, int(r.assignment[str(i)])] for i in range(len(w)))
    assert np.isfinite(got) and got == pytest.approx(r.objective, abs=1e-9)


@SETTINGS
@given(instances(max_n=5, max_m=4), st.data())
def test_capacitated_pmedian_brute_force(inst, data):
    C, w, p, forced = inst
    n, m = C.shape
    Q = np.array(data.draw(st.lists(st.integers(0, 30), min_size=m, max_size=m)), float)
    best = np.inf
    for s in _subsets(m, p, forced):
        for a in product(s, repeat=n):
            a = np.array(a, int)
            if not np.isfinite(C[np.arange(n), a]).all():
                continue
            if np.any(np.bincount(a, weights=w, minlength=m) > Q + 1e-9):
                continue
            best = min(best, float(np.dot(w, C[np.arange(n), a])))
    if not np.isfinite(best):
        with pytest.raises(InfeasibleError):
            capacitated_p_median(C, w, Q, p, open_sites=forced or None)
        return
    r = capacitated_p_median(C, w, Q, p, open_sites=forced or None)
    assert r.objective == pytest.approx(best, abs=1e-6)
    _check_sites(r, p, forced)
    a = np.array([int(r.assignment[str(i)]) for i in range(n)])
    assert np.all(np.bincount(a, weights=w, minlength=m) <= Q + 1e-6)


@SETTINGS
@given(instances())
def test_pcenter_brute_force(inst):
    C, _w, p, forced = inst
    vals = [float(C[:, s].min(axis=1).max()) for s in _subsets(C.shape[1], p, forced)]
    vals = [v for v in vals if np.isfinite(v)]
    if not vals:
        with pytest.raises(InfeasibleError, match="no candidate site|no choice of p"):
            p_center(C, p, open_sites=forced or None)
        return
    r = p_center(C, p, open_sites=forced or None)
    assert r.objective == pytest.approx(min(vals))
    _check_sites(r, p, forced)
    opened = [int(s) for s in r.selected_sites]
    assert C[:, opened].min(axis=1).max() == pytest.approx(r.objective)


@SETTINGS
@given(instances(), st.integers(0, 20))
def test_mclp_brute_force(inst, radius):
    C, w, p, forced = inst
    best = max(float(w[(C[:, s] <= radius).any(axis=1)].sum()) for s in _subsets(C.shape[1], p, forced))
    r = mclp(C, w, p, float(radius), open_sites=forced or None)
    assert r.objective == pytest.approx(best)
    _check_sites(r, p, forced)
    opened = [int(s) for s in r.selected_sites]
    assert float(w[(C[:, opened] <= radius).any(axis=1)].sum()) == pytest.approx(r.objective)


@SETTINGS
@given(instances(), st.integers(0, 20))
def test_lscp_brute_force(inst, radius):
    C, _w, _p, forced = inst
    m = C.shape[1]
    best = min((k for k in range(len(forced), m + 1) for s in _subsets(m, k, forced)
                if (C[:, s] <= radius).any(axis=1).all()), default=None)
    if best is None:
        with pytest.raises(InfeasibleError, match="no candidate site within"):
            lscp(C, float(radius), open_sites=forced or None)
        return
    r = lscp(C, float(radius), open_sites=forced or None)
    assert r.objective == best == len(r.selected_sites)
    assert {str(j) for j in forced} <= set(r.selected_sites)


# ------------------------------------------------------------------------------------------------
# the worked examples of issue #11
# ------------------------------------------------------------------------------------------------
def _write(tmp_path, cost_rows):
    (tmp_path / "cost.csv").write_text("origin,destination,cost\n" + "".join(f"{r}\n" for r in cost_rows))
    (tmp_path / "demand.csv").write_text("id,demand\nA,1\nB,100\nC,100\n")


def test_sparse_pmedian_example(tmp_path, run_cli):
    _write(tmp_path, ["A,S1,10", "B,S1,50", "B,S2,1", "C,S1,50", "C,S2,1"])
    code, _out, err = run_cli("locate", "--cost", tmp_path / "cost.csv", "--demand", tmp_path / "demand.csv",
                              "--model", "pmedian", "--p", "1", "--out", tmp_path / "o.json")
    assert code == 0, err
    res = json.loads((tmp_path / "o.json").read_text())
    assert res["objective"] == 10010
    assert res["selected_sites"] == ["S1"]
    assert res["assignment"] == {"A": "S1", "B": "S1", "C": "S1"}


@pytest.mark.parametrize("model", ["pmedian", "pcenter"])
def test_sparse_unreachable_is_refused(tmp_path, run_cli, model):
    # S1 alone misses B, S2 alone misses A: no single site serves everyone
    _write(tmp_path, ["A,S1,10", "B,S2,1", "C,S1,50", "C,S2,1"])
    code, _out, err = run_cli("locate", "--cost", tmp_path / "cost.csv", "--demand", tmp_path / "demand.csv",
                              "--model", model, "--p", "1", "--out", tmp_path / "o.json")
    assert code == 2
    assert "no choice of p = 1 sites reaches every demand point" in err
    assert "unreached: B" in err and "Traceback" not in err
    assert not (tmp_path / "o.json").exists()
    # a point that no site serves at all is named as such
    _write(tmp_path, ["A,S1,10", "C,S1,50", "C,S2,1"])
    code, _out, err = run_cli("locate", "--cost", tmp_path / "cost.csv", "--demand", tmp_path / "demand.csv",
                              "--model", model, "--p", "2", "--out", tmp_path / "o.json")
    assert code == 2 and "row 3, column 'id'" in err and "no site can serve this point" in err and "'B'" in err


def test_pcenter_opens_exactly_p():
    C = np.array([[2, 4, 9, 9], [2, 8, 3, 9]], float)
    r = p_center(C, 4, site_ids=["s1", "s2", "s3", "s4"], demand_ids=["d1", "d2"])
    assert r.objective == 2 and sorted(r.selected_sites) == ["s1", "s2", "s3", "s4"]
    r = p_center(C, 3, open_sites=["s4"], site_ids=["s1", "s2", "s3", "s4"], demand_ids=["d1", "d2"])
    assert r.objective == 2 and len(r.selected_sites) == 3 and "s4" in r.selected_sites
