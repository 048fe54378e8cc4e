"""Inequality measures: hand-worked cases, brute force, and values published with healthequal/HEAT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from equicare.analyze import heat as H
from equicare.analyze import inequality as I
from equicare.errors import EquicareError, ValidationError

# ------------------------------------------------------------------ region-level measures
X = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
W = np.array([1.0, 2.0, 1.0, 1.0, 3.0])


def test_gini_equals_mean_difference_formula_and_lorenz_area():
    p = W / W.sum()
    mu = (p * X).sum()
    brute = (p[:, None] * p[None, :] * np.abs(X[:, None] - X[None, :])).sum() / (2 * mu)
    assert I.gini(X, W) == pytest.approx(brute, rel=1e-12)
    # hand-worked unweighted case: values 1, 2, 3 -> sum |xi-xj| = 8, 2 n^2 mu = 36 -> G = 2/9
    assert I.gini([1, 2, 3]) == pytest.approx(2 / 9, rel=1e-12)
    assert I.gini([5, 5, 5]) == pytest.approx(0.0, abs=1e-12)
    ps, ls = I.lorenz_curve(X, W)
    assert ps[0] == ls[0] == 0 and ps[-1] == pytest.approx(1) and ls[-1] == pytest.approx(1)
    area_between = 0.5 - np.trapezoid(ls, ps)
    assert I.gini(X, W) == pytest.approx(2 * area_between, rel=1e-12)


def test_theil_mld_atkinson_cov_hand_worked():
    # two equal-sized regions at 1 and 3: mu = 2
    x = [1.0, 3.0]
    t = 0.5 * (0.5 * np.log(0.5)) + 0.5 * (1.5 * np.log(1.5))
    assert I.theil(x) == pytest.approx(t, rel=1e-12)
    assert I.mean_log_deviation(x) == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(2 / 3), rel=1e-12)
    assert I.atkinson(x, epsilon=1) == pytest.approx(1 - np.sqrt(3) / 2, rel=1e-12)
    assert I.atkinson(x, epsilon=0.5) == pytest.approx(1 - ((1 + np.sqrt(3)) / 2) ** 2 / 2, rel=1e-12)
    assert I.coefficient_of_variation(x) == pytest.approx(0.5, rel=1e-12)
    # a region with weight 3 at value 1 equals three regions at value 1
    assert I.theil([1, 5], [3, 1]) == pytest.approx(I.theil([1, 1, 1, 5]), rel=1e-12)


def test_quintile_ratio_hand_worked():
    assert I.quintile_ratio(np.arange(1, 11)) == pytest.approx(9.5 / 1.5, rel=1e-12)
    # weighted: bottom 20% of 10 people = 2 people at value 1; top 20% = 2 people at value 8
    assert I.quintile_ratio([1, 4, 8], [3, 5, 2]) == pytest.approx(8.0, rel=1e-12)
    # straddling: 5 people each at 1 and 3 -> bottom 20% all at 1, top 20% all at 3
    assert I.quintile_ratio([1, 3], [5, 5]) == pytest.approx(3.0, rel=1e-12)


def test_region_table_and_bootstrap_ci_contains_estimate():
    tab = I.region_inequality(X, W, n_boot=300, seed=1)
    assert list(tab.measure) == ["gini", "theil", "mld", "atkinson", "cov", "quintile_ratio"]
    assert (tab.lowerci <= tab.estimate + 1e-12).all() and (tab.estimate <= tab.upperci + 1e-12).all()
    again = I.region_inequality(X, W, n_boot=300, seed=1)
    pd.testing.assert_frame_equal(tab, again)  # deterministic


def test_region_bad_input():
    with pytest.raises(EquicareError, match=">= 0"):
        I.gini([1, -2, 3])
    with pytest.raises(EquicareError, match="finite"):
        I.gini([1, np.nan])
    with pytest.raises(EquicareError, match="every value > 0"):
        I.mean_log_deviation([0, 1])


def test_gini_of_beds_per_capita_across_states(shared_data):
    st = pd.read_csv(shared_data / "capacity" / "state.csv")
    beds, popc = "Staffed All Beds", "Population"
    rate = st[beds].to_numpy(float) / st[popc].to_numpy(float)
    g = I.gini(rate, st[popc].to_numpy(float))
    p = st[popc].to_numpy(float) / st[popc].sum()
    mu = (p * rate).sum()
    brute = (p[:, None] * p[None, :] * np.abs(rate[:, None] - rate[None, :])).sum() / (2 * mu)
    assert g == pytest.approx(brute, rel=1e-10)
    assert 0.02 < g < 0.4


# ------------------------------------------------------------------ HEAT / healthequal measures
# healthequal's own test data: pop = round(rnorm(5, 100, 40)) with set.seed(123) = 78 91 162 103 105
POP = np.array([78.0, 91.0, 162.0, 103.0, 105.0])
EST = np.array([20.0, 30.0, 40.0, 50.0, 60.0])
SE = np.array([5.0, 7.0, 10.0, 12.0, 14.0])
ORD = np.arange(1, 6)
# healthequal's OrderedSample (births attended by skilled personnel, %, wealth quintiles)
OS_EST = np.array([75.60530, 91.01997, 96.03959, 97.04223, 99.22405])
OS_SE = np.array([1.5996131, 1.1351504, 0.6461946, 0.5676206, 0.2237683])
OS_POP = np.array([2072.436, 2112.204, 1983.059, 2052.124, 1884.510])


def _close(m, est, se=None, lo=None, hi=None, rel=1e-6):
    assert m.estimate == pytest.approx(est, rel=rel)
    if se is not None:
        assert m.se == pytest.approx(se, rel=rel)
    if lo is not None:
        assert m.lowerci == pytest.approx(lo, rel=rel)
        assert m.upperci == pytest.approx(hi, rel=rel)


def test_published_healthequal_test_values_ordered():
    """Expected values from healthequal's tests/testthat (test-aci/rci/sii/rii/paf/parisk.R)."""
    _close(H.aci(EST, ORD, POP), 7.3284202, 0.29368517, rel=1e-6)
    _close(H.rci(EST, ORD, POP), 0.17776859, 0.0071240491, 0.16380545, 0.19173172, rel=1e-5)
    _close(H.sii(EST, ORD, POP, scaleval=[100] * 5), 44.44502, 0.02190822, 40.15109, 48.73895)
    _close(H.rii(EST, ORD, POP), 3.159506, 0.07644001, 2.719902, 3.67016)
    _close(H.paf(EST, POP, 1, True, ORD, scaleval=[100] * 5), 45.544548, 0.10689361, 45.335037, 45.75406)
    # the published PAR interval used z = 1.96; estimate and SE are exact
    _close(H.par(EST, POP, 1, True, ORD, scaleval=[100] * 5), 18.775509, 4.4066348)


