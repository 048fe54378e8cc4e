"""The ``equicare inequality`` command: HEAT template in, measures out; region mode; errors."""

from __future__ import annotations


import pandas as pd
import pytest


# healthequal's OrderedSample (wealth quintiles) and a small non-ordered dimension, HEAT Plus template
OS_EST = [75.60530, 91.01997, 96.03959, 97.04223, 99.22405]
OS_SE = [1.5996131, 1.1351504, 0.6461946, 0.5676206, 0.2237683]
OS_POP = [2072.436, 2112.204, 1983.059, 2052.124, 1884.510]
HEAT_ROWS = [
    *[("Indonesia", "2017", "DHS", "sba", "Births attended (%)", "Economic status", f"Q{k + 1}", OS_EST[k], OS_SE[k],
       OS_POP[k], 1, 100, 1, k + 1, 0) for k in range(5)],
    *[("Indonesia", "2017", "DHS", "sba", "Births attended (%)", "Region", r, e, s, p, 1, 100, 0, None, ref)
      for r, e, s, p, ref in [("north", 80.0, 2.0, 300.0, 1), ("south", 95.0, 1.0, 200.0, 0),
                              ("east", 70.0, 3.0, 100.0, 0), ("west", 90.0, 1.5, 400.0, 0)]],
    *[("Indonesia", "2017", "DHS", "sba", "Births attended (%)", "Sex", g, e, 1.0, 500.0, 1, 100, 0, None, 0)
      for g, e in [("female", 92.0), ("male", 91.0)]],
]


def _heat_frame() -> pd.DataFrame:
    return pd.DataFrame(HEAT_ROWS, columns=["setting", "date", "source", "indicator_abbr", "indicator_name",
                                            "dimension", "subgroup", "estimate", "se", "population",
                                            "favourable_indicator", "indicator_scale", "ordered_dimension",
                                            "subgroup_order", "reference_subgroup"])


def test_heat_template_round_trip(run_cli, tmp_path):
    _heat_frame().to_csv(tmp_path / "heat.csv", index=False)
    code, _, err = run_cli("inequality", "--data", tmp_path / "heat.csv", "--out", tmp_path / "o.csv")
    assert code == 0, err
    out = pd.read_csv(tmp_path / "o.csv")
    assert {"setting", "date", "indicator_abbr", "dimension", "measure", "estimate", "lowerci", "upperci"} <= set(out.columns)
    aci = out[(out.dimension == "Economic status") & (out.measure == "aci")]
    assert aci.estimate.iloc[0] == pytest.approx(4.30052, rel=2e-6)  # healthequal's published value
    assert len(out) == out[["dimension", "measure"]].drop_duplicates().shape[0]
    assert list(out.columns)[-1] == "note"  # measures that do not apply are listed, with the reason
    aci_region = out[(out.dimension == "Region") & (out.measure == "aci")].iloc[0]
    assert pd.isna(aci_region.estimate) and aci_region.note == "applies to ordered dimensions only"
    assert len(HEAT_ROWS) == 11


def test_regions_mode_on_state_beds(run_cli, shared_data):
    code, out, err = run_cli("inequality", "--regions", shared_data / "capacity" / "state.csv",
                          "--value", "Staffed All Beds [Per 1000 People]", "--weight", "Population", "--n-boot", 200)
    assert code == 0, err
    tab = pd.read_csv(pd.io.common.StringIO(out))
    assert list(tab.measure) == ["gini", "theil", "mld", "atkinson", "cov", "quintile_ratio"]
    assert 0 < tab.estimate.iloc[0] < 1


def test_errors(run_cli, tmp_path):
    code, _, err = run_cli("inequality")
    assert code == 2 and "exactly one of --data" in err
    pd.DataFrame({"region": ["a", "b"], "rate": [1.0, -2.0], "pop": [1, 2]}).to_csv(tmp_path / "r.csv", index=False)
    code, _, err = run_cli("inequality", "--regions", tmp_path / "r.csv", "--value", "rate",
                        "--weight", "pop")
    assert code == 2 and "r.csv, row 3, column 'rate': value must not be negative" in err
    bad = _heat_frame()
    bad.loc[0, "ordered_dimension"] = 2
    bad.to_csv(tmp_path / "h.csv", index=False)
    code, _, err = run_cli("inequality", "--data", tmp_path / "h.csv")
    assert code == 2 and "row 2, column 'ordered_dimension': must be 0 or 1" in err
