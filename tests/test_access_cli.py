"""The ``equicare access`` command: formats, options and clear errors (run in-process through main())."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest



@pytest.fixture()
def files(tmp_path):
    pd.DataFrame({"id": ["o1", "o2"], "population": [100, 300]}).to_csv(tmp_path / "D.csv", index=False)
    pd.DataFrame({"id": ["d1", "d2"], "capacity": [2, 1], "beds": [4, 2]}).to_csv(tmp_path / "S.csv", index=False)
    pd.DataFrame({"origin": ["o1", "o1", "o2", "o2"], "destination": ["d1", "d2", "d1", "d2"],
                  "cost": [0.0, 20.0, 10.0, 40.0]}).to_csv(tmp_path / "C.csv", index=False)
    return tmp_path


def test_two_step_fca_two_supply_columns(run_cli, files):
    out = files / "out" / "A.csv"
    code, _, err = run_cli("access", "--demand", files / "D.csv", "--supply", files / "S.csv",
                        "--cost", files / "C.csv", "--method", "2sfca", "--max-cost", 30,
                        "--supply-value", "capacity", "--supply-value", "beds", "--out", out)
    assert code == 0, err
    got = pd.read_csv(out)
    assert list(got.columns) == ["id", "2sfca_capacity", "2sfca_beds"]
    # hand-worked: o1 = 2/400 + 1/100, o2 = 2/400 (see tests/test_access.py)
    np.testing.assert_allclose(got["2sfca_capacity"], [2 / 400 + 1 / 100, 2 / 400])
    np.testing.assert_allclose(got["2sfca_beds"], 2 * got["2sfca_capacity"])


def test_e2sfca_weights_gravity_and_normalize(run_cli, files):
    base = ["access", "--demand", files / "D.csv", "--supply", files / "S.csv", "--cost", files / "C.csv"]
    code, out, err = run_cli(*base, "--method", "e2sfca", "--weights", "10:1,30:0.5")
    assert code == 0, err
    vals = pd.read_csv(pd.io.common.StringIO(out))["e2sfca_capacity"].to_numpy()
    np.testing.assert_allclose(vals, [2 / 400 + 0.5 / 50, 2 / 400])
    code, out, err = run_cli(*base, "--method", "gravity", "--scale", 10, "--alpha", -1,
                          "--min-dist", 5, "--normalize")
    assert code == 0, err
    vals = pd.read_csv(pd.io.common.StringIO(out))["gravity_capacity"].to_numpy()
    raw = np.array([4.5, 2.25])
    np.testing.assert_allclose(vals, raw / ((100 * 4.5 + 300 * 2.25) / 400))


@pytest.mark.parametrize("cost_rows, message", [
    ("o1,d1,-1\n", "row 2, column 'cost': cost must not be negative"),
    ("zz,d1,3\n", "row 2, column 'origin': unknown origin id"),
    ("o1,d9,3\n", "row 2, column 'destination': unknown destination id"),
])
def test_bad_cost_table_is_a_clear_error(run_cli, files, cost_rows, message):
    (files / "bad.csv").write_text("origin,destination,cost\n" + cost_rows)
    code, _, err = run_cli("access", "--demand", files / "D.csv", "--supply", files / "S.csv",
                        "--cost", files / "bad.csv", "--method", "2sfca")
    assert code == 2
    assert message in err and "Traceback" not in err


def test_negative_supply_empty_join_and_missing_column(run_cli, files):
    pd.DataFrame({"id": ["d1", "d2"], "capacity": [2, -1]}).to_csv(files / "S2.csv", index=False)
    code, _, err = run_cli("access", "--demand", files / "D.csv", "--supply", files / "S2.csv",
                        "--cost", files / "C.csv", "--method", "2sfca")
    assert code == 2 and "S2.csv, row 3, column 'capacity': value must not be negative" in err
    code, _, err = run_cli("access", "--demand", files / "D.csv", "--supply", files / "S.csv",
                        "--cost", files / "C.csv", "--method", "2sfca", "--max-cost", -1)
    # a negative catchment is a range error, not "no pair within -1" (issue 11 variants)
    assert code == 2 and "max_cost (--max-cost) must be a number >= 0 (value: -1)" in err
    code, _, err = run_cli("access", "--demand", files / "D.csv", "--supply", files / "S.csv",
                        "--cost", files / "C.csv", "--method", "2sfca", "--demand-value", "pop")
    assert code == 2 and "column 'pop': column is missing" in err
    code, _, err = run_cli("access", "--demand", files / "D.csv", "--supply", files / "S.csv",
                        "--cost", files / "C.csv", "--method", "fca", "--max-cost", 5)
    assert code == 2 and "--demand-cost" in err