def test_published_healthequal_values_ordered_sample():
    """Values printed in healthequal's vignette and reference pages for OrderedSample."""
    _close(H.aci(OS_EST, ORD, OS_POP), 4.30052, 1.284031, 1.783865, 6.817174, rel=2e-6)
    _close(H.rii(OS_EST, ORD, OS_POP), 1.466089, 0.04372912, 1.345669, 1.597286, rel=2e-6)
    _close(H.paf(OS_EST, OS_POP, 1, True, ORD, scaleval=[100] * 5), 8.327116, 0.003681919, 8.319899, 8.334332,
           rel=2e-6)


# healthequal's tests/testthat for the non-ordered measures (test-bgv.R, test-bgsd.R, test-idisu.R,
# test-idisw.R, test-mdbu.R, test-mdbw.R, test-mdmu.R, test-mdmw.R, test-mdru.R, test-mdrw.R, test-ti.R,
# test-mld.R, test-paf-nonordered.R, test-par-nonordered.R; github.com/WHOequity/healthequal, same
# values in CRAN's healthequal 1.0.x) draw 25 subgroups in R with
#   set.seed(123); pop <- round(rnorm(25, 1000, 300)); est <- rbinom(25, 1000, .065)
#   se <- rbinom(25, 100, .045); ref <- rep(0, 25); ref[sample(25, 1)] <- 1
# under R's default generators (Mersenne-Twister, Inversion, Rejection sampling since R 3.6). These
# are the draws (printed by R 4.2.2); the reference subgroup is the 14th. scale = 100, favourable.
NO_POP = np.array([832, 931, 1468, 1021, 1039, 1515, 1138, 620, 794, 866, 1367, 1108, 1120, 1033, 833, 1536, 1149,
                   410, 1210, 858, 680, 935, 692, 781, 812], float)
