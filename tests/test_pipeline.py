"""The demo pipeline end to end on the bundled real data: store, report, atomic failure, re-runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from equicare import pipeline
from equicare.data.bundled import load_bundled
from equicare.pipeline import DemoParams, run_demo
from equicare.store import Store

FAST = DemoParams(holdout_start="2024-01-06", holdout_end="2024-02-03")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    stages = []
    result = run_demo(out, FAST, progress=lambda s, d, n: stages.append(s))
    return out, result, stages


def test_demo_writes_report_store_and_csvs(demo):
    out, result, stages = demo
    assert stages[0] == "ingest" and stages[-1] == "done"
    html = (out / "report.html").read_text()
    assert 'id="state-beds-map"' in html and 'id="county-access-map"' in html
    assert 'id="lorenz-chart"' in html and "Shortage areas" in html
    assert "Plotly.newPlot" in html
    assert "<script src=" not in html and '<link rel="stylesheet" href' not in html  # self-contained
    assert html.count("data-fips=") > 3000  # state and county paths drawn
    for name in ("allocation", "county_rates", "forecast", "shared_state_summary", "cleaning_report"):
        assert (out / f"{name}.csv").exists()
    with Store(out / "equicare.duckdb") as st:
        run = st.get_run(result.run_id)
        assert run["status"] == "succeeded" and run["version"]
        assert run["params"]["severity"] == FAST.severity
        assert "capacity/facility.csv" in run["fingerprints"]
        assert set(result.tables) <= set(st.result_names(result.run_id))
        assert {"counties", "states", "facilities", "flu_admissions"} <= set(st.list_datasets().name)


def test_allocation_respects_need_cap_and_stock(demo):
    _, result, _ = demo
    a = result.tables["allocation"]
    s = result.summary
    assert s["states_with_need"] >= 5, "default severity should leave several states short"
    assert s["total_need"] > FAST.stockpile, "default stockpile should not cover all the need"
    assert (a["allocated"] <= a["need"] + 1e-9).all() and (a["allocated"] <= a["cap"] + 1e-9).all()
    assert a["allocated"].sum() <= FAST.stockpile + 1e-6
    assert a["explanation"].str.len().min() > 10


def test_inequality_and_shortage_tables(demo):
    _, result, _ = demo
    ineq = result.tables["inequality"]
    gini = ineq.query("level == 'state' and indicator == 'staffed beds per 1,000' and measure == 'gini'")
    assert gini.estimate.iloc[0] == pytest.approx(result.summary["gini_beds_per_1000_states"])
    assert (gini.lowerci <= gini.estimate).all() and (gini.estimate <= gini.upperci).all()
    short = result.tables["shortage_areas"]
    assert (short.score.fillna(0) < short.line).all()
    assert short.population.sum() == pytest.approx(result.summary["shortage"]["people"])


def test_shared_summary_suppresses_small_cells(demo):
    _, result, _ = demo
    shared = result.tables["shared_state_summary"]
    for col in ("flu_admissions_last_week", "icu_beds_needed", "surge_beds_allocated"):
        vals = pd.to_numeric(shared[col], errors="coerce").dropna()
        assert not ((vals > 0) & (vals < 11)).any(), col


def test_county_access_matches_brute_force(demo):
    """2SFCA by county recomputed with a dense all-pairs haversine matrix (an independent method)."""
    _, result, _ = demo
    data = load_bundled()
    c, f = data.counties, data.facilities
    lat1, lon1 = np.radians(c.lat.to_numpy())[:, None], np.radians(c.lon.to_numpy())[:, None]
    lat2, lon2 = np.radians(f.lat.to_numpy())[None, :], np.radians(f.lon.to_numpy())[None, :]
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    within = (2 * 6371.0088 * np.arcsin(np.sqrt(h))) <= FAST.catchment_km
    supply = f.cap_beds.fillna(0).to_numpy()
    pop_reach = within.T.astype(float) @ c.population.to_numpy()
    ratio = np.divide(supply, pop_reach, out=np.zeros_like(supply), where=pop_reach > 0)
    expected = within.astype(float) @ ratio * 1000
    got = result.tables["county_rates"].set_index("id").loc[c.id, "access_2sfca"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_failed_run_leaves_no_results_and_rerun_works(tmp_path, monkeypatch):
    store = tmp_path / "s.duckdb"

    def boom(*a, **k):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(pipeline, "allocate_surge", boom)
    with pytest.raises(RuntimeError):
        run_demo(tmp_path / "out", FAST, store_path=store, write_report=False)
    with Store(store) as st:
        runs = st.list_runs()
        assert runs.status.tolist() == ["failed"]
        assert st.query("SELECT count(*) AS n FROM results").n.iloc[0] == 0
    assert not (tmp_path / "out" / "allocation.csv").exists()
    monkeypatch.undo()
    run_demo(tmp_path / "out", FAST, store_path=store, write_report=False)
    run_demo(tmp_path / "out", FAST, store_path=store, write_report=False)  # re-run on the same store
    with Store(store) as st:
        assert sorted(st.list_runs().status) == ["failed", "succeeded", "succeeded"]
        assert (st.list_datasets().name == "facilities").sum() == 1


def test_gini_by_state_matches_pairwise_formula(demo):
    """Population-weighted Gini = sum_ij w_i w_j |x_i - x_j| / (2 W^2 mean), computed directly."""
    _, result, _ = demo
    st = result.tables["state_rates"].dropna(subset=["cap_beds_per_1000"])
    x, w = st.cap_beds_per_1000.to_numpy(), st.population.to_numpy(float)
    mean = np.average(x, weights=w)
    g = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum() / (2 * w.sum() ** 2 * mean)
    assert result.summary["gini_beds_per_1000_states"] == pytest.approx(g, rel=1e-9)
