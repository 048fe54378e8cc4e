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