NO_EST = np.array([61, 74, 58, 59, 72, 75, 74, 68, 75, 67, 73, 63, 66, 62, 60, 66, 71, 73, 71, 61, 74, 84, 55, 69, 60],
                  float)
NO_SE = np.array([5, 3, 3, 3, 4, 9, 2, 2, 2, 5, 5, 7, 5, 6, 4, 5, 6, 6, 9, 4, 3, 4, 1, 3, 7], float)
NO_REF = (np.arange(25) == 13).astype(float)
NO_SCALE = [100] * 25
Z196 = 1.96  # the published TI, PAF and PAR intervals were worked out with z = 1.96


def test_published_healthequal_test_values_nonordered():
    """Expected values from healthequal's tests/testthat for the non-ordered measures (see above).

    Tolerances are relative; healthequal's own tests use 1e-4 (1e-3 for MLD, 1e-6 for the PAF
    interval). The published TI and MLD differ from their formula (which R and equicare both
    evaluate to TI 5.0359803, MLD 5.0523552) by about 1e-5; everything else agrees to 1e-6 or better.
    """
    p, y, s, ref, sc = NO_POP, NO_EST, NO_SE, NO_REF, NO_SCALE
    z = 1.959963984540054
    _close(H.bgv(y, p, s), 46.198326, 17.134647, 46.198326 - 17.134647 * z, 46.198326 + 17.134647 * z, rel=1e-6)
    _close(H.bgsd(y, p, s, scaleval=sc), 6.7969351, rel=1e-7)
    _close(H.idisu(y, p, s, scaleval=sc), 8.7018175, rel=1e-7)
    _close(H.idisw(y, p, s, scaleval=sc), 8.6178417, rel=1e-7)
    _close(H.mdbu(y, s, favourable_indicator=1, scaleval=sc), 16.360001, rel=1e-7)
    _close(H.mdbw(y, p, s, favourable_indicator=1, scaleval=sc), 16.293156, rel=1e-7)
    _close(H.mdmu(y, p, s, scaleval=sc), 5.891726, rel=1e-7)
    _close(H.mdmw(y, p, s, scaleval=sc), 5.8348689, rel=1e-7)
    _close(H.mdru(y, ref, s, scaleval=sc), 7.2399998, rel=1e-7)
    _close(H.mdrw(y, p, ref, s, scaleval=sc), 7.2228465, rel=1e-7)
    _close(H.theil_index(y, p, s), 5.0359201, 0.0014201, 5.0331367, 5.0387035, rel=2e-5)
    _close(H.mld(y, p, s), 5.0524006, 0.0014242, 5.0524006 - 0.0014242 * z, 5.0524006 + 0.0014242 * z, rel=2e-5)
    paf = H.paf(y, p, 1, False, scaleval=sc)
    _close(paf, 24.06426, 0.01771526, rel=1e-6)
    assert paf.estimate - Z196 * paf.se == pytest.approx(24.029539, rel=1e-6)
    assert paf.estimate + Z196 * paf.se == pytest.approx(24.098982, rel=1e-6)
    par = H.par(y, p, 1, False, scaleval=sc)
    _close(par, 16.293152, 1.1994447, rel=1e-6)
    assert par.estimate - Z196 * par.se == pytest.approx(13.94224, rel=1e-6)
    assert par.estimate + Z196 * par.se == pytest.approx(18.644063, rel=1e-6)
    # BGSD and COV: the square root of BGV, and 100 BGSD / mean (COV has no published test)
    mu = float(np.sum(p * y) / p.sum())
    assert H.cov(y, p, s, scaleval=sc).estimate == pytest.approx(100 * 6.7969351 / mu, rel=1e-7)


