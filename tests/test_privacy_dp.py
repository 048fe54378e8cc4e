"""Differentially private releases: noise scale and error bound against the Laplace formulas, empirical
coverage of the 95% bounds, clamping, and the per-dataset privacy budget in the store."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from equicare.errors import EquicareError
from equicare.privacy.dp import discrete_laplace_error_bound, dp_release, laplace_error_bound
from equicare.privacy.ledger import (
    DEFAULT_EPSILON_BUDGET,
    privacy_budget,
    privacy_ledger,
    privacy_spent,
    release_dataset,
    set_privacy_budget,
)
from equicare.store import Store

REGIONS = ["01", "02", "04", "05", "06"]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 600
    return pd.DataFrame({"state": rng.choice(REGIONS[:4], n), "beds": rng.integers(0, 400, n).astype(float)})


def test_error_bound_formulas_match_opendp_and_the_distributions():
    import opendp.prelude as dp

    for b in (0.5, 1.0, 3.7, 20.0):
        t = discrete_laplace_error_bound(b)
        assert t == pytest.approx(dp.discrete_laplacian_scale_to_accuracy(b, 0.05), rel=1e-9)
        # P(|X| >= t) for the discrete Laplace pmf summed directly, at the integer at or above t
        k = np.arange(-4000, 4001)
        pmf = np.exp(-np.abs(k) / b)
        pmf /= pmf.sum()
        tail = pmf[np.abs(k) >= math.ceil(t)].sum()
        assert tail <= 0.05 + 1e-12
        assert laplace_error_bound(b) == pytest.approx(b * math.log(20), rel=1e-12)
        assert laplace_error_bound(b) == pytest.approx(dp.laplacian_scale_to_accuracy(b, 0.05), rel=1e-9)


def test_count_scale_is_one_over_epsilon_and_covers(rows):
    true = rows.state.value_counts().reindex(REGIONS, fill_value=0).to_numpy()
    eps = 0.5
    rel = dp_release(rows, by="state", statistic="count", epsilon=eps, regions=REGIONS)
    assert rel.scale["count"] == pytest.approx(1 / eps, rel=1e-6)
    assert rel.error_bound == pytest.approx(discrete_laplace_error_bound(1 / eps), rel=1e-6)
    assert rel.table.state.tolist() == REGIONS
    errs = []
    for _ in range(250):
        est = dp_release(rows, by="state", statistic="count", epsilon=eps, regions=REGIONS).table.estimate.to_numpy()
        assert np.allclose(est, np.round(est))  # discrete Laplace keeps counts whole
        errs.append(est - true)
    errs = np.abs(np.concatenate(errs))
    cover = np.mean(errs < rel.error_bound)
    assert 0.93 <= cover <= 0.975, cover  # 1250 draws: 0.95 +- 3.5 sd is [0.929, 0.971]
    # E|X| of discrete Laplace with scale b: 2 e^{-1/b} / (1 - e^{-2/b})
    b = 1 / eps
    expected = 2 * math.exp(-1 / b) / (1 - math.exp(-2 / b))
    assert errs.mean() == pytest.approx(expected, rel=0.12)


def test_sum_scale_clamping_and_coverage(rows):
    eps, bounds = 1.0, (0.0, 200.0)
    clamped = rows.assign(beds=rows.beds.clip(*bounds)).groupby("state").beds.sum()
    true = clamped.reindex(REGIONS, fill_value=0).to_numpy()
    rel = dp_release(rows, by="state", statistic="sum", column="beds", epsilon=eps, regions=REGIONS, bounds=bounds)
    # sensitivity max(|L|,|U|) = 200; OpenDP adds a hair for floating-point rounding
    assert rel.scale["sum"] == pytest.approx(200.0 / eps, rel=1e-5)
    assert rel.scale["sum"] >= 200.0 / eps
    errs = np.abs(np.concatenate([
        dp_release(rows, by="state", statistic="sum", column="beds", epsilon=eps, regions=REGIONS,
                   bounds=bounds).table.estimate.to_numpy() - true for _ in range(200)]))
    assert 0.93 <= np.mean(errs < rel.error_bound) <= 0.975
    assert errs.mean() == pytest.approx(rel.scale["sum"], rel=0.12)  # E|Laplace(b)| = b


def test_mean_bound_is_conservative(rows):
    true = rows.groupby("state").beds.mean().reindex(REGIONS[:4]).to_numpy()
    hits = []
    for _ in range(80):
        rel = dp_release(rows, by="state", statistic="mean", column="beds", epsilon=1.0, regions=REGIONS,
                         bounds=(0.0, 400.0))
        t = rel.table.set_index("state").loc[REGIONS[:4]]
        hits.append(np.abs(t.estimate.to_numpy() - true) <= t.error_bound.to_numpy())
        assert rel.scale["count"] == pytest.approx(2.0, rel=1e-6)  # epsilon/2 each
    assert np.mean(hits) >= 0.95


@pytest.mark.parametrize("kwargs, msg", [
    ({"statistic": "median"}, "statistic must be one of"),
    ({"statistic": "count", "epsilon": 0}, "epsilon must be a positive number"),
    ({"statistic": "sum", "column": "beds"}, "needs public bounds"),
    ({"statistic": "sum", "column": "beds", "bounds": (5, 1)}, "lower < upper"),
    ({"statistic": "mean", "column": "nope", "bounds": (0, 1)}, "value column"),
    ({"statistic": "count", "by": "county"}, "region column 'county'"),
])
def test_bad_requests_are_refused(rows, kwargs, msg):
    args = {"by": "state", "epsilon": 1.0, "regions": REGIONS} | kwargs
    with pytest.raises(EquicareError, match=msg):
        dp_release(rows, **args)


def test_budget_is_charged_per_dataset_and_survives_reupload(rows):
    with Store(":memory:") as st:
        ds = st.save_dataset("admissions", "demand", rows, source="upload.csv", fingerprint="abc", org="north")
        assert privacy_budget(st, ds) == DEFAULT_EPSILON_BUDGET == 1.0
        release_dataset(st, ds, by="state", statistic="count", epsilon=0.6, regions=REGIONS, created_by="ana")
        assert privacy_spent(st, ds) == pytest.approx(0.6)
        with pytest.raises(EquicareError, match=r"privacy budget exceeded for dataset 'admissions'.*0\.6.*needs 0\.5"):
            release_dataset(st, ds, by="state", statistic="count", epsilon=0.5, regions=REGIONS)
        assert len(privacy_ledger(st)) == 1  # the refused release left no trace
        # the same bytes uploaded again keep the spent budget
        ds2 = st.save_dataset("admissions", "demand", rows, source="upload.csv", fingerprint="abc", org="north")
        assert ds2 != ds and privacy_spent(st, ds2) == pytest.approx(0.6)
        release_dataset(st, ds2, by="state", statistic="sum", column="beds", bounds=(0, 400), epsilon=0.4,
                        regions=REGIONS)
        assert privacy_spent(st, ds2) == pytest.approx(1.0)
        led = privacy_ledger(st, org="north")
        assert led.statistic.tolist() == ["sum", "count"] and led.epsilon.sum() == pytest.approx(1.0)
        with pytest.raises(EquicareError, match="already spent"):
            set_privacy_budget(st, ds2, 0.5)
        set_privacy_budget(st, ds2, 2.0)
        assert privacy_budget(st, ds2) == 2.0
        # another organisation's copy of the same file has its own budget
        ds3 = st.save_dataset("admissions", "demand", rows, source="x.csv", fingerprint="abc", org="south")
        assert privacy_spent(st, ds3) == 0.0


# -- issue 17, item 2: sums and means over more than 2^20 rows ----------------------------------------------
def test_sum_and_mean_are_right_above_two_to_the_twenty_rows():
    """OpenDP's default float sum keeps only the first 2^20 rows: 1.1 M ones summed to 1,048,575 +- 3 and the
    mean of 1.5 M ones was 0.699. With epsilon 1 the noise is a few units, so both must be near the truth."""
    n1, n2 = 1_100_000, 1_500_000
    df = pd.DataFrame({"state": np.repeat(["01", "02"], [n1, n2]), "x": np.ones(n1 + n2)})
    rel = dp_release(df, by="state", statistic="sum", column="x", bounds=(0, 1), epsilon=1.0, regions=["01", "02"])
    est = rel.table.set_index("state")["estimate"]
    assert abs(est["01"] - n1) <= rel.error_bound * 3 and abs(est["02"] - n2) <= rel.error_bound * 3
    mean = dp_release(df, by="state", statistic="mean", column="x", bounds=(0, 10), epsilon=1.0,
                      regions=["01", "02"]).table.set_index("state")["estimate"]
    assert mean["02"] == pytest.approx(1.0, abs=1e-3) and mean["01"] == pytest.approx(1.0, abs=1e-3)
    cnt = dp_release(df, by="state", statistic="count", epsilon=1.0, regions=["01", "02"]).table.set_index("state")
    assert abs(cnt.loc["02", "estimate"] - n2) < 30


# -- issue 17, item 3: bounds and epsilons OpenDP cannot handle -----------------------------------------------
@pytest.mark.parametrize("bounds, msg", [
    ((0, 1e308), "too large"), ((0, float("inf")), "finite"), ((-1e308, 1e308), "too large"),
    ((float("nan"), 1), "finite"), (("0", "1"), "two numbers"), ((0, 2.0**53 + 4096), "too large"),
])
def test_bounds_opendp_cannot_handle_are_refused(rows, bounds, msg):
    for statistic in ("sum", "mean"):
        with pytest.raises(EquicareError, match=msg):
            dp_release(rows, by="state", statistic=statistic, column="beds", bounds=bounds, epsilon=1.0,
                       regions=REGIONS)


@pytest.mark.parametrize("eps", ["0.5", 1e-320, float("inf"), -1, 0.0, None, True, 1e6])
def test_bad_epsilons_are_refused(rows, eps):
    with pytest.raises(EquicareError, match="epsilon"):
        dp_release(rows, by="state", statistic="count", epsilon=eps, regions=REGIONS)


def test_large_but_valid_bounds_work(rows):
    rel = dp_release(rows, by="state", statistic="sum", column="beds", bounds=(-1e12, 1e12), epsilon=1.0,
                     regions=REGIONS)
    assert np.isfinite(rel.table.estimate).all() and rel.scale["sum"] >= 2e12


def test_cli_refuses_huge_bounds_with_exit_2(tmp_path, run_cli):
    from equicare.data import load_table

    db = str(tmp_path / "s.duckdb")
    fac = "id,name,region,lat,lon,cap_beds\nh1,A,01,32.5,-86.6,120\nh2,B,02,61.2,-149.9,300\n"
    with Store(db) as st:
        table, _ = load_table(fac.encode(), "facilities", name="f.csv")
        ds = st.save_dataset("f", "facilities", table, source="f.csv", fingerprint="fp")
    for upper in ("1e308", "inf"):
        code, _, err = run_cli("release", ds, "--statistic", "sum", "--column", "cap_beds", "--lower", "0",
                               "--upper", upper, "--epsilon", "0.5", "--store", db)
        assert code == 2, err
        assert "Traceback" not in err and "bounds of 'cap_beds'" in err
    with Store(db) as st:
        from equicare.privacy.ledger import privacy_spent

        assert privacy_spent(st, ds) == 0.0  # nothing charged
