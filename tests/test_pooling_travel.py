"""Pooling on road travel times: a scenario's pooling pairs may be the table `equicare costs` writes."""

from __future__ import annotations

import pandas as pd
import yaml

from equicare.optimize import allocate
from equicare.optimize.scenario import load_scenario

SPEC = {
    "regions": {"rows": [{"id": "A"}, {"id": "B"}, {"id": "C"}]},
    "resources": {"vents": {"unit": "ventilator", "unit_cost": 1, "stock": 0}},
    "capacity": {"rows": [{"region": "A", "resource": "vents", "capacity": 30}]},
    "demand": {"rows": [{"region": r, "resource": "vents", "value": v} for r, v in (("A", 5), ("B", 20), ("C", 20))]},
    "budget": 100,
    "pooling": {"pairs": {"file": "pairs.csv"}, "max_distance": 45, "resources": ["vents"]},
}


def _solve(tmp_path, pairs: pd.DataFrame):
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SPEC))
    return allocate(load_scenario(tmp_path / "s.yaml")[0])


def test_pooling_pairs_from_equicare_costs_equal_a_distance_table(tmp_path):
    minutes = pd.DataFrame({"origin": ["A", "B", "A", "C"], "destination": ["B", "A", "C", "A"],
                            "cost": [30.0, 30.0, 60.0, 60.0], "distance_m": [25e3, 25e3, 70e3, 70e3]})
    a = _solve(tmp_path, minutes)  # the output of `equicare costs`: minutes, C beyond 45 minutes of A
    b = _solve(tmp_path, minutes.drop(columns="distance_m").rename(columns={"cost": "distance"}))
    pd.testing.assert_frame_equal(a.transfers, b.transfers)
    assert set(zip(a.transfers["origin"], a.transfers["destination"])) <= {("A", "B")}
    assert a.transfers["amount"].sum() > 0