def test_difference_and_ratio_direction_rules():
    y, s = np.array([10.0, 30.0, 20.0]), np.array([1.0, 2.0, 2.0])
    order = [1, 2, 3]
    # ordered, favourable: most advantaged (order 3) - most disadvantaged (order 1)
    assert H.difference(y, s, 1, True, order).estimate == pytest.approx(10.0)
    # ordered, adverse: most disadvantaged - most advantaged
    assert H.difference(y, s, 0, True, order).estimate == pytest.approx(-10.0)
    # non-ordered, no reference: highest - lowest (either direction)
    assert H.difference(y, s, 0).estimate == pytest.approx(20.0)
    assert H.ratio(y, s, 1).estimate == pytest.approx(3.0)
    # non-ordered with reference subgroup 3 (value 20): favourable ref - lowest, adverse highest - ref
    ref = [0, 0, 1]
    assert H.difference(y, s, 1, False, None, ref).estimate == pytest.approx(10.0)
    assert H.difference(y, s, 0, False, None, ref).estimate == pytest.approx(10.0)
    assert H.ratio(y, s, 1, False, None, ref).estimate == pytest.approx(2.0)
    assert H.ratio(y, s, 0, False, None, ref).estimate == pytest.approx(1.5)
    d = H.difference(y, s, 1, True, order)  # SE sqrt(2^2 + 1^2)
    assert d.se == pytest.approx(np.sqrt(5)) and d.lowerci == pytest.approx(10 - 1.959963985 * np.sqrt(5))
    r = H.ratio(y, s, 1)  # ln-scale SE: sqrt((se1^2 + R^2 se2^2)/y2^2)/R with y1=30 (se 2), y2=10 (se 1)
    assert r.se == pytest.approx(np.sqrt((4 + 9 * 1) / 100) / 3)


def test_nonordered_measures_hand_worked():
    y = np.array([10.0, 20.0, 40.0])
    pop = np.array([1.0, 2.0, 1.0])  # shares 1/4, 1/2, 1/4 -> mu = 22.5
    mu = 22.5
    assert H.bgv(y, pop).estimate == pytest.approx((0.25 * 12.5**2 + 0.5 * 2.5**2 + 0.25 * 17.5**2))
    assert H.bgsd(y, pop).estimate == pytest.approx(np.sqrt(H.bgv(y, pop).estimate))
    assert H.cov(y, pop).estimate == pytest.approx(100 * H.bgsd(y, pop).estimate / mu)
    assert H.mdbu(y, favourable_indicator=1).estimate == pytest.approx((30 + 20 + 0) / 3)
    assert H.mdbu(y, favourable_indicator=0).estimate == pytest.approx((0 + 10 + 30) / 3)
    assert H.mdbw(y, pop, favourable_indicator=1).estimate == pytest.approx(0.25 * 30 + 0.5 * 20)
    assert H.mdmu(y, pop).estimate == pytest.approx((12.5 + 2.5 + 17.5) / 3)
    assert H.mdmu(y, pop, setting_average=20.0).estimate == pytest.approx((10 + 0 + 20) / 3)
    assert H.mdmw(y, pop).estimate == pytest.approx(0.25 * 12.5 + 0.5 * 2.5 + 0.25 * 17.5)
    assert H.mdru(y, [1, 0, 0]).estimate == pytest.approx((0 + 10 + 30) / 3)
    assert H.mdrw(y, pop, [1, 0, 0]).estimate == pytest.approx(0.5 * 10 + 0.25 * 30)
    assert H.idisu(y, pop).estimate == pytest.approx(100 / 3 * (12.5 + 2.5 + 17.5) / mu)
    assert H.idisw(y, pop).estimate == pytest.approx(100 * (0.25 * 12.5 + 0.5 * 2.5 + 0.25 * 17.5) / mu)
    r = y / mu
    assert H.theil_index(y, pop).estimate == pytest.approx(1000 * np.sum(np.array([.25, .5, .25]) * r * np.log(r)))
    assert H.mld(y, pop).estimate == pytest.approx(1000 * np.sum(np.array([.25, .5, .25]) * -np.log(r)))
    # PAF/PAR non-ordered favourable: best subgroup 40 vs mean 22.5
    assert H.par(y, pop, 1).estimate == pytest.approx(17.5)
    assert H.paf(y, pop, 1).estimate == pytest.approx(100 * 17.5 / 22.5)
    # adverse: best is the lowest (10) -> PAR = -12.5; a favourable best below the mean is set to 0
    assert H.par(y, pop, 0).estimate == pytest.approx(-12.5)


