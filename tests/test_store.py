"""The DuckDB store: datasets and runs are atomic, re-opening works."""

import pandas as pd
import pytest

from equicare.errors import EquicareError
from equicare.store import Store


def test_dataset_roundtrip_and_replace(tmp_path):
    path = tmp_path / "s.duckdb"
    with Store(path) as st:
        df = pd.DataFrame({"id": ["01", "02"], "population": [10, 20]})
        a = st.save_dataset("regions", "regions", df, source="x.csv", fingerprint="abc", report={"changes": []})
        b = st.save_dataset("regions", "regions", df.iloc[:1], source="x.csv", fingerprint="def")
        assert b != a
        assert len(st.list_datasets()) == 1
        assert st.get_dataset(b).id.tolist() == ["01"]
    with Store(path) as st:  # re-open an existing store
        assert st.find_dataset("regions") == b
        assert st.dataset_info(b)["fingerprint"] == "def"


def test_failed_run_leaves_no_results():
    st = Store(":memory:")
    run = st.start_run("demo", {"k": 1})
    bad = {"ok": pd.DataFrame({"a": [1]}), "bad": "not a frame"}
    with pytest.raises(Exception):
        st.finish_run(run, bad)
    st.fail_run(run, "boom")
    assert st.result_names(run) == []
    assert st.query("SELECT count(*) AS n FROM results").n.iloc[0] == 0
    info = st.get_run(run)
    assert info["status"] == "failed" and info["error"] == "boom"


def test_run_results_and_progress():
    st = Store(":memory:")
    run = st.start_run("demo", {"severity": 2.5}, {"facility.csv": "sha"})
    st.set_progress(run, 2, 5, "analyse")
    assert st.get_run(run)["progress_done"] == 2
    st.finish_run(run, {"alloc": pd.DataFrame({"state": ["01", "02"], "beds": [1.5, 2.0]})}, {"min_share": 0.5})
    info = st.get_run(run)
    assert info["status"] == "succeeded" and info["summary"]["min_share"] == 0.5
    assert info["params"] == {"severity": 2.5}
    assert st.get_result(run, "alloc").beds.sum() == 3.5
    with pytest.raises(EquicareError):
        st.get_result(run, "nope")


def test_nested_transactions_commit_or_roll_back_together():
    st = Store(":memory:")
    df = pd.DataFrame({"id": ["001", "002"], "v": [1, 2]})
    with pytest.raises(RuntimeError):
        with st.transaction():
            st.save_dataset("inner", "regions", df, source="t", fingerprint="f")  # its own transaction joins
            run = st.start_run("project", {"a": 1}, run_id="abc123def456")
            raise RuntimeError("after the inner transaction committed its part")
    assert st.list_datasets().empty and st.list_runs().empty  # the whole outer transaction rolled back
    with st.transaction():
        ds = st.save_dataset("inner", "regions", df, source="t", fingerprint="f")
        run = st.start_run("project", {"a": 1}, run_id="abc123def456")
        st.update_run(run, params={"a": 2}, fingerprints={"f": "x"})
        st.finish_run(run, {"r": df})
    assert run == "abc123def456" and st.get_run(run)["params"] == {"a": 2}
    assert st.get_run(run)["fingerprints"] == {"f": "x"} and st.get_run(run)["status"] == "succeeded"
    assert st.get_dataset(ds)["id"].tolist() == ["001", "002"]
    with st.transaction():  # usable again after both
        pass


def test_json_columns_are_strict_json(tmp_path):
    """NaN and infinities in parameters, fingerprints, summaries and cleaning reports are stored as null (never
    the non-standard ``NaN``/``Infinity`` tokens), numpy values as plain numbers, other objects as text."""
    import json

    import numpy as np

    def strict(text: str):
        def refuse(token):
            raise AssertionError(f"non-standard JSON token {token} in {text}")
        return json.loads(text, parse_constant=refuse)

    with Store(tmp_path / "s.duckdb") as st:
        params = {"severity": float("nan"), "cap": float("inf"), "floor": -np.inf, "k": np.int64(3),
                  "share": np.float64(0.25), "levels": (0.5, np.nan), "path": tmp_path / "x.csv"}
        run = st.start_run("demo", params, {"f.csv": "sha"})
        st.finish_run(run, {"a": pd.DataFrame({"x": [1]})}, {"min_share": np.nan, "gini": 0.1})
        ds = st.save_dataset("d", "regions", pd.DataFrame({"id": ["01"]}), source="d.csv", fingerprint="f",
                             report={"ratio": float("nan")})
        raw = st.query("SELECT params, fingerprints, summary FROM runs").iloc[0]
        rep = st.query("SELECT report FROM datasets").iloc[0, 0]
        p = strict(raw["params"])
        assert p == {"severity": None, "cap": None, "floor": None, "k": 3, "share": 0.25, "levels": [0.5, None],
                     "path": str(tmp_path / "x.csv")}
        assert strict(raw["summary"]) == {"min_share": None, "gini": 0.1}
        assert strict(raw["fingerprints"]) == {"f.csv": "sha"}
        assert strict(rep) == {"ratio": None}
        info = st.get_run(run)
        assert info["params"]["severity"] is None and info["summary"]["gini"] == 0.1
        assert st.dataset_info(ds)["report"] == {"ratio": None}
