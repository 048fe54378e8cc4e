"""Access parameters: range checks in the library and on the command line, required parameters where no
default is sensible, and RAAM's congestion term (issue #11, items 7 and 9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from equicare.analyze import access as A
from equicare.analyze.costs import cost_matrix_from_long
from equicare.errors import EquicareError


def _tiny():
    df = pd.DataFrame({"origin": ["o1", "o1", "o2", "o2"], "destination": ["d1", "d2", "d1", "d2"],
                       "cost": [0.0, 20.0, 10.0, 40.0]})
    return cost_matrix_from_long(df, ["o1", "o2"], ["d1", "d2"]), np.array([100.0, 300.0]), np.array([2.0, 1.0])


# ------------------------------------------------------------------ RAAM
def test_raam_congestion_counts():
    """One origin (100 people), one site (100 places) 30 minutes away, tau 60: travel 30/60 = 0.5 plus
    congestion 100 / (rho 1 x 100) = 1 -> 1.5. rho 0, a negative rho or 0 cycles used to drop the
    congestion and answer 0.5."""
    c = sp.csr_matrix(np.array([[30.0]]))
    d, s = np.array([100.0]), np.array([100.0])
    assert A.raam(c, d, s, tau=60)[0] == pytest.approx(1.5)
    assert A.raam(c, d, s, tau=60, rho=1.0)[0] == pytest.approx(1.5)
    assert A.raam(c, d, s, tau=60, rho=2.0)[0] == pytest.approx(0.5 + 0.5)  # congestion 100 / (2 x 100)
    assert A.raam(c, d, s, tau=60, max_cycles=1)[0] == pytest.approx(1.5)
    # independent: PySAL access' own iteration on the same instance
    from access.raam import iterate_raam

    ref = iterate_raam(d, s * 1.0, np.array([[30.0 / 60]]), max_cycles=150)
    assert A.raam(c, d, s, tau=60)[0] == pytest.approx(float(np.asarray(ref)[0]))


RAAM_BAD = [
    ({"rho": 0}, "rho"), ({"rho": -1.0}, "rho"), ({"rho": float("nan")}, "rho"), ({"rho": float("inf")}, "rho"),
    ({"max_cycles": 0}, "max_cycles"), ({"max_cycles": -5}, "max_cycles"), ({"max_cycles": 2.5}, "max_cycles"),
    ({"tau": 0}, "tau"), ({"tau": -60}, "tau"), ({"tau": float("nan")}, "tau"), ({"tau": None}, "needs tau"),
    ({"initial_step": 0}, "initial_step"), ({"initial_step": 1.5}, "initial_step"),
    ({"min_step": 0}, "min_step"), ({"min_step": 0.5}, "min_step"),
    ({"half_life": 0}, "half_life"), ({"limit_initial": -1}, "limit_initial"),
    ({"limit_initial": 1.5}, "limit_initial"), ({"max_cycles": True}, "max_cycles"),
]


@pytest.mark.parametrize("kwargs, name", RAAM_BAD, ids=[f"{k}" for k, _ in RAAM_BAD])
def test_raam_parameters_are_range_checked(kwargs, name):
    c = sp.csr_matrix(np.array([[30.0]]))
    with pytest.raises(EquicareError, match=name):
        A.raam(c, np.array([100.0]), np.array([100.0]), **({"tau": 60.0} | kwargs))


# ------------------------------------------------------------------ every parameter of every method
BAD = [  # method, parameters, words the message must hold
    ("fca", {"max_cost": -1}, "max_cost"), ("fca", {"max_cost": float("nan")}, "max_cost"),
    ("2sfca", {"max_cost": -0.5}, "max_cost"), ("2sfca", {"max_cost": "30"}, "max_cost"),
    ("2sfca", {}, "needs max_cost"),
    ("2sfca", {"weights": {10: -1.0}}, "step weight"), ("2sfca", {"weights": {-10: 1.0}}, "threshold"),
    ("2sfca", {"weights": {10: 0.0, 20: 0.0}}, "all 0"), ("2sfca", {"weights": {10: float("inf")}}, "step weight"),
    ("e2sfca", {}, "needs step weights"), ("e2sfca", {"weights": {float("nan"): 1.0}}, "threshold"),
    ("3sfca", {}, "needs step weights"), ("3sfca", {"weights": {10: 1.0}, "max_cost": -3}, "max_cost"),
    ("gravity", {"scale": 0, "alpha": -1}, "scale"), ("gravity", {"scale": -10, "alpha": -1}, "scale"),
    ("gravity", {"scale": 10, "alpha": 1.5}, "alpha"), ("gravity", {"scale": 10, "alpha": float("nan")}, "alpha"),
    ("gravity", {"scale": 10, "alpha": -1, "min_dist": -1}, "min_dist"),
    ("gravity", {"scale": 10}, "needs scale and alpha"), ("gravity", {"sigma": 0}, "sigma"),
    ("gravity", {"sigma": -3}, "sigma"), ("gravity", {"sigma": 3, "scale": 10, "alpha": -1}, "not both"),
    ("raam", {}, "needs tau"), ("raam", {"tau": 60, "rho": 0}, "rho"),
    ("raam", {"tau": 60, "max_cycles": 0}, "max_cycles"),
    ("raam", {"tau": 60, "max_cost": -1}, "max_cost"),
    ("nearest", {"max_cost": -1}, "max_cost"),
    # a parameter the method does not use is refused, not ignored
    ("2sfca", {"max_cost": 30, "tau": 60}, "does not use tau"), ("nearest", {"weights": {10: 1.0}}, "does not use"),
    ("fca", {"max_cost": 30, "rho": 2}, "does not use rho"), ("gravity", {"sigma": 3, "max_cycles": 5}, "max_cycles"),
]


@pytest.mark.parametrize("method, params, words", BAD, ids=[f"{m}-{p}" for m, p, _ in BAD])
def test_every_parameter_is_checked_in_the_library(method, params, words):
    cost, pop, sup = _tiny()
    if method == "fca":
        params = params | {"demand_cost": sp.csr_matrix(np.array([[0.0, 10.0], [10.0, 0.0]]))}
    with pytest.raises(EquicareError, match=words):
        A.compute_access(method, cost, pop, sup, **params)


def test_functions_check_their_own_parameters():
    cost, pop, sup = _tiny()
    with pytest.raises(EquicareError, match="needs max_cost"):
        A.two_step_fca(cost, pop, sup)
    with pytest.raises(EquicareError, match="max_cost"):
        A.two_step_fca(cost, pop, sup, -1)
    with pytest.raises(EquicareError, match="needs step weights"):
        A.three_step_fca(cost, pop, sup, None)
    with pytest.raises(EquicareError, match="needs step weights"):
        A.enhanced_two_step_fca(cost, pop, sup, None)
    with pytest.raises(EquicareError, match="scale"):
        A.gravity_weights(0, -1)
    with pytest.raises(EquicareError, match="sigma"):
        A.gaussian_weights(-2)
    with pytest.raises(EquicareError, match="max_cost"):
        A.nearest_cost(cost, sup, max_cost=-2)
    with pytest.raises(EquicareError, match="max_cost"):
        A.weighted_catchment(cost, sup, max_cost=float("nan"))
    with pytest.raises(EquicareError, match="mean access is 0"):
        A.normalize_access(np.zeros(2), pop)
    # max_cost = inf says "every stored pair is in reach"
    np.testing.assert_allclose(A.two_step_fca(cost, pop, sup, np.inf), A.two_step_fca(cost, pop, sup, 40))
    # the message lists the usual bands for minutes
    with pytest.raises(EquicareError, match="10:0.962,20:0.704,30:0.377,60:0.042"):
        A.three_step_fca(cost, pop, sup, None)


def test_two_step_fca_on_a_complete_table_needs_a_catchment():
    """On a complete cost table 2SFCA without a catchment gives every origin sum(S)/sum(P): refused; with
    a catchment the values differ by origin."""
    cost, pop, sup = _tiny()
    assert cost.nnz == 4  # complete
    np.testing.assert_allclose(A.two_step_fca(cost, pop, sup, np.inf), [3 / 400, 3 / 400])
    np.testing.assert_allclose(A.two_step_fca(cost, pop, sup, 30), [2 / 400 + 1 / 100, 2 / 400])


def test_parse_step_weights_refuses_repeated_thresholds():
    with pytest.raises(EquicareError, match="given twice"):
        A.parse_step_weights("10:1,10:0.5")
    assert A.parse_step_weights("10:1, 20:0.5") == {10.0: 1.0, 20.0: 0.5}


# ------------------------------------------------------------------ the command
@pytest.fixture()
def files(tmp_path):
    pd.DataFrame({"id": ["o1", "o2"], "population": [100, 300]}).to_csv(tmp_path / "D.csv", index=False)
    pd.DataFrame({"id": ["d1", "d2"], "capacity": [2, 1]}).to_csv(tmp_path / "S.csv", index=False)
    pd.DataFrame({"origin": ["o1", "o1", "o2", "o2"], "destination": ["d1", "d2", "d1", "d2"],
                  "cost": [0.0, 20.0, 10.0, 40.0]}).to_csv(tmp_path / "C.csv", index=False)
    pd.DataFrame({"id": ["o1"], "population": [100]}).to_csv(tmp_path / "D1.csv", index=False)
    pd.DataFrame({"id": ["s1"], "capacity": [100]}).to_csv(tmp_path / "S1.csv", index=False)
    pd.DataFrame({"origin": ["o1"], "destination": ["s1"], "cost": [30.0]}).to_csv(tmp_path / "C1.csv", index=False)
    return tmp_path


def _base(files):
    return ["access", "--demand", files / "D.csv", "--supply", files / "S.csv", "--cost", files / "C.csv"]


def test_cli_raam(run_cli, files):
    base = ["access", "--demand", files / "D1.csv", "--supply", files / "S1.csv", "--cost", files / "C1.csv",
            "--method", "raam"]
    code, out, err = run_cli(*base, "--tau", 60)
    assert code == 0, err
    assert pd.read_csv(pd.io.common.StringIO(out))["raam_capacity"].iloc[0] == pytest.approx(1.5)
    for extra, words in ((["--tau", 60, "--rho", 0], "--rho"), (["--tau", 60, "--rho", -2], "--rho"),
                         (["--tau", 60, "--max-cycles", 0], "--max-cycles"), (["--tau", 0], "--tau"),
                         ([], "needs tau")):
        code, _, err = run_cli(*base, *extra)
        assert code == 2 and words in err and "Traceback" not in err, (extra, err)


@pytest.mark.parametrize("args, words", [
    (["--method", "2sfca"], "--max-cost"),
    (["--method", "3sfca"], "--weights"),
    (["--method", "3sfca", "--max-cost", 30], "--weights"),
    (["--method", "e2sfca"], "--weights"),
    (["--method", "gravity", "--scale", 10, "--alpha", 2], "alpha"),
    (["--method", "gravity", "--sigma", -1], "sigma"),
    (["--method", "2sfca", "--max-cost", 30, "--tau", 5], "does not use tau"),
    (["--method", "e2sfca", "--weights", "10:1,10:2"], "given twice"),
    (["--method", "e2sfca", "--weights", "10:-1"], "step weight"),
])
def test_cli_refuses_bad_or_missing_parameters(run_cli, files, args, words):
    code, _, err = run_cli(*_base(files), *args)
    assert code == 2 and words in err and "Traceback" not in err, err


def test_cli_3sfca_with_weights_and_2sfca_with_catchment(run_cli, files):
    code, out, err = run_cli(*_base(files), "--method", "3sfca", "--weights", "10:1,30:0.5")
    assert code == 0, err
    cost, pop, sup = _tiny()
    np.testing.assert_allclose(pd.read_csv(pd.io.common.StringIO(out))["3sfca_capacity"],
                               A.three_step_fca(cost, pop, sup, {10: 1.0, 30: 0.5}))
    code, out, err = run_cli(*_base(files), "--method", "2sfca", "--weights", "10:1,30:0.5")
    assert code == 0, err  # 2SFCA with decay weights needs no separate catchment