def test_bgv_analytic_se_and_simulated_ci():
    y, pop, se = np.array([10.0, 20.0, 40.0]), np.array([1.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0])
    p = pop / pop.sum()
    mu = (p * y).sum()
    se2 = np.sum(p**2 * se**2 * (y - mu) ** 2)
    s2, s4 = np.sum(p**2 * se**2), np.sum(p**4 * se**4)
    se4 = np.sum(p**2 * (1 - p) ** 2 * se**4)
    assert H.bgv(y, pop, se).se == pytest.approx(np.sqrt(4 * se2 + 2 * (s2**2 - s4 + se4)))
    m = H.bgsd(y, pop, se, scaleval=[100] * 3, n_sim=400)
    assert m.lowerci < m.estimate < m.upperci
    again = H.bgsd(y, pop, se, scaleval=[100] * 3, n_sim=400)  # seeded: the same interval again
    assert (again.lowerci, again.upperci) == (m.lowerci, m.upperci)


HEAT_ROWS = [
    # setting, date, source, abbr, name, dimension, subgroup, estimate, se, population, fav, scale, ordered, order, ref
    *[("Indonesia", "2017", "DHS", "sba", "Births attended (%)", "Economic status", f"Q{k + 1}", OS_EST[k], OS_SE[k],
       OS_POP[k], 1, 100, 1, k + 1, 0) for k in range(5)],
    *[("Indonesia", "2017", "DHS", "sba", "Births attended (%)", "Region", r, e, s, p, 1, 100, 0, None, ref)
      for r, e, s, p, ref in [("north", 80.0, 2.0, 300.0, 1), ("south", 95.0, 1.0, 200.0, 0), ("east", 70.0, 3.0, 100.0, 0),
                              ("west", 90.0, 1.5, 400.0, 0)]],
    *[("Indonesia", "2017", "DHS", "sba", "Births attended (%)", "Sex", g, e, 1.0, 500.0, 1, 100, 0, None, 0)
      for g, e in [("female", 92.0), ("male", 91.0)]],
]


def _heat_frame():
    return pd.DataFrame(HEAT_ROWS, columns=["setting", "date", "source", "indicator_abbr", "indicator_name", "dimension",
                                            "subgroup", "estimate", "se", "population", "favourable_indicator",
                                            "indicator_scale", "ordered_dimension", "subgroup_order",
                                            "reference_subgroup"])


def test_heat_summary_table():
    out = I.heat_summary(_heat_frame())
    assert list(out.columns) == ["setting", "date", "source", "indicator_abbr", "indicator_name", "dimension",
                                 "measure", "estimate", "se", "lowerci", "upperci", "note"]
    # every dimension lists every measure; those computed have an empty note
    assert all(list(g.measure) == list(H.ALL_MEASURES) for _, g in out.groupby("dimension"))
    done = out[out.note == ""]
    assert done.estimate.notna().all()
    by = {d: set(g.measure) for d, g in done.groupby("dimension")}
    assert by["Economic status"] == {"d", "r", "aci", "rci", "sii", "rii", "par", "paf"}
    assert by["Sex"] == {"d", "r"}
    assert {"bgv", "mdru", "mdrw", "ti", "mld", "idisw"} <= by["Region"]
    aci_row = out[(out.dimension == "Economic status") & (out.measure == "aci")].iloc[0]
    assert aci_row.estimate == pytest.approx(4.30052, rel=2e-6)
    d_reg = out[(out.dimension == "Region") & (out.measure == "d")].iloc[0]
    assert d_reg.estimate == pytest.approx(80.0 - 70.0)  # favourable with reference: ref - lowest


