"""Every HEAT measure against healthequal 1.0.1's formulas, for favourable/adverse indicators, ordered and
non-ordered dimensions, with and without a reference subgroup.

The reference below is written from the R sources of healthequal 1.0.1 (R/d.R, r.R, aci.R, rci.R, sii.R,
rii.R, bgv.R, bgsd.R, covar.R, mdbu.R, mdbw.R, mdmu.R, mdmw.R, mdru.R, mdrw.R, idisu.R, idisw.R, ti.R,
mld.R, paf.R, parisk.R; github.com/WHOequity/healthequal) in plain Python loops, independently of
``equicare.analyze.heat``. SII/RII are fitted with statsmodels' binomial GLM, as healthequal fits
``glm(cbind(y, pop - y) ~ rank, weights = pop, family = quasibinomial)``. Where equicare departs from
healthequal on purpose (subgroups of population 0 drop out of the population-weighted measures), the
reference applies the documented rule.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equicare.analyze import heat as H
from equicare.errors import EquicareError

Z = 1.959963984540054
ORDERED_ONLY = {"aci", "rci", "sii", "rii"}
NONORDERED_ONLY = {"bgv", "bgsd", "cov", "mdbu", "mdbw", "mdmu", "mdmw", "mdru", "mdrw", "idisu", "idisw", "ti", "mld"}
POP_WEIGHTED = {"aci", "rci", "sii", "rii", "bgv", "bgsd", "cov", "mdbw", "mdmw", "mdrw", "idisw", "ti", "mld"}
MEASURES = ["d", "r", "aci", "rci", "sii", "rii", "bgv", "bgsd", "cov", "mdbu", "mdbw", "mdmu", "mdmw", "mdru",
            "mdrw", "idisu", "idisw", "ti", "mld", "par", "paf"]


# --------------------------------------------------------------------------- the reference, from the R code
def _first(idx, est, pick):
    best = pick(est[j] for j in idx)
    return next(j for j in idx if est[j] == best)


def ref_pair(est, fav, ordered, order, ref):
    """d.R / r.R: which subgroups are y1 and y2."""
    n = len(est)
    if ordered:
        lo = next(j for j in range(n) if order[j] == min(order))
        hi = next(j for j in range(n) if order[j] == max(order))
        return (hi, lo) if fav == 1 else (lo, hi)
    if ref is None:
        return _first(range(n), est, max), _first(range(n), est, min)
    others = [j for j in range(n) if j != ref]
    if fav == 1:
        return ref, _first(others, est, min)  # y1 = reference, y2 = lowest other subgroup
    return _first(others, est, max), ref  # y1 = highest other subgroup, y2 = reference


def ref_d(est, se, fav, ordered, order, ref):
    i1, i2 = ref_pair(est, fav, ordered, order, ref)
    d = est[i1] - est[i2]
    s = math.sqrt(se[i1] ** 2 + se[i2] ** 2)
    return d, s, d - Z * s, d + Z * s


def ref_r(est, se, fav, ordered, order, ref):
    i1, i2 = ref_pair(est, fav, ordered, order, ref)
    r = est[i1] / est[i2]
    r_se = math.sqrt((1 / est[i2] ** 2) * (se[i1] ** 2 + r**2 * se[i2] ** 2))
    lse = r_se / r
    return r, lse, math.exp(math.log(r) - Z * lse), math.exp(math.log(r) + Z * lse)


def _populated(est, se, pop, order):
    keep = [j for j in range(len(est)) if pop[j] > 0]
    return ([est[j] for j in keep], [se[j] for j in keep], [pop[j] for j in keep],
            None if order is None else [order[j] for j in keep])


def _shares(pop):
    tot = sum(pop)
    return [p / tot for p in pop]


def _ranks(pop_sorted):
    tot, cum, out = sum(pop_sorted), 0.0, []
    for p in pop_sorted:
        out.append((cum + 0.5 * p) / tot)
        cum += p
    return out


def ref_aci_rci(est, pop, order):
    idx = sorted(range(len(est)), key=lambda j: order[j])
    y = [est[j] for j in idx]
    p = _shares([pop[j] for j in idx])
    x = _ranks([pop[j] for j in idx])
    aci = sum(p[k] * y[k] * (2 * x[k] - 1) for k in range(len(y)))
    mu = sum(p[k] * y[k] for k in range(len(y)))
    return aci, aci / mu


def ref_sii_rii(est, pop, order):
    """healthequal sii.R/rii.R: scale from the largest estimate; counts round(est/scale*ceil(pop)) out of
    ceil(pop); binomial GLM with logit link, prior weights pop (R multiplies by the trials: pop^2)."""
    import statsmodels.api as sm

    top = max(est)
    scale = next((lim for lim in (1, 100, 1000, 10_000, 100_000) if top <= lim), 1_000_000)
    idx = sorted(range(len(est)), key=lambda j: order[j])
    w = [math.ceil(pop[j]) for j in idx]
    y = [round(est[j] / scale * math.ceil(pop[j])) / math.ceil(pop[j]) for j in idx]
    x = _ranks(w)
    X = np.column_stack([np.ones(len(x)), x])
    fit = sm.GLM(np.array(y), X, family=sm.families.Binomial(), var_weights=np.array(w, float) ** 2).fit(tol=1e-14)
    b0, b1 = fit.params
    m1, m0 = 1 / (1 + math.exp(-(b0 + b1))), 1 / (1 + math.exp(-b0))
    return (m1 - m0) * scale, m1 / m0


def ref_impact(est, pop, fav, ordered, order, scale):
    """paf.R / parisk.R: reference = highest order (ordered) or best estimate (non-ordered); zeroing rule;
    Walter (1978) SE."""
    n = len(est)
    if ordered:
        k = next(j for j in range(n) if order[j] == max(order))
    else:
        k = _first(range(n), est, max if fav == 1 else min)
    wm = sum(p * e for p, e in zip(_shares(pop), est))
    ref_est = est[k]
    zero = (ref_est - wm < 0 and fav == 1) or (ref_est - wm > 0 and fav == 0)
    paf = 0.0 if zero else 100 * (ref_est - wm) / wm
    par = 0.0 if zero else ref_est - wm
    c = ref_est / scale * pop[k]
    d = pop[k] - c
    a = wm / scale * sum(pop) - c
    b = sum(pop) - a - pop[k]
    N = a + b + c + d
    paf_se = math.sqrt((c * N * (a * d * (N - c) + b * c**2)) / ((a + c) ** 3 * (c + d) ** 3))
    paf_full = 100 * (ref_est - wm) / wm
    q = 1.959963984540054
    par_se = abs(wm * ((paf_full + q * paf_se) - (paf_full - q * paf_se))) / (2 * q)
    return {"paf": (paf, paf_se), "par": (par, par_se)}


def ref_nonordered(est, se, pop, fav, ref):
    """bgv.R ... mld.R point estimates (and the analytic SEs of BGV, TI and MLD)."""
    n = len(est)
    out = {}
    # unweighted measures: every subgroup, whatever its population
    best = max(est) if fav == 1 else min(est)
    out["mdbu"] = sum(abs(e - best) for e in est) / n
    wm_all = sum(p * e for p, e in zip(_shares(pop), est))
    out["mdmu"] = sum(abs(e - wm_all) for e in est) / n
    out["idisu"] = (100 / n) * sum(abs(e - wm_all) for e in est) / wm_all
    if ref is not None:
        out["mdru"] = sum(abs(e - est[ref]) for e in est) / n
        ps = _shares(pop)
        out["mdrw"] = sum(p * abs(e - est[ref]) for p, e in zip(ps, est))
    # population-weighted: subgroups of population 0 drop out
    e2, s2, p2, _ = _populated(est, se, pop, None)
    if len(e2) <= 2:
        return out
    ps = _shares(p2)
    wm = sum(p * e for p, e in zip(ps, e2))
    bgv = sum(p * (e - wm) ** 2 for p, e in zip(ps, e2))
    a = sum(p**2 * s**2 * (e - wm) ** 2 for p, s, e in zip(ps, s2, e2))
    b = sum(p**2 * s**2 for p, s in zip(ps, s2))
    c = sum(p**4 * s**4 for p, s in zip(ps, s2))
    d = sum(p**2 * (1 - p) ** 2 * s**4 for p, s in zip(ps, s2))
    out["bgv"] = (bgv, math.sqrt(4 * a + 2 * (b**2 - c + d)))
    out["bgsd"] = math.sqrt(bgv)
    out["cov"] = math.sqrt(bgv) / wm * 100
    bestw = max(e2) if fav == 1 else min(e2)
    out["mdbw"] = sum(p * abs(e - bestw) for p, e in zip(ps, e2))
    out["mdmw"] = sum(p * abs(e - wm) for p, e in zip(ps, e2))
    out["idisw"] = 100 * sum(p * abs(e - wm) for p, e in zip(ps, e2)) / wm
    nz = [e if e != 0 else 0.000001 for e in e2]
    wmn = sum(p * e for p, e in zip(ps, nz))
    rj = [e / wmn for e in nz]
    ti = sum(p * r * math.log(r) for p, r in zip(ps, rj)) * 1000
    prep = sum(r * (1 + math.log(r)) * p for r, p in zip(rj, ps))
    ti_se = math.sqrt(sum((1 + math.log(r) - prep) ** 2 * (p**2 * s**2 / wmn**2) for r, p, s in zip(rj, ps, s2)))
    mld = sum(p * -math.log(r) for p, r in zip(ps, rj)) * 1000
    mld_se = math.sqrt(sum((s**2 * p**2) / wmn**2 * (1 - 1 / r) ** 2 for s, p, r in zip(s2, ps, rj)))
    out["ti"] = (ti, ti_se)
    out["mld"] = (mld, mld_se)
    return out


def expected(est, se, pop, fav, ordered, order, ref, scale=100.0):
    """{measure: (estimate, se or None)} for the measures that apply, as healthequal computes them."""
    out = {"d": ref_d(est, se, fav, ordered, order, ref)[:2], "r": ref_r(est, se, fav, ordered, order, ref)[:2]}
    e2, s2, p2, o2 = _populated(est, se, pop, order)
    if not ordered and len(est) > 2:
        for k, v in ref_nonordered(est, se, pop, fav, ref).items():
            if k in POP_WEIGHTED and len(e2) <= 2:
                continue
            out[k] = v if isinstance(v, tuple) else (v, None)
    if len(e2) <= 2:
        return out
    imp = ref_impact(e2, p2, fav, ordered, o2, scale)
    out["paf"], out["par"] = imp["paf"], imp["par"]
    if ordered:
        aci, rci = ref_aci_rci(e2, p2, o2)
        out["aci"], out["rci"] = (aci, None), (rci, None)
        if len(set(e2)) > 1:
            sii, rii = ref_sii_rii(e2, p2, o2)
            out["sii"], out["rii"] = (sii, None), (rii, None)
    return out


# --------------------------------------------------------------------------- equicare through heat_summary
def _frame(est, se, pop, fav, ordered, order, ref):
    n = len(est)
    return pd.DataFrame({
        "setting": "S", "date": "2020", "source": "DHS", "indicator_abbr": "x", "indicator_name": "x",
        "dimension": "dim", "subgroup": [f"g{j}" for j in range(n)], "estimate": est, "se": se, "population": pop,
        "favourable_indicator": fav, "indicator_scale": 100, "ordered_dimension": int(ordered),
        "subgroup_order": order if ordered else np.nan,
        "reference_subgroup": [int(ref is not None and j == ref) for j in range(n)]})


def _summary(est, se, pop, fav, ordered, order, ref):
    out = H.heat_summary(_frame(est, se, pop, fav, ordered, order, ref), n_sim=5)
    return {r.measure: r for r in out.itertuples()}


def _applies(m, n, n_pop, ordered, has_ref):
    if m in ("d", "r"):
        return n >= 2
    if (ordered and m in NONORDERED_ONLY) or (not ordered and m in ORDERED_ONLY):
        return False
    if m in ("mdru", "mdrw") and not has_ref:
        return False
    return (n_pop if m in POP_WEIGHTED | {"par", "paf"} else n) > 2


def _check(est, se, pop, fav, ordered, order, ref):
    got = _summary(est, se, pop, fav, ordered, order, ref)
    want = expected(est, se, pop, fav, ordered, order, ref)
    n_pop = sum(p > 0 for p in pop)
    for m in MEASURES:
        row = got[m]
        if m in want and _applies(m, len(est), n_pop, ordered, ref is not None):
            w_est, w_se = want[m]
            assert row.note == "", (m, row.note)
            assert row.estimate == pytest.approx(w_est, rel=1e-9, abs=1e-9), m
            if w_se is not None:
                assert row.se == pytest.approx(w_se, rel=1e-9, abs=1e-12), m
        else:
            assert np.isnan(row.estimate) and row.note != "", (m, row.estimate, row.note)
        # never an interval beside an empty estimate, never infinity
        if np.isnan(row.estimate):
            assert np.isnan(row.lowerci) and np.isnan(row.upperci)
        assert not np.isinf([row.estimate, row.se, row.lowerci, row.upperci]).any()


# --------------------------------------------------------------------------- the example
def test_reference_subgroup_compared_with_most_extreme_other_subgroup():
    """Skilled birth attendance (favourable): Capital (reference) 40 (se 2), North 60 (se 3), South 70
    (se 3): healthequal 1.0.1 gives D = 40 - 60 = -20 with se 3.606 and R = 0.667."""
    est, se = [40.0, 60.0, 70.0], [2.0, 3.0, 3.0]
    d = H.difference(est, se, 1, False, None, [1, 0, 0])
    assert d.estimate == pytest.approx(-20.0)
    assert d.se == pytest.approx(3.606, abs=5e-4)
    assert d.lowerci == pytest.approx(-20 - Z * math.sqrt(13))
    r = H.ratio(est, se, 1, False, None, [1, 0, 0])
    assert r.estimate == pytest.approx(0.667, abs=5e-4)
    # adverse: the highest other subgroup over the reference: 70 - 40 = 30, 70 / 40
    assert H.difference(est, se, 0, False, None, [1, 0, 0]).estimate == pytest.approx(30.0)
    assert H.ratio(est, se, 0, False, None, [1, 0, 0]).estimate == pytest.approx(1.75)
    # and through the HEAT table
    got = _summary(est, se, [100.0, 200.0, 300.0], 1, False, None, 0)
    assert got["d"].estimate == pytest.approx(-20.0) and got["d"].se == pytest.approx(math.sqrt(13))
    assert got["r"].estimate == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- every measure x direction x dimension
DATASETS = {
    # the reference (index 0) is the lowest: favourable compares it with the lowest *other* subgroup
    "reference lowest": ([40.0, 60.0, 70.0, 55.0], [2.0, 3.0, 3.0, 2.5], [100.0, 200.0, 300.0, 150.0],
                         [3, 1, 4, 2], 0),
    # the reference is the highest
    "reference highest": ([80.0, 60.0, 70.0, 65.0, 50.0], [1.0, 2.0, 1.5, 2.0, 3.0],
                          [500.0, 300.0, 200.0, 400.0, 100.0], [5, 2, 4, 3, 1], 0),
    # the reference in the middle; ties among the other subgroups
    "reference middle, ties": ([30.0, 45.0, 30.0, 60.0, 60.0], [2.0, 2.0, 2.0, 3.0, 3.0],
                               [250.0, 250.0, 100.0, 300.0, 100.0], [1, 3, 2, 5, 4], 1),
    # a subgroup of population 0 (it drops out of the population-weighted measures only)
    "empty subgroup": ([20.0, 30.0, 40.0, 50.0, 60.0], [1.0, 1.5, 2.0, 2.5, 3.0], [0.0, 300.0, 300.0, 300.0, 300.0],
                       [1, 2, 3, 4, 5], 4),
    # healthequal's own test data (tests/testthat: est 20..60, pop 78 91 162 103 105)
    "healthequal test data": ([20.0, 30.0, 40.0, 50.0, 60.0], [5.0, 7.0, 10.0, 12.0, 14.0],
                              [78.0, 91.0, 162.0, 103.0, 105.0], [1, 2, 3, 4, 5], 2),
}
CASES = [(name, fav, ordered, with_ref) for name in DATASETS for fav in (1, 0) for ordered in (True, False)
         for with_ref in (True, False)]


@pytest.mark.parametrize("name, fav, ordered, with_ref", CASES,
                         ids=[f"{n}-{'fav' if f else 'adv'}-{'ord' if o else 'nonord'}-{'ref' if r else 'noref'}"
                              for n, f, o, r in CASES])
def test_every_measure_matches_healthequal(name, fav, ordered, with_ref):
    est, se, pop, order, ref = DATASETS[name]
    _check(est, se, pop, fav, ordered, order, ref if with_ref else None)


def test_hand_worked_direction_table():
    """D and R worked by hand for one dataset (values 10, 30, 20, 25; order 2, 4, 1, 3; reference 20)."""
    est, se, order = [10.0, 30.0, 20.0, 25.0], [1.0, 1.0, 1.0, 1.0], [2, 4, 1, 3]
    table = [  # fav, ordered, reference index, D, R
        (1, True, None, 30 - 20, 30 / 20),     # most advantaged (order 4: 30) - most disadvantaged (order 1: 20)
        (0, True, None, 20 - 30, 20 / 30),     # adverse: disadvantaged - advantaged
        (1, True, 2, 30 - 20, 30 / 20),        # ordered: the reference column plays no part
        (1, False, None, 30 - 10, 30 / 10),    # non-ordered: highest - lowest, either direction
        (0, False, None, 30 - 10, 30 / 10),
        (1, False, 2, 20 - 10, 20 / 10),       # favourable: reference - lowest other
        (0, False, 2, 30 - 20, 30 / 20),       # adverse: highest other - reference
        (1, False, 1, 30 - 10, 30 / 10),       # reference is the highest: vs lowest other
        (0, False, 1, 25 - 30, 25 / 30),       # reference is the highest, adverse: highest *other* (25) - ref
        (1, False, 0, 10 - 20, 10 / 20),       # reference is the lowest: vs lowest *other* (20)
        (0, False, 0, 30 - 10, 30 / 10),
    ]
    for fav, ordered, ref, d, r in table:
        refs = None if ref is None else [int(j == ref) for j in range(4)]
        o = order if ordered else None
        assert H.difference(est, se, fav, ordered, o, refs).estimate == pytest.approx(d), (fav, ordered, ref)
        assert H.ratio(est, se, fav, ordered, o, refs).estimate == pytest.approx(r), (fav, ordered, ref)
    # PAF/PAR: ordered -> highest order (30) whatever the direction; non-ordered -> best estimate
    pop = [100.0, 100.0, 100.0, 100.0]  # mean 21.25
    assert H.par(est, pop, 1, True, order).estimate == pytest.approx(30 - 21.25)
    assert H.par(est, pop, 0, True, order).estimate == 0.0  # adverse and above the mean: no improvement
    assert H.par(est, pop, 0, False).estimate == pytest.approx(10 - 21.25)
    assert H.paf(est, pop, 1, False).estimate == pytest.approx(100 * (30 - 21.25) / 21.25)


@st.composite
def _heat_case(draw):
    n = draw(st.integers(3, 7))
    est = draw(st.lists(st.integers(50, 950).map(lambda v: v / 10), min_size=n, max_size=n))
    se = draw(st.lists(st.integers(1, 50).map(lambda v: v / 10), min_size=n, max_size=n))
    pop = draw(st.lists(st.sampled_from([0.0, 120.0, 300.0, 777.0, 1000.0]), min_size=n, max_size=n))
    if sum(p > 0 for p in pop) == 0:
        pop[0] = 100.0
    order = draw(st.permutations(list(range(1, n + 1))))
    fav = draw(st.sampled_from([0, 1]))
    ordered = draw(st.booleans())
    ref = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    return est, se, pop, fav, ordered, list(order), ref


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_heat_case())
def test_random_heat_tables_match_healthequal_formulas(case):
    est, se, pop, fav, ordered, order, ref = case
    _check(est, se, pop, fav, ordered, order, ref)


def test_adding_empty_subgroups_changes_no_weighted_measure():
    """A subgroup of population 0 changes no population-weighted measure (estimates, SEs and intervals)."""
    est, se, pop, order = [30.0, 45.0, 52.0, 60.0, 71.0], [2.0, 2.0, 3.0, 3.0, 2.5], [250.0, 250.0, 100.0, 300.0,
                                                                                      100.0], [1, 2, 3, 4, 5]
    ordered_base = _summary(est, se, pop, 1, True, order, None)
    ordered_more = _summary(est + [95.0], se + [1.0], pop + [0.0], 1, True, order + [6], None)
    for m in ("aci", "rci", "sii", "rii", "paf", "par"):
        a, b = ordered_base[m], ordered_more[m]
        assert (a.estimate, a.se, a.lowerci, a.upperci) == pytest.approx((b.estimate, b.se, b.lowerci, b.upperci),
                                                                         rel=1e-12, nan_ok=True), m
    base = _summary(est, se, pop, 1, False, None, 2)
    more = _summary(est + [99.0, 0.0], se + [1.0, 1.0], pop + [0.0, 0.0], 1, False, None, 2)
    for m in POP_WEIGHTED - ORDERED_ONLY:
        a, b = base[m], more[m]
        assert (a.estimate, a.se, a.lowerci, a.upperci) == pytest.approx((b.estimate, b.se, b.lowerci, b.upperci),
                                                                         rel=1e-12, nan_ok=True), m


def test_sii_rii_with_an_empty_quintile():
    """Wealth quintiles Q1..Q5 at 20, 30, 40, 50, 60 with populations 0, 300, 300, 300, 300: the empty
    quintile has zero width and drops out: SII 38.98, RII 2.496 (as Q2..Q5 alone)."""
    est, pop, order = [20.0, 30.0, 40.0, 50.0, 60.0], [0.0, 300.0, 300.0, 300.0, 300.0], [1, 2, 3, 4, 5]
    s, r = H.sii(est, order, pop), H.rii(est, order, pop)
    assert s.estimate == pytest.approx(38.98, abs=5e-3)
    assert r.estimate == pytest.approx(2.496, abs=5e-4)
    assert s.estimate == pytest.approx(H.sii(est[1:], order[1:], pop[1:]).estimate, rel=1e-12)
    assert np.isfinite([s.se, s.lowerci, s.upperci, r.se, r.lowerci, r.upperci]).all()
    want_sii, want_rii = ref_sii_rii(est[1:], pop[1:], order[1:])
    assert s.estimate == pytest.approx(want_sii, rel=1e-8) and r.estimate == pytest.approx(want_rii, rel=1e-8)
    got = _summary(est, [1.0] * 5, pop, 1, True, order, None)
    assert got["sii"].note == "" and got["sii"].estimate == pytest.approx(38.98, abs=5e-3)
    assert got["rii"].note == "" and got["rii"].estimate == pytest.approx(2.496, abs=5e-4)


def test_undefined_measures_get_a_note_not_an_empty_cell_beside_an_interval():
    # two quintiles with people: SII/RII/ACI need three
    got = _summary([20.0, 30.0, 40.0, 50.0], [1.0] * 4, [0.0, 0.0, 300.0, 300.0], 1, True, [1, 2, 3, 4], None)
    for m in ("sii", "rii", "aci", "rci", "paf", "par"):
        assert np.isnan(got[m].estimate) and "more than two subgroups" in got[m].note, m
    # estimates above the indicator scale: SII/RII cannot be fitted as proportions
    with pytest.raises(EquicareError, match="exceeds the indicator scale"):
        H.sii([20.0, 130.0, 40.0], [1, 2, 3], [1.0, 1.0, 1.0], scaleval=[100] * 3)
    # a ratio over 0
    got = _summary([0.0, 30.0, 40.0], [1.0] * 3, [1.0, 1.0, 1.0], 1, False, None, None)
    assert np.isnan(got["r"].estimate) and "denominator" in got["r"].note
    assert np.isnan(got["r"].lowerci) and np.isnan(got["r"].upperci)
    # every estimate 0: COV, IDIS and PAF have no mean to divide by
    got = _summary([0.0, 0.0, 0.0], [1.0] * 3, [1.0, 2.0, 3.0], 1, False, None, None)
    for m in ("cov", "idisw", "idisu", "paf"):
        assert np.isnan(got[m].estimate) and "0" in got[m].note, m


def test_equal_estimates_give_exact_zeros():
    est, pop = [37.3] * 5, [101.0, 37.0, 999.0, 3.0, 12.0]
    for fn in (H.theil_index, H.mld, H.bgv):
        assert fn(est, pop).estimate == 0.0
    assert H.bgsd(est, pop).estimate == 0.0 and H.cov(est, pop).estimate == 0.0
    assert H.aci(est, [1, 2, 3, 4, 5], pop).estimate == 0.0
    assert H.rci(est, [1, 2, 3, 4, 5], pop).estimate == 0.0


@pytest.mark.parametrize("kwargs, message", [
    ({"conf_level": 1.5}, "conf_level must be between 0 and 1"),
    ({"conf_level": 0}, "conf_level must be between 0 and 1"),
    ({"n_sim": 0}, "n_sim must be a whole number >= 1"),
])
def test_heat_summary_parameters_are_checked(kwargs, message):
    with pytest.raises(EquicareError, match=message):
        H.heat_summary(_frame([1.0, 2.0, 3.0], [1.0] * 3, [1.0] * 3, 1, False, None, None), **kwargs)


def test_defaults_the_reader_applies_are_said(run_cli, tmp_path):
    """A HEAT table without favourable_indicator / ordered_dimension is read as favourable and non-ordered,
    and the output says so (attrs["notes"], and 'note:' lines from the command)."""
    head = "setting,date,indicator_abbr,dimension,subgroup,estimate,se,population\n"
    rows = "".join(f"X,2020,sba,Region,{g},{e},1,100\n" for g, e in (("a", 40), ("b", 60), ("c", 70)))
    (tmp_path / "h.csv").write_text(head + rows)
    out = H.heat_summary(tmp_path / "h.csv", n_sim=5)
    assert out.attrs["notes"] == ["favourable_indicator is missing in 3 of 3 rows: taken as 1 (higher is better)",
                                  "ordered_dimension is missing in 3 of 3 rows: taken as 0 (non-ordered dimension)"]
    code, _, err = run_cli("inequality", "--data", tmp_path / "h.csv", "--n-sim", 5, "--out", tmp_path / "o.csv")
    assert code == 0 and "note: favourable_indicator is missing in 3 of 3 rows: taken as 1" in err
    full = _frame([40.0, 60.0, 70.0], [1.0] * 3, [100.0] * 3, 0, False, None, None)
    assert H.heat_summary(full, n_sim=5).attrs["notes"] == []
    ordered_ref = _frame([40.0, 60.0, 70.0], [1.0] * 3, [100.0] * 3, 0, True, [1, 2, 3], 1)
    assert H.heat_summary(ordered_ref, n_sim=5).attrs["notes"] == [
        "x / dim: reference_subgroup is not used in an ordered dimension (D and R compare its ends, as in healthequal)"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_heat_case(), st.lists(st.integers(0, 1000).map(lambda v: v / 10), min_size=1, max_size=3))
def test_random_empty_subgroups_change_no_weighted_measure(case, extra):
    """Property: appending subgroups of population 0 (any estimate) leaves every population-weighted
    measure, its SE and its interval exactly as they were."""
    est, se, pop, fav, ordered, order, ref = case
    k = len(extra)
    a = _summary(est, se, pop, fav, ordered, order, ref)
    b = _summary(est + extra, se + [1.0] * k, pop + [0.0] * k, fav, ordered,
                 order + list(range(len(est) + 1, len(est) + k + 1)), ref)
    for m in POP_WEIGHTED | ({"par", "paf"} if sum(p > 0 for p in pop) > 2 else set()):
        x, y = a[m], b[m]
        assert (x.estimate, x.se, x.lowerci, x.upperci) == pytest.approx((y.estimate, y.se, y.lowerci, y.upperci),
                                                                         rel=1e-9, abs=1e-12, nan_ok=True), m
        assert (x.note == "") == (y.note == ""), (m, x.note, y.note)


def test_mdrw_with_a_reference_of_population_zero_and_two_populated_subgroups():
    # found by the property test above: estimates [5, 5, 5], populations [120, 0, 120], reference = the
    # subgroup of population 0: only two subgroups are weighted, so MDRW does not apply (a note, no value)
    _check([5.0, 5.0, 5.0], [0.1, 0.1, 0.1], [120.0, 0.0, 120.0], 0, False, None, 1)
