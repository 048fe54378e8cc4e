"""The large p-median engine (issue #18): proven bounds never above the optimum, time-limited solves that
return a feasible answer with the right gap, sparse tables as sorted pairs, and the command's contract
(--time-limit, --gap; objective, bound, gap, proven_optimal in OUT.json)."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest

from equicare.errors import EquicareError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equicare.optimize.location import cost_table_from_long, mclp, p_median
from equicare.optimize.location.progress import Deadline
from equicare.optimize.location.rows import SortedRows


def _euclid(n, m, seed):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 10_000, (n, 2))
    sites = rng.uniform(0, 10_000, (m, 2))
    C = np.hypot(pts[:, None, 0] - sites[None, :, 0], pts[:, None, 1] - sites[None, :, 1])
    return C, rng.integers(1, 1000, n).astype(float)


def _write_tables(tmp_path, C, w):
    """C.csv (long: origin, destination, cost; ids t0, t1, ...) and D.csv (id, pop) in ``tmp_path``."""
    import pandas as pd

    n = len(w)
    ids = [f"t{i}" for i in range(n)]
    pd.DataFrame({"origin": np.repeat(ids, n), "destination": np.tile(ids, n), "cost": C.ravel()}).to_csv(
        tmp_path / "C.csv", index=False)
    pd.DataFrame({"id": ids, "pop": w}).to_csv(tmp_path / "D.csv", index=False)


def _brute(C, w, p):
    return min(float(np.dot(w, C[:, list(s)].min(axis=1))) for s in combinations(range(C.shape[1]), p))


def _check_answer(r, C, w, p):
    """A feasible answer: p sites, objective = its cost, bound <= objective, gap as stated."""
    assert len(r.selected_sites) == p
    cost = float(np.dot(w, C[:, [int(s) for s in r.selected_sites]].min(axis=1)))
    assert r.objective == pytest.approx(cost, rel=1e-12)
    assert np.isfinite(r.bound) and r.bound <= r.objective * (1 + 1e-12)
    assert r.gap == pytest.approx((r.objective - r.bound) / r.objective, abs=1e-12)
    assert r.proven_optimal == (r.gap <= 1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(2, 4), st.sampled_from([None, 1e-4, 0.05, 0.3]))
def test_bound_never_exceeds_optimum(seed, p, limit):
    # with any time limit (even one that stops the heuristic) the bound is below the enumerated optimum
    # and the answer is feasible with the gap it states
    C, w = _euclid(40, 9, seed)
    opt = _brute(C, w, p)
    r = p_median(C, w, p, time_limit=limit)
    _check_answer(r, C, w, p)
    assert r.bound <= opt * (1 + 1e-9) and r.objective >= opt * (1 - 1e-9)
    if limit is None:
        assert r.proven_optimal and r.objective == pytest.approx(opt, rel=1e-9)


def test_time_limited_solve_returns_feasible_answer_with_gap():
    C, w = _euclid(1500, 1500, 7)
    full = None
    r = p_median(C, w, 25, time_limit=1.0)
    _check_answer(r, C, w, 25)
    assert r.solve_seconds < 1.0 + 3.0  # the limit bounds the whole solve (slack for a loaded machine)
    # the bound is a true bound: at most any solution's cost, so at most a longer solve's answer
    # 3 s (three times the first limit) reaches the same incumbent as 8 s did (550,440,845) with a bound as tight
    full = p_median(C, w, 25, time_limit=3.0)
    _check_answer(full, C, w, 25)
    assert r.bound <= full.objective * (1 + 1e-12) and full.bound <= r.objective * (1 + 1e-12)


def test_gap_stops_early_and_is_reported():
    C, w = _euclid(400, 400, 3)
    r = p_median(C, w, 8, gap=0.05)
    _check_answer(r, C, w, 8)
    assert r.gap <= 0.05


def test_sparse_rows_match_dense():
    # a cost cut-off: the pairs as sorted rows give the same optimum as the dense matrix with inf
    C, w = _euclid(300, 60, 11)
    C[C > 3500] = np.inf
    dense = p_median(C, w, 12)
    rows = SortedRows.from_dense(C)
    sparse = p_median(rows, w, 12)
    assert sparse.objective == pytest.approx(dense.objective, rel=1e-9)
    assert sparse.proven_optimal and dense.proven_optimal
    ii, jj = np.nonzero(np.isfinite(C))
    table = cost_table_from_long(__import__("pandas").DataFrame({"origin": ii.astype(str), "destination": jj.astype(str),
                                                                  "cost": C[ii, jj]}),
                                 demand_ids=[str(i) for i in range(300)])
    assert table.rows.nnz == len(ii)
    assert p_median(table.rows, w, 12).objective == pytest.approx(dense.objective, rel=1e-9)


def test_large_sparse_instance_solves():
    # 20,000 points, each with the sites within 1.2 km (a cut-off table, never dense): a feasible answer
    # with a true bound within the time limit
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 30_000, (20_000, 2))
    sites = pts[::4]
    tree = cKDTree(sites)
    M = cKDTree(pts).sparse_distance_matrix(tree, 1_200, output_type="coo_matrix")
    far = np.setdiff1d(np.arange(len(pts)), M.row)
    near = tree.query(pts[far])  # every point keeps at least its nearest site
    rows = SortedRows.from_pairs(np.r_[M.row, far], np.r_[M.col, near[1]], np.r_[M.data, near[0]], len(pts),
                                 len(sites))
    w = rng.integers(1, 100, len(pts)).astype(float)
    # the solve runs to its limit; 4 s gives the same bound as 8 s did (161,597,038) and an incumbent within 0.2%
    limit = 4
    r = p_median(rows, w, 800, time_limit=limit)
    assert len(r.selected_sites) == 800 and None not in r.assignment.values()
    assert 0 < r.bound <= r.objective and np.isfinite(r.gap)
    assert r.solve_seconds < limit + 10  # slack for a loaded machine and first-call compilation


def test_mclp_reports_bound(shared_data):
    import pandas as pd

    df = pd.read_csv(shared_data / "sf" / "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    long = df.rename(columns={"DestinationName": "origin", "name": "destination", "distance": "cost"})
    table = cost_table_from_long(long)
    w = df.drop_duplicates("DestinationName").set_index(df.drop_duplicates("DestinationName")["DestinationName"]
                                                        .astype(str))["demand"].loc[table.demand_ids].to_numpy(float)
    r = mclp(table.cost, w, 4, 5000)
    assert r.proven_optimal and r.bound == pytest.approx(r.objective) and r.gap == 0


def test_cli_time_limit_and_gap(tmp_path, run_cli):
    C, w = _euclid(800, 800, 2)
    _write_tables(tmp_path, C, w)
    code, _out, err = run_cli("locate", "--cost", tmp_path / "C.csv", "--demand", tmp_path / "D.csv", "--model",
                              "pmedian", "--p", "12", "--demand-value", "pop", "--time-limit", "20", "--gap", "0.01",
                              "--out", tmp_path / "o.json")
    assert code == 0, err
    res = json.loads((tmp_path / "o.json").read_text())
    assert {"objective", "bound", "gap", "proven_optimal", "selected_sites", "assignment"} <= set(res)
    assert res["bound"] <= res["objective"] and res["gap"] <= 0.01 and res["proven_optimal"] == (res["gap"] <= 1e-6)
    cost = float(np.dot(w, C[:, [int(s[1:]) for s in res["selected_sites"]]].min(axis=1)))
    assert res["objective"] == pytest.approx(cost, rel=1e-9)
    code, _out, err = run_cli("locate", "--cost", tmp_path / "C.csv", "--demand", tmp_path / "D.csv", "--model",
                              "pmedian", "--p", "12", "--demand-value", "pop", "--time-limit", "0",
                              "--out", tmp_path / "o.json")
    assert code == 2 and "time-limit" in err


def test_deadline_is_shared():
    d = Deadline(None)
    assert d.remaining() is None and not d.expired()
    with pytest.raises(EquicareError):
        Deadline(-1)


def test_time_limit_bounds_the_whole_command_process(tmp_path):
    # `equicare locate --time-limit T` as its own process: interpreter start-up, imports, reading the
    # 640,000-row table, building, heuristics and solving all fit in T (plus the exit), and the answer
    # is written with its bound and gap
    import subprocess
    import sys
    import time

    C, w = _euclid(800, 800, 5)
    _write_tables(tmp_path, C, w)
    limit = 6.0
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "equicare", "locate", "--cost", str(tmp_path / "C.csv"), "--demand",
                           str(tmp_path / "D.csv"), "--model", "pmedian", "--p", "30", "--demand-value", "pop",
                           "--time-limit", str(limit), "--out", str(tmp_path / "o.json")], capture_output=True,
                          text=True, timeout=120)
    wall = time.perf_counter() - t
    assert done.returncode == 0, done.stderr
    res = json.loads((tmp_path / "o.json").read_text())
    assert res["bound"] <= res["objective"] * (1 + 1e-12) and len(res["selected_sites"]) == 30
    assert wall <= limit + 1.5, wall
