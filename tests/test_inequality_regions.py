"""Region-level inequality: regions of weight 0, round-off at perfect equality, undefined measures and the
``inequality --regions`` weighting choice (issue #11, items 4, 6 and 9)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equicare.analyze import inequality as I
from equicare.errors import EquicareError

POINT = {"gini": I.gini, "theil": I.theil, "mld": I.mean_log_deviation, "cov": I.coefficient_of_variation,
         "quintile_ratio": I.quintile_ratio}


def _by_hand(x, w, eps):
    """MLD and Atkinson straight from Cowell (2011) / Atkinson (1970), plain Python."""
    p = [wi / sum(w) for wi in w]
    mu = sum(pi * xi for pi, xi in zip(p, x))
    mld = sum(pi * math.log(mu / xi) for pi, xi in zip(p, x))
    if eps == 1:
        ede = math.exp(sum(pi * math.log(xi) for pi, xi in zip(p, x)))
    else:
        ede = sum(pi * xi ** (1 - eps) for pi, xi in zip(p, x)) ** (1 / (1 - eps))
    return mld, 1 - ede / mu


def test_a_region_with_no_people_changes_nothing():
    """id,access,pop: t1,0.5,100 / t2,1.0,300 / t3,2.0,100 / t4,0,0 -> MLD 0.0953, Atkinson(1) 0.0909,
    Atkinson(2) 0.1736, exactly as without t4 (before: MLD and Atkinson(eps>=1) came back empty)."""
    x, w = [0.5, 1.0, 2.0, 0.0], [100.0, 300.0, 100.0, 0.0]
    for eps, want in ((1, 0.0909), (2, 0.1736)):
        with_t4 = I.region_inequality(x, w, epsilon=eps, n_boot=300, seed=3)
        without = I.region_inequality(x[:3], w[:3], epsilon=eps, n_boot=300, seed=3)
        pd.testing.assert_frame_equal(with_t4, without)  # estimates, intervals and notes
        row = with_t4.set_index("measure")
        assert row.loc["mld", "estimate"] == pytest.approx(0.0953, abs=5e-5)
        assert row.loc["atkinson", "estimate"] == pytest.approx(want, abs=5e-5)
        mld, atk = _by_hand(x[:3], w[:3], eps)
        assert row.loc["mld", "estimate"] == pytest.approx(mld, rel=1e-12)
        assert row.loc["atkinson", "estimate"] == pytest.approx(atk, rel=1e-12)
        assert (row.note == "").all()
    assert I.mean_log_deviation(x, w) == pytest.approx(0.0953, abs=5e-5)
    assert I.atkinson(x, w, epsilon=2) == pytest.approx(0.1736, abs=5e-5)


@st.composite
def _regions(draw):
    n = draw(st.integers(2, 12))
    x = draw(st.lists(st.floats(0.01, 50.0), min_size=n, max_size=n))
    w = draw(st.lists(st.floats(0.5, 1e5), min_size=n, max_size=n))
    k = draw(st.integers(1, 4))
    extra_x = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.0, 1e4)), min_size=k, max_size=k))
    pos = draw(st.lists(st.integers(0, n + k - 1), min_size=k, max_size=k))
    return x, w, extra_x, pos


@settings(max_examples=40, deadline=None)
@given(_regions(), st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]))
def test_zero_weight_rows_change_no_measure(case, eps):
    x, w, extra_x, pos = case
    xs, ws = list(x), list(w)
    for v, at in zip(extra_x, pos):  # insert zero-weight regions anywhere, at any value (even 0)
        at = min(at, len(xs))
        xs.insert(at, v)
        ws.insert(at, 0.0)
    for name, fn in POINT.items():
        assert fn(xs, ws) == fn(x, w), name
    assert I.atkinson(xs, ws, eps) == I.atkinson(x, w, eps)
    a = I.region_inequality(xs, ws, epsilon=eps, n_boot=50, seed=1)
    b = I.region_inequality(x, w, epsilon=eps, n_boot=50, seed=1)
    pd.testing.assert_frame_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-6, 1e6), st.integers(1, 60), st.lists(st.floats(0.001, 1e6), min_size=60, max_size=60))
def test_equal_values_give_exact_equality(v, n, w):
    """Perfect equality is 0 (the 20/20 ratio 1), never a round-off residue such as -2.2e-16."""
    x, w = [v] * n, w[:n]
    for weights in (w, None):
        assert I.gini(x, weights) == 0.0
        assert I.theil(x, weights) == 0.0
        assert I.mean_log_deviation(x, weights) == 0.0
        assert I.coefficient_of_variation(x, weights) == 0.0
        assert I.quintile_ratio(x, weights) == 1.0
        for eps in (0.5, 1.0, 2.0):
            assert I.atkinson(x, weights, eps) == 0.0
    tab = I.region_inequality(x, w, n_boot=20)
    assert (tab.estimate == [0, 0, 0, 0, 0, 1]).all() and (tab.lowerci == tab.estimate).all()


def test_gini_of_equal_values_is_zero_not_round_off():
    for v in (0.1, 0.7, 3.3, 1 / 3, 123.456):
        for n in (3, 7, 10, 1000):
            assert I.gini([v] * n) == 0.0
            assert I.gini([v] * n, np.linspace(1, 5, n)) == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1e3)), min_size=1, max_size=15), st.data())
def test_measures_stay_in_their_range(x, data):
    w = data.draw(st.lists(st.floats(0.01, 1e4), min_size=len(x), max_size=len(x)))
    tab = I.region_inequality(x, w, n_boot=30, epsilon=data.draw(st.sampled_from([0.5, 1.0, 2.0])))
    for r in tab.itertuples():
        if r.note:  # undefined: said, with no interval beside the empty estimate
            assert np.isnan([r.estimate, r.lowerci, r.upperci]).all()
            continue
        assert np.isfinite(r.estimate)
        floor = 1.0 if r.measure == "quintile_ratio" else 0.0
        assert r.estimate >= floor and (np.isnan(r.lowerci) or r.lowerci >= floor)
        if r.measure in ("gini", "atkinson"):
            assert r.estimate <= 1.0


def test_undefined_measures_are_said():
    tab = I.region_inequality([0.0, 1.0, 2.0], [1.0, 1.0, 1.0], epsilon=1.0).set_index("measure")
    assert "needs every value > 0" in tab.loc["mld", "note"]
    assert "needs every value > 0" in tab.loc["atkinson", "note"]
    assert "bottom 20%" in tab.loc["quintile_ratio", "note"]
    for m in ("mld", "atkinson", "quintile_ratio"):
        assert np.isnan(tab.loc[m, ["estimate", "lowerci", "upperci"]].to_numpy(float)).all()
    assert tab.loc["gini", "note"] == "" and tab.loc["gini", "estimate"] > 0
    zero = I.region_inequality([0.0, 0.0], [1.0, 2.0]).set_index("measure")
    assert (zero.note != "").all() and zero.estimate.isna().all()
    assert "every value is 0" in zero.loc["theil", "note"]


@pytest.mark.parametrize("kwargs, message", [
    ({"epsilon": -1}, "epsilon"), ({"epsilon": float("nan")}, "epsilon"),
    ({"n_boot": 0}, "n_boot"), ({"n_boot": 2.5}, "n_boot"),
    ({"level": 1.0}, "level"), ({"level": 0}, "level"),
])
def test_region_parameters_are_checked(kwargs, message):
    with pytest.raises(EquicareError, match=message):
        I.region_inequality([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], **kwargs)


def test_region_table_needs_a_weighting_choice():
    df = pd.DataFrame({"id": ["a", "b", "c"], "rate": [1.0, 2.0, 4.0], "pop": [10, 20, 30]})
    with pytest.raises(EquicareError, match="--weight COLUMN.*--unweighted"):
        I.region_inequality_table(df, "rate")
    with pytest.raises(EquicareError, match="not both"):
        I.region_inequality_table(df, "rate", "pop", unweighted=True)
    un = I.region_inequality_table(df, "rate", unweighted=True, n_boot=10)
    assert un.set_index("measure").loc["gini", "estimate"] == pytest.approx(I.gini([1.0, 2.0, 4.0]))
    wt = I.region_inequality_table(df, "rate", "pop", n_boot=10)
    assert wt.set_index("measure").loc["gini", "estimate"] == pytest.approx(I.gini([1.0, 2.0, 4.0], [10, 20, 30]))


# ------------------------------------------------------------------ the command
@pytest.fixture()
def regions_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,access,pop\nt1,0.5,100\nt2,1.0,300\nt3,2.0,100\nt4,0,0\n")
    return path


@pytest.mark.parametrize("eps, atk", [(1, 0.0909), (2, 0.1736)])
def test_cli_region_with_no_people(run_cli, regions_csv, eps, atk):
    code, out, err = run_cli("inequality", "--regions", regions_csv, "--value", "access", "--weight", "pop",
                             "--epsilon", eps, "--n-boot", 200)
    assert code == 0, err
    tab = pd.read_csv(pd.io.common.StringIO(out), keep_default_na=False).set_index("measure")
    assert list(tab.columns) == ["estimate", "lowerci", "upperci", "note"]
    assert float(tab.loc["mld", "estimate"]) == pytest.approx(0.0953, abs=5e-5)
    assert float(tab.loc["atkinson", "estimate"]) == pytest.approx(atk, abs=5e-5)
    assert (tab.note == "").all()
    assert "e-16" not in out and "e-17" not in out


def test_cli_regions_without_weight_must_choose(run_cli, regions_csv):
    code, _, err = run_cli("inequality", "--regions", regions_csv, "--value", "access")
    assert code == 2 and "--weight" in err and "--unweighted" in err and "Traceback" not in err
    code, out, err = run_cli("inequality", "--regions", regions_csv, "--value", "access", "--unweighted",
                             "--n-boot", 20)
    assert code == 0, err
    tab = pd.read_csv(pd.io.common.StringIO(out)).set_index("measure")
    assert tab.loc["gini", "estimate"] == pytest.approx(I.gini([0.5, 1.0, 2.0, 0.0]))
    code, _, err = run_cli("inequality", "--regions", regions_csv, "--value", "access", "--weight", "pop",
                           "--epsilon", -1)
    assert code == 2 and "epsilon" in err


def test_cli_gini_of_equal_values(run_cli, tmp_path):
    (tmp_path / "eq.csv").write_text("id,rate,pop\n" + "".join(f"r{k},0.1,{k + 1}\n" for k in range(7)))
    code, out, err = run_cli("inequality", "--regions", tmp_path / "eq.csv", "--value", "rate", "--weight", "pop",
                             "--n-boot", 20)
    assert code == 0, err
    tab = pd.read_csv(pd.io.common.StringIO(out)).set_index("measure")
    assert tab.loc["gini", "estimate"] == 0.0 and "e-1" not in out