def test_heat_summary_says_why_a_measure_does_not_apply():
    df = _heat_frame()
    nopop = df[df.dimension == "Region"].assign(dimension="Region, no population", population=np.nan,
                                                reference_subgroup=0, setting_average=85.0)
    ordered_nopop = df[df.dimension == "Economic status"].assign(dimension="Quintiles, no population",
                                                                 population=np.nan)
    one = df[df.dimension == "Sex"].iloc[:1].assign(dimension="One subgroup")
    out = I.heat_summary(pd.concat([df, nopop, ordered_nopop, one]))
    note = {(r.dimension, r.measure): r.note for r in out.itertuples()}
    assert note["Region", "aci"] == "applies to ordered dimensions only"
    assert note["Economic status", "bgv"] == "applies to non-ordered dimensions only"
    assert note["Sex", "paf"] == "needs more than two subgroups (two subgroups get D and R only)"
    assert note["Region, no population", "mdru"] == "needs a reference subgroup (reference_subgroup = 1)"
    assert note["Region, no population", "ti"] == "needs the population of every subgroup"
    assert note["Quintiles, no population", "sii"] == "needs the population of every subgroup"
    assert note["One subgroup", "d"] == "needs at least two subgroups"
    # without population, the setting average still gives MDMU, IDISU, PAR and PAF
    got = {(r.dimension, r.measure) for r in out.itertuples() if np.isfinite(r.estimate)}
    assert {m for (d, m) in got if d == "Region, no population"} == {
        "d", "r", "mdbu", "mdmu", "idisu", "par", "paf"}
    # computed without an interval: said (issue 11 variants), e.g. PAR's SE needs the population
    assert note["Region, no population", "par"].startswith("no confidence interval: its standard error")
    skipped = out[(out.note != "") & ~out.note.str.startswith("no confidence interval")]
    assert skipped[["estimate", "se", "lowerci", "upperci"]].isna().all().all()
    # a measure that raises for these data is reported with its reason too
    flat = df[df.dimension == "Economic status"].assign(estimate=50.0)
    row = I.heat_summary(flat).set_index("measure").loc["sii"]
    assert np.isnan(row.estimate) and "all estimates have the same value" in row.note


def test_heat_table_errors_name_row_and_column():
    df = _heat_frame().astype(object)
    df.loc[2, "estimate"] = "abc"
    with pytest.raises(ValidationError) as e:
        H.read_heat_table(df, file="heat.csv")
    text = str(e.value)
    assert "heat.csv, row 4, column 'estimate': must be a number" in text
    df = _heat_frame()
    df.loc[6, "favourable_indicator"] = 0
    with pytest.raises(ValidationError, match="favourable_indicator.*must be the same"):
        H.read_heat_table(df)
    with pytest.raises(ValidationError, match="column 'estimate': required column is missing"):
        H.read_heat_table(_heat_frame().drop(columns="estimate"))


def test_concentration_and_slope_hand_worked():
    # three equal subgroups y = 1, 2, 3: fractional ranks 1/6, 1/2, 5/6
    y, order, pop = np.array([1.0, 2.0, 3.0]), [1, 2, 3], [10.0, 10.0, 10.0]
    assert H.aci(y, order, pop).estimate == pytest.approx(4 / 9, rel=1e-12)  # sum p y (2X - 1)
    assert H.rci(y, order, pop).estimate == pytest.approx(2 / 9, rel=1e-12)  # ACI / mean
    # a linear gradient: slope 3 per unit of rank, so SII = 3 and RII = mu(1)/mu(0) = 3.5/0.5
    assert H.sii(y, order, pop, linear=True).estimate == pytest.approx(3.0, rel=1e-12)
    assert H.rii(y, order, pop, linear=True).estimate == pytest.approx(7.0, rel=1e-12)
    # order, not row position, decides the ranking
    assert H.aci(y[::-1], order[::-1], pop).estimate == pytest.approx(4 / 9, rel=1e-12)
