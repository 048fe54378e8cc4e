"""`equicare locate --model cpmedian --capacity FILE`: the capacitated p-median from files, against brute-force
enumeration (every open set, every single-sourced assignment), and its input errors (file, row, column, rule)."""

from __future__ import annotations

import json
from itertools import combinations, product

import numpy as np
import pandas as pd
import pytest


def _brute(C, w, Q, p):
    n, m = C.shape
    best = np.inf
    for s in combinations(range(m), p):
        for a in product(s, repeat=n):
            if np.all(np.bincount(a, weights=w, minlength=m) <= Q + 1e-9):
                best = min(best, float(np.dot(w, C[np.arange(n), a])))
    return best


def _files(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n, m = 7, 5
    C = rng.uniform(1, 100, (n, m)).round(1)
    w = rng.integers(1, 10, n).astype(float)
    Q = np.full(m, w.sum() * 0.6).round()
    sites = [f"S{j:02d}" for j in range(m)]
    pd.DataFrame([(f"D{i}", sites[j], C[i, j]) for i in range(n) for j in range(m)],
                 columns=["origin", "destination", "cost"]).to_csv(tmp_path / "C.csv", index=False)
    pd.DataFrame({"id": [f"D{i}" for i in range(n)], "demand": w}).to_csv(tmp_path / "D.csv", index=False)
    # the capacity file lists the sites in another order, with one site that is not a candidate
    pd.DataFrame({"id": sites[::-1] + ["ZZ"], "beds": list(Q[::-1]) + [1.0]}).to_csv(tmp_path / "Q.csv", index=False)
    return C, w, Q, sites


@pytest.mark.parametrize("seed", range(3))
def test_cpmedian_from_files_equals_brute_force(tmp_path, run_cli, seed):
    C, w, Q, sites = _files(tmp_path, seed)
    out = tmp_path / "o.json"
    code, _, err = run_cli("locate", "--cost", tmp_path / "C.csv", "--demand", tmp_path / "D.csv", "--model",
                           "cpmedian", "--p", "2", "--capacity", tmp_path / "Q.csv", "--capacity-value", "beds",
                           "--out", out)
    assert code == 0, err
    res = json.loads(out.read_text())
    assert res["proven_optimal"] and res["objective"] == pytest.approx(_brute(C, w, Q, 2), rel=1e-9)
    load = pd.Series(dict(zip([f"D{i}" for i in range(len(w))], w))).groupby(pd.Series(res["assignment"])).sum()
    assert (load <= pd.Series(dict(zip(sites, Q))).reindex(load.index) + 1e-9).all()


def test_capacity_file_errors(tmp_path, run_cli):
    _files(tmp_path, 0)
    base = ["locate", "--cost", tmp_path / "C.csv", "--demand", tmp_path / "D.csv", "--p", "2",
            "--out", tmp_path / "o.json"]
    code, _, err = run_cli(*base, "--model", "cpmedian")
    assert code == 2 and "needs --capacity" in err
    code, _, err = run_cli(*base, "--model", "pmedian", "--capacity", tmp_path / "Q.csv")
    assert code == 2 and "cpmedian only" in err
    q = pd.read_csv(tmp_path / "Q.csv")
    code, _, err = run_cli(*base, "--model", "cpmedian", "--capacity", tmp_path / "Q.csv")
    assert code == 2 and "'capacity'" in err and "missing" in err  # the default column name is not there
    q.loc[2, "beds"] = -3
    q.to_csv(tmp_path / "Q2.csv", index=False)
    code, _, err = run_cli(*base, "--model", "cpmedian", "--capacity", tmp_path / "Q2.csv", "--capacity-value", "beds")
    assert code == 2 and "Q2.csv" in err and "row 4" in err and "beds" in err and "non-negative" in err
    q.drop(index=[1, 2]).assign(beds=5).to_csv(tmp_path / "Q3.csv", index=False)
    code, _, err = run_cli(*base, "--model", "cpmedian", "--capacity", tmp_path / "Q3.csv", "--capacity-value", "beds")
    assert code == 2 and "2 candidate site(s)" in err and "S03" in err and "S02" in err
    assert not (tmp_path / "o.json").exists() and "Traceback" not in err
