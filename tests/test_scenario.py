"""Scenario YAML: validation with file/row/key, the worked example on bundled data, the CLI and the store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from equicare.errors import InfeasibleError, ValidationError
from equicare.optimize.scenario import budget_sweep, flu_surge_tables, load_scenario, run_scenario, what_if

from scenario_fixture import SMALL_CORE

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "flu_surge_states.yaml"

SMALL = {**SMALL_CORE,
         "regions": {"rows": [{"id": "A", "name": "Alpha"}, {"id": "B", "name": "Beta"}, {"id": "C", "name": "Gamma"}]},
         "what_if": [{"name": "more beds", "stock": {"beds": 60}}, {"name": "less money", "budget": 20}],
         "budget_sweep": [0.5, 1.5]}


def write(tmp_path, spec, name="s.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(spec))
    return p


def test_small_scenario_runs_and_writes_everything(tmp_path):
    run_scenario(write(tmp_path, SMALL), tmp_path / "out")
    out = tmp_path / "out"
    for f in ("allocation.csv", "transfers.csv", "coverage.csv", "scenarios.csv", "what_if.csv",
              "budget_sweep.csv", "explanations.json", "equicare.duckdb"):
        assert (out / f).exists(), f
    a = pd.read_csv(out / "allocation.csv")
    assert len(a) == 6 and {"binding", "explanation", "share_met"} <= set(a.columns)
    # the 30 beds are shared so that every region's expected share of need met is the same
    beds = a[a.resource == "beds"].set_index("region")
    assert beds["share_met"].max() - beds["share_met"].min() < 1e-6
    assert beds["allocated"].sum() == pytest.approx(30, abs=1e-6)
    j = json.loads((out / "explanations.json").read_text())
    assert j["run_id"] and len(j["what_if"]) == 2 and len(j["budget_sweep"]) == 3
    assert {"stock:beds", "budget"} <= set(j["shadow_prices"])
    assert j["what_if"][0]["min_share_after"] > j["what_if"][0]["min_share_before"]
    from equicare.store import Store

    with Store(out / "equicare.duckdb") as st:
        run = st.get_run(j["run_id"])
        assert run["status"] == "succeeded" and run["kind"] == "allocate"
        assert len(st.get_result(j["run_id"], "allocation")) == 6


def test_validation_errors_name_file_row_and_key(tmp_path):
    bad = json.loads(json.dumps(SMALL))
    bad["demand"]["rows"][2]["value"] = -3
    bad["demand"]["rows"][3]["region"] = "Z"
    bad["resources"]["beds"]["colour"] = "red"
    bad["budgett"] = 5
    with pytest.raises(ValidationError) as exc:
        load_scenario(write(tmp_path, bad))
    msg = str(exc.value)
    assert "row 3, column 'value'" in msg and "non-negative" in msg
    assert "row 4, column 'region'" in msg and "'Z'" in msg
    assert "resources.beds.colour" in msg and "budgett" in msg


def test_infeasible_scenario_is_a_clear_cli_error(tmp_path, run_cli):
    bad = json.loads(json.dumps(SMALL))
    bad["resources"]["beds"]["min_per_region"] = {"A": 20, "B": 20}
    p = write(tmp_path, bad)
    with pytest.raises(InfeasibleError, match="region minimums of beds sum to 40, above the stock of 30"):
        run_scenario(p, tmp_path / "o")
    code, _, err = run_cli("allocate", p, "--out", tmp_path / "o")
    assert code == 2
    assert "region minimums of beds" in err and "Traceback" not in err


def test_what_if_and_sweep_against_direct_resolves(tmp_path):
    from dataclasses import replace

    from equicare.optimize import allocate

    P, _ = load_scenario(write(tmp_path, SMALL))
    base = allocate(P)
    s, diff = what_if(P, base, {"name": "guarantee B", "region_min": [{"region": "B", "resource": "beds",
                                                                         "value": 12}]})
    mins = P.min_alloc.copy()
    mins[1, 0] = 12
    Q = replace(P, min_alloc=mins)
    assert s["min_share_after"] == pytest.approx(allocate(Q).min_share)
    assert (diff["region"] == "B").any()
    sw = budget_sweep(P, [0.5, 2.0])
    assert sw["budget"].tolist() == [30, 60, 120]
    assert sw["min_share"].is_monotonic_increasing


def test_flu_surge_builder_uses_bundled_data():
    t = flu_surge_tables()
    d = t["demand"]
    assert d["scenario"].nunique() == 23 and set(d["resource"]) == {"icu_beds", "ventilators"}
    assert d["region"].nunique() >= 50
    # quantile scenarios are ordered: q0.99 >= q0.5 >= q0.01 everywhere
    w = d.pivot_table(index=["region", "resource"], columns="scenario", values="value")
    assert (w["q0.99"] >= w["q0.5"]).all() and (w["q0.5"] >= w["q0.01"]).all()
    # capacity from state.csv: Texas' free ICU beds below 85% occupancy
    cap = pd.read_csv(ROOT / "src/equicare/data/files/capacity/state.csv").set_index("State")
    tx = t["capacity"].set_index(["region", "resource"]).loc[("TX", "icu_beds"), "capacity"]
    exp = np.floor(max(0, (0.85 - cap.loc["TX", "ICU Bed Occupancy Rate"]) * cap.loc["TX", "Staffed ICU Beds"]))
    assert tx == exp


def test_worked_example_cli(tmp_path):
    from typer.testing import CliRunner

    from equicare.cli import app

    r = CliRunner().invoke(app, ["allocate", str(EXAMPLE), "--out", str(tmp_path / "fs")])
    assert r.exit_code == 0, r.output
    a = pd.read_csv(tmp_path / "fs" / "allocation.csv")
    assert set(a["resource"]) == {"icu_beds", "ventilators"}
    spec = yaml.safe_load(EXAMPLE.read_text())
    for res in ("icu_beds", "ventilators"):
        assert a.loc[a.resource == res, "allocated"].sum() <= spec["resources"][res]["stock"] + 1e-6
    assert a.loc[(a.region == "TX") & (a.resource == "ventilators"), "allocated"].iloc[0] >= 20
    assert (a["allocated"] == a["allocated"].round()).all()  # integer units
    t = pd.read_csv(tmp_path / "fs" / "transfers.csv")
    assert (t["distance"] <= 600).all() and set(t["resource"]) <= {"ventilators"}
    j = json.loads((tmp_path / "fs" / "explanations.json").read_text())
    assert j["total_cost"] <= spec["budget"] + 1e-6
    assert any("Limited by the national icu beds stock" in r["explanation"] for r in j["allocation"])
    assert len(j["what_if"]) == 3 and j["budget_sweep"]


def test_forecast_example_uses_the_forecast_quantiles(tmp_path):
    """The second worked example: demand from equicare's own forecast, placement at rated hospitals."""
    from equicare.forecast import demand_scenarios, forecast, load_truth
    from equicare.forecast.extras import bundled_extras
    from equicare.forecast.truth import bundled_path

    ex = ROOT / "examples" / "flu_forecast_states.yaml"
    spec = yaml.safe_load(ex.read_text())
    t = flu_surge_tables(**{k: v for k, v in spec["demand"].items() if k != "builder"})
    fc = forecast(load_truth(bundled_path("target-hospital-admissions.csv")), spec["demand"]["as_of"],
                  **bundled_extras().kwargs())
    peak = demand_scenarios(fc, (0.5, 0.9)).query("location == '48'").set_index("level")["value"]  # Texas
    d = t["demand"].set_index(["region", "resource", "scenario"])["value"]
    f = 2.0 * 0.15 * 7 / 7  # severity x ICU fraction x stay / 7
    assert d[("TX", "icu_beds", "q0.5")] == pytest.approx(round(peak[0.5] * f, 1))
    assert d[("TX", "icu_beds", "q0.9")] == pytest.approx(round(peak[0.9] * f, 1))
    doc = run_scenario(ex, tmp_path / "ff")
    fac = pd.read_csv(tmp_path / "ff" / "facilities.csv")
    a = pd.read_csv(tmp_path / "ff" / "allocation.csv")
    assert fac["allocated"].sum() == pytest.approx(a["allocated"].sum())
    assert doc["shadow_prices"]["max_gini:icu_beds"]["gini"] <= 0.15 + 1e-9
    assert doc["min_share"] <= doc["min_share_lp_bound"] + 1e-12
