"""Variants of the kinds of fault of issue 11 that the issue itself did not show (a reviewer's second pass):
other models, columns, commands and file formats, each checked against a hand computation, brute force or
healthequal 1.0.1's formulas."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from equicare.analyze import inequality as ineq
from equicare.analyze.heat import aci, difference, heat_summary, ratio, rci
from equicare.errors import EquicareError, ValidationError
from equicare.forecast import QUANTILES, load_forecasts, score
from equicare.forecast.hub import quantile_table
from equicare.forecast.series import forecast_counts, load_counts

LV = np.asarray(QUANTILES)
REF = pd.Timestamp("2024-01-13")


# ------------------------------------------------------------------------------------------ location (items 1, 2)
def _locate_files(tmp_path):
    (tmp_path / "c.csv").write_text("origin,destination,cost\nA,S1,10\nB,S1,50\nB,S2,1\nC,S2,1\nC,S3,5\n")
    (tmp_path / "d.csv").write_text("id,demand\nA,1\nB,100\nC,100\n")
    (tmp_path / "d4.csv").write_text("id,demand\nA,1\nB,100\nC,100\nD,5\n")
    return tmp_path / "c.csv", tmp_path / "d.csv", tmp_path / "d4.csv"


def _brute(C: np.ndarray, p: int, forced=()):
    return [list(s) for s in combinations(range(C.shape[1]), p) if set(forced) <= set(s)]


def test_pcenter_sparse_with_a_forced_site_matches_brute_force(tmp_path, run_cli):
    c, d, _ = _locate_files(tmp_path)
    C = np.array([[10, np.inf, np.inf], [50, 1, np.inf], [np.inf, 1, 5]])
    best = min(C[:, s].min(axis=1).max() for s in _brute(C, 2, forced=[2]))
    code, _, err = run_cli("locate", "--cost", c, "--demand", d, "--model", "pcenter", "--p", 2, "--open", "S3",
                           "--out", tmp_path / "o.json")
    assert code == 0, err
    r = json.loads((tmp_path / "o.json").read_text())
    assert r["objective"] == best == 50 and sorted(r["selected_sites"]) == ["S1", "S3"]


def test_mclp_counts_a_point_missing_from_the_cost_table_as_uncovered(tmp_path, run_cli):
    c, _, d4 = _locate_files(tmp_path)
    code, _, err = run_cli("locate", "--cost", c, "--demand", d4, "--model", "mclp", "--p", 1,
                           "--service-radius", 5, "--out", tmp_path / "o.json")
    assert code == 0, err
    r = json.loads((tmp_path / "o.json").read_text())
    assert r["objective"] == 200 and r["assignment"]["D"] is None
    assert r["details"]["covered_share"] == pytest.approx(200 / 206)


@pytest.mark.parametrize("model,extra", [("pmedian", ["--p", "2"]), ("pcenter", ["--p", "2"]),
                                         ("mclp", ["--p", "1", "--service-radius", "5"]),
                                         ("lscp", ["--service-radius", "100"])])
@pytest.mark.parametrize("limit", ["-1", "0", "nan", "inf"])
def test_every_model_refuses_a_bad_time_limit(tmp_path, run_cli, model, extra, limit):
    c, d, _ = _locate_files(tmp_path)
    code, _, err = run_cli("locate", "--cost", c, "--demand", d, "--model", model, *extra, "--time-limit", limit,
                           "--out", tmp_path / "o.json")
    assert code == 2 and "--time-limit must be a positive number of seconds" in err and "Traceback" not in err
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("model,extra", [("mclp", ["--p", "1"]), ("lscp", [])])
@pytest.mark.parametrize("radius", ["inf", "nan", "-1"])
def test_coverage_models_refuse_a_non_finite_radius(tmp_path, run_cli, model, extra, radius):
    """An infinite radius would write ``Infinity`` into the JSON output."""
    c, d, _ = _locate_files(tmp_path)
    code, _, err = run_cli("locate", "--cost", c, "--demand", d, "--model", model, *extra,
                           "--service-radius", radius, "--out", tmp_path / "o.json")
    assert code == 2 and "--service-radius (a finite non-negative cost)" in err
    assert not (tmp_path / "o.json").exists()


# ------------------------------------------------------------------------------------ HEAT (items 3, 5, 6)
@pytest.mark.parametrize("fav,est,ref,d,r,other", [
    # adverse, reference lowest: D = max(others) - ref = 70 - 40, R = 70 / 40
    (0, [40, 60, 70], [1, 0, 0], 30.0, 1.75, 2),
    # favourable, reference highest: D = ref - min(others) = 80 - 60
    (1, [80, 60, 70], [1, 0, 0], 20.0, 80 / 60, 1),
    # adverse, reference highest: D = max(others) - ref = 70 - 90 (< 0: the reference is worse)
    (0, [90, 60, 70], [1, 0, 0], -20.0, 70 / 90, 2),
    # reference in the middle of the list
    (1, [60, 40, 70], [0, 1, 0], -20.0, 40 / 60, 0),
])
def test_difference_and_ratio_with_a_reference_subgroup(fav, est, ref, d, r, other):
    se = np.array([2.0, 3.0, 4.0])
    D = difference(est, se, favourable_indicator=fav, reference_subgroup=ref)
    R = ratio(est, se, favourable_indicator=fav, reference_subgroup=ref)
    assert D.estimate == pytest.approx(d) and R.estimate == pytest.approx(r)
    # healthequal's SE of D: sqrt(se1^2 + se2^2) of the two subgroups compared (one is the reference)
    assert D.se == pytest.approx(np.hypot(se[int(np.argmax(ref))], se[other]))


def test_concentration_index_of_an_exact_linear_gradient_has_se_zero():
    """Estimates linear in the rank with equal populations: the convenient regression fits exactly, so the SE
    is 0, not a round-off residue such as 3e-15."""
    est, order, pop = [20, 30, 40, 50], [1, 2, 3, 4], [300, 300, 300, 300]
    a = aci(est, order, pop)
    # hand: ACI = sum p_j y_j (2 X_j - 1), X = 1/8, 3/8, 5/8, 7/8
    X = np.array([1, 3, 5, 7]) / 8
    assert a.estimate == pytest.approx(np.sum(0.25 * np.array(est) * (2 * X - 1)))
    assert a.se == 0.0 and a.lowerci == a.upperci == pytest.approx(a.estimate)
    assert rci(est, order, pop).se == 0.0


def test_ordered_table_with_empty_top_quintile_through_the_summary(tmp_path):
    rows = [("Q1", 20, 300), ("Q2", 30, 300), ("Q3", 40, 300), ("Q4", 50, 300), ("Q5", 60, 0)]
    df = pd.DataFrame({"setting": "X", "date": 2020, "indicator_abbr": "S", "dimension": "wealth",
                       "subgroup": [r[0] for r in rows], "estimate": [r[1] for r in rows], "se": 2.0,
                       "population": [r[2] for r in rows], "favourable_indicator": 1, "indicator_scale": 100,
                       "ordered_dimension": 1, "subgroup_order": [1, 2, 3, 4, 5], "reference_subgroup": 0})
    out = heat_summary(df, n_sim=20).set_index("measure")
    without = heat_summary(df.iloc[:4], n_sim=20).set_index("measure")
    for m in ("aci", "rci", "sii", "rii"):
        assert out.loc[m, "estimate"] == pytest.approx(without.loc[m, "estimate"])
    # PAR: the most advantaged subgroup with people (Q4, 50) minus the population mean 35
    assert out.loc["par", "estimate"] == pytest.approx(15.0)
    assert out.loc["aci", "se"] == 0.0  # exact linear gradient


# -------------------------------------------------------------------------- region inequality (items 4, 6)
MEASURES = [("gini", ineq.gini), ("theil", ineq.theil), ("mld", ineq.mean_log_deviation),
            ("atk0.5", lambda x, w: ineq.atkinson(x, w, 0.5)), ("atk1", lambda x, w: ineq.atkinson(x, w, 1.0)),
            ("atk2", lambda x, w: ineq.atkinson(x, w, 2.0)), ("cov", ineq.coefficient_of_variation),
            ("q", ineq.quintile_ratio)]


@pytest.mark.parametrize("name,fn", MEASURES)
@pytest.mark.parametrize("extra", [1000.0, 1e-9, 0.5])
def test_a_zero_weight_row_with_any_value_changes_no_measure(name, fn, extra):
    x, w = np.array([0.5, 1.0, 2.0, 3.0]), np.array([100.0, 300.0, 100.0, 50.0])
    assert fn(np.r_[x, extra], np.r_[w, 0.0]) == pytest.approx(fn(x, w), rel=1e-12)
    assert fn(np.r_[extra, x], np.r_[0.0, w]) == pytest.approx(fn(x, w), rel=1e-12)


@pytest.mark.parametrize("value", [0.1, 3.3, 1e6])
@pytest.mark.parametrize("name,fn", MEASURES)
def test_equal_values_give_exact_equality(name, fn, value):
    got = fn(np.full(7, value), np.array([7, 13, 3, 1, 1, 2, 5.0]))
    assert got == (1.0 if name == "q" else 0.0)


@pytest.mark.parametrize("call,shown", [
    (lambda: ineq.atkinson([1, 2], None, -1.0), "(value: -1)"),
    (lambda: ineq.bootstrap_ci(ineq._gini_rows, [1, 2, 3], n_boot=0), "(value: 0)"),
])
def test_parameter_messages_print_plain_numbers(call, shown):
    with pytest.raises(EquicareError) as e:
        call()
    assert shown in str(e.value) and "np." not in str(e.value) and "-1.0" not in str(e.value)


# ------------------------------------------------------------------------------------------- access (item 7)
@pytest.fixture
def access_files(tmp_path):
    pd.DataFrame({"id": ["a", "b", "c"], "population": [100, 200, 50]}).to_csv(tmp_path / "D.csv", index=False)
    pd.DataFrame({"id": ["x", "y"], "capacity": [10, 5]}).to_csv(tmp_path / "S.csv", index=False)
    pd.DataFrame({"origin": list("aabbcc"), "destination": list("xyxyxy"),
                  "cost": [5, 20, 10, 10, 30, 5]}).to_csv(tmp_path / "C.csv", index=False)
    return tmp_path


@pytest.mark.parametrize("method", ["2sfca", "fca", "nearest"])
@pytest.mark.parametrize("value,shown", [("nan", "missing"), ("-1", "-1"), ("-0.5", "-0.5")])
def test_max_cost_out_of_range_is_a_range_error(access_files, run_cli, method, value, shown):
    f = access_files
    code, _, err = run_cli("access", "--demand", f / "D.csv", "--supply", f / "S.csv", "--cost", f / "C.csv",
                           "--method", method, "--max-cost", value)
    assert code == 2 and "max_cost (--max-cost) must be a number >= 0" in err and "no origin-destination" not in err


def test_two_step_fca_hand_worked(access_files, run_cli):
    f = access_files
    code, out, err = run_cli("access", "--demand", f / "D.csv", "--supply", f / "S.csv", "--cost", f / "C.csv",
                             "--method", "2sfca", "--max-cost", 12)
    assert code == 0, err
    got = pd.read_csv(pd.io.common.StringIO(out)).set_index("id")["2sfca_capacity"]
    # x reaches a, b (300 people): 10/300; y reaches b, c (250 people): 5/250
    np.testing.assert_allclose(got.loc[["a", "b", "c"]], [10 / 300, 10 / 300 + 5 / 250, 5 / 250])


def test_serve_refuses_a_port_out_of_range(run_cli):
    code, _, err = run_cli("serve", "--port", 70000)
    assert code == 2 and "--port" in err and "Traceback" not in err


# ----------------------------------------------------------------------------------- forecast files (item 10)
def _fc(locs=("01", "02"), hz=(0, 1, 2)) -> pd.DataFrame:
    return quantile_table(REF, list(locs), tuple(hz), np.tile(10 + 20 * (LV - 0.5), (len(locs), len(hz), 1)))


def _truth() -> pd.DataFrame:
    dates = pd.to_datetime(["2024-01-13", "2024-01-20", "2024-01-27"])
    return pd.DataFrame([{"date": d, "location": loc, "value": v} for d in dates for loc, v in (("01", 12.0),
                                                                                               ("02", 8.0))])


def test_decrease_in_a_shuffled_file_names_the_rows_of_the_file(tmp_path):
    df = _fc()
    i = df.index[(df.location == "02") & (df.horizon == 2) & np.isclose(df.output_type_id, 0.9)][0]
    df.loc[i, "value"] = 0.5
    df = df.sample(frac=1, random_state=1).reset_index(drop=True)
    df.to_csv(tmp_path / "f.csv", index=False)
    row_bad = int(df.index[df["value"] == 0.5][0]) + 2
    j = df.index[(df.location == "02") & (df.horizon == 2) & np.isclose(df.output_type_id, 0.85)][0]
    with pytest.raises(ValidationError) as e:
        load_forecasts(tmp_path / "f.csv")
    p = e.value.problems[0]
    assert (p.row, p.column) == (row_bad, "value")
    assert f"level 0.85 = 17 (row {int(j) + 2}) but level 0.9 = 0.5" in p.rule and "horizon 2" in p.rule


def test_an_identical_duplicate_row_is_refused(tmp_path):
    df = _fc()
    pd.concat([df, df.iloc[[30]]], ignore_index=True).to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(ValidationError, match=r"row 140, column 'output_type_id': a second row .* \(first at row 32\)"):
        load_forecasts(tmp_path / "f.csv")


@pytest.mark.parametrize("level", [0.42, 0.5001, 0.999])
def test_a_level_the_hub_does_not_ask_for_is_refused(tmp_path, level):
    df = _fc()
    df["output_type_id"] = df["output_type_id"].astype(object)
    df.loc[5, "output_type_id"] = level
    df.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(ValidationError) as e:
        load_forecasts(tmp_path / "f.csv")
    p = e.value.problems[0]
    assert (p.row, p.column) == (7, "output_type_id") and "not one of the hub's 23 quantile levels" in p.rule


def test_levels_written_with_trailing_zeros_are_the_hub_levels(tmp_path):
    df = _fc()
    df["output_type_id"] = df["output_type_id"].map(lambda v: f"{v:.4f}")
    df.to_csv(tmp_path / "f.csv", index=False)
    assert len(load_forecasts(tmp_path / "f.csv")) == len(df)


@pytest.mark.parametrize("col,value,shown", [("value", -1.0, "(value: -1)"), ("horizon", 1.5, "(value: 1.5)")])
def test_bad_numbers_in_forecast_files_print_as_numbers(tmp_path, col, value, shown):
    df = _fc()
    df[col] = df[col].astype(float)
    df.loc[0, col] = value
    df.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(ValidationError) as e:
        load_forecasts(tmp_path / "f.csv")
    assert f"f.csv, row 2, column '{col}'" in str(e.value) and shown in str(e.value)


@pytest.mark.parametrize("h", [5, -3])
def test_tasks_of_horizons_not_scored_are_said(tmp_path, run_cli, h):
    df = _fc()
    df.loc[df.horizon == 2, "horizon"] = h
    df.loc[df.horizon == h, "target_end_date"] = (REF + pd.Timedelta(weeks=h)).strftime("%Y-%m-%d")
    df.to_csv(tmp_path / "f.csv", index=False)
    r = score(_truth(), load_forecasts(tmp_path / "f.csv"))
    assert r["n_tasks"] == 4
    assert any(f"2 tasks of the forecasts left out: horizon {h} is not scored" in n for n in r["notes"])
    # hand WIS of the one forecast against 12 and 8
    q = 10 + 20 * (LV - 0.5)
    hand = np.mean([2 * np.mean((y - q) * (LV - (y < q))) for y in (12.0, 8.0)])
    assert r["wis"] == pytest.approx(hand)


def test_tasks_without_an_observed_week_are_said(tmp_path):
    truth = _truth()
    truth = truth[~((truth["location"] == "02") & (truth["date"] == "2024-01-27"))]
    r = score(truth, _fc())
    assert r["n_tasks"] == 5
    assert any("1 task of the forecasts left out: no observed value" in n and "02 week 2024-01-27" in n
               for n in r["notes"])


# ------------------------------------------------------------------------------------ reporting gaps (item 11)
def test_count_series_with_a_region_that_stopped_reporting(tmp_path, run_cli):
    rng = np.random.default_rng(3)
    dates = pd.date_range("2023-01-07", periods=60, freq="7D")
    gap = 8
    rows = [(r, d.strftime("%Y-%m-%d"), int(50 + 10 * np.sin(i / 5) + rng.integers(0, 5)))
            for r in ("R1", "R2") for i, d in enumerate(dates) if not (r == "R2" and i >= len(dates) - gap)]
    df = pd.DataFrame(rows, columns=["region", "date", "value"])
    s = load_counts(df, region="region", date="date", value="value", file="s.csv")
    f = forecast_counts(s, model="flat_baseline")
    assert f.attrs["steps_since_last_observation"] == {"R2": gap}

    def iv(t, loc, h, lo=0.025, hi=0.975):
        g = t[(t["location"] == loc) & (t["horizon"] == h)].set_index("output_type_id")["value"]
        return float(g[hi] - g[lo])

    assert iv(f, "R2", 0) > iv(f, "R1", 0)
    # reference: the same model at R2's own last week, gap + h steps ahead
    own = forecast_counts(load_counts(df[df.region == "R2"], region="region", date="date", value="value",
                                      file="s.csv"), model="flat_baseline", horizons=tuple(gap + h for h in range(4)))
    for h in range(4):
        np.testing.assert_allclose(f[(f.location == "R2") & (f.horizon == h)]["value"].to_numpy(),
                                   own[own.horizon == gap + h]["value"].to_numpy())
    df.to_csv(tmp_path / "s.csv", index=False)
    code, _, err = run_cli("forecast", "--series", tmp_path / "s.csv", "--model", "flat_baseline",
                           "--out", tmp_path / "f.csv")
    assert code == 0, err
    assert "note: region R2: last observed week" in err and f"{gap} weeks older" in err


# ---------------------------------------------------------------------------------- data files (items 12-14)
@pytest.mark.parametrize("text,rule", [
    ("id,demand\nA,1\nB\n", "row 3: row has 1 field but the header has 2"),
    ("id,demand\nA,1\nB,2,3\n", "row 3: row has 3 fields but the header has 2"),
    ("id,demand,Demand\nA,1,1\nB,2,2\n", "duplicate column name"),
])
def test_locate_reads_its_files_with_the_common_rules(tmp_path, run_cli, text, rule):
    (tmp_path / "c.csv").write_text("origin,destination,cost\nA,S1,1\nB,S1,2\n")
    (tmp_path / "d.csv").write_text(text)
    code, _, err = run_cli("locate", "--cost", tmp_path / "c.csv", "--demand", tmp_path / "d.csv",
                           "--model", "pmedian", "--p", 1, "--out", tmp_path / "o.json")
    assert code == 2 and rule in err


@pytest.mark.parametrize("ext", ["xlsx", "parquet"])
def test_cost_table_row_numbers_in_other_formats(tmp_path, run_cli, ext):
    c = pd.DataFrame({"origin": ["A", "B"], "destination": ["S1", "S1"], "cost": [1, -2]})
    path = tmp_path / f"c.{ext}"
    c.to_excel(path, index=False) if ext == "xlsx" else c.to_parquet(path, index=False)
    (tmp_path / "d.csv").write_text("id,demand\nA,1\nB,2\n")
    code, _, err = run_cli("locate", "--cost", path, "--demand", tmp_path / "d.csv", "--model", "pmedian",
                           "--p", 1, "--out", tmp_path / "o.json")
    assert code == 2 and f"c.{ext}, row 3, column 'cost': must be a non-negative number (value: -2)" in err


# a blank line in a CSV is skipped by the reader: rows after it keep their line number in the file (header = 1)
@pytest.mark.parametrize("name,text,args,want", [
    ("s.csv", "region,date,value\nR1,2024-01-06,5\n\nR1,2024-01-13,-3\n",
     ["forecast", "--series", "{f}", "--out", "{o}"], "s.csv, row 4, column 'value': negative count (value: -3)"),
    ("w.csv", "id,x,y\na,5,20\n\nb,-1,10\nc,30,5\n",
     ["access", "--demand", "{d}", "--supply", "{s}", "--cost", "{f}", "--method", "2sfca", "--max-cost", "12"],
     "w.csv, row 4, column 'x': cost must be a number >= 0 (value: -1)"),
    ("t.csv", "date,location,location_name,value\n2024-01-13,01,A,12\n\n2024-01-20,01,A,-3\n",
     ["score", "--forecasts", "{fc}", "--truth", "{f}"], "t.csv, row 4, column 'value': negative admissions count "
                                                         "(value: -3)"),
])
def test_row_numbers_after_a_blank_line_and_values_as_numbers(tmp_path, run_cli, name, text, args, want):
    (tmp_path / name).write_text(text)
    pd.DataFrame({"id": ["a", "b", "c"], "population": [100, 200, 50]}).to_csv(tmp_path / "D.csv", index=False)
    pd.DataFrame({"id": ["x", "y"], "capacity": [10, 5]}).to_csv(tmp_path / "S.csv", index=False)
    _fc().to_csv(tmp_path / "fc.csv", index=False)
    sub = {"{f}": tmp_path / name, "{o}": tmp_path / "o.csv", "{d}": tmp_path / "D.csv", "{s}": tmp_path / "S.csv",
           "{fc}": tmp_path / "fc.csv"}
    code, _, err = run_cli(*[sub.get(a, a) for a in args])
    assert code == 2 and want in err, err


# ------------------------------------------------------------------------------------- defaults said (item 9)
@pytest.mark.parametrize("args,said", [
    (["--method", "raam", "--tau", "10"], ["RAAM rho not given", "RAAM max_cycles not given: 150 iterations"]),
    (["--method", "raam", "--tau", "10", "--rho", "1", "--max-cycles", "100"], []),
    (["--method", "gravity", "--scale", "1", "--alpha", "-1"], ["gravity min_dist not given: 0"]),
    (["--method", "gravity", "--scale", "1", "--alpha", "-1", "--min-dist", "2"], []),
    (["--method", "nearest"], ["nearest without max_cost"]),
])
def test_defaults_used_by_access_methods_are_said(access_files, run_cli, args, said):
    f = access_files
    code, _, err = run_cli("access", "--demand", f / "D.csv", "--supply", f / "S.csv", "--cost", f / "C.csv",
                           *args, "--out", f / "o.csv")
    assert code == 0, err
    notes = [ln for ln in err.splitlines() if ln.startswith("note: ")]
    assert len(notes) == len(said) and all(any(s in n for n in notes) for s in said), err


@pytest.mark.parametrize("hz", [(), (-1, 0), (1, 1), (0.5,)])
def test_count_series_horizons_are_checked(hz):
    df = pd.DataFrame({"region": "R1", "date": pd.date_range("2024-01-06", periods=10, freq="7D").strftime("%Y-%m-%d"),
                       "value": [str(v) for v in range(10)]})
    s = load_counts(df, region="region", date="date", value="value", file="s.csv")
    with pytest.raises(EquicareError, match="horizons must be distinct whole numbers of steps >= 0"):
        forecast_counts(s, model="flat_baseline", horizons=hz)


def test_forecast_horizons_option_is_a_usage_error_below_1(run_cli, tmp_path):
    code, _, err = run_cli("forecast", "--series", tmp_path / "s.csv", "--out", tmp_path / "o.csv", "--horizons", 0)
    assert code == 2 and "--horizons" in err and "Traceback" not in err


def _heat(rows, fav=1, ordered=0, ref=None, se=2.0):
    return pd.DataFrame({"setting": "X", "date": 2020, "indicator_abbr": "S", "dimension": "d",
                         "subgroup": [f"g{i}" for i in range(len(rows))], "estimate": rows, "se": se,
                         "population": 100.0, "favourable_indicator": fav, "indicator_scale": 100,
                         "ordered_dimension": ordered, "subgroup_order": list(range(1, len(rows) + 1)),
                         "reference_subgroup": ref if ref is not None else 0})


@pytest.mark.parametrize("frame,measure,note", [
    # a reference subgroup with estimate 0: R = 0, whose log-scale interval does not exist
    (_heat([0, 60, 70], ref=[1, 0, 0]), "r", "R = 0"),
    # no standard errors: D and R without an interval, said
    (_heat([10, 60, 70], ordered=1, se=np.nan), "d", "standard errors (se) of some subgroups are missing"),
    (_heat([10, 60, 70], ordered=1, se=np.nan), "r", "standard errors (se) of some subgroups are missing"),
])
def test_a_computed_measure_without_an_interval_says_why(frame, measure, note):
    out = heat_summary(frame, n_sim=20).set_index("measure")
    row = out.loc[measure]
    assert np.isfinite(row["estimate"]) and np.isnan(row["lowerci"]) and note in row["note"]
    # every row: either an interval, or a note (never a silent empty cell)
    assert ((out["lowerci"].notna() & out["upperci"].notna()) | (out["note"] != "")).all()


@pytest.mark.parametrize("args", [["--method", "raam", "--tau", "10", "--rho", "1", "--max-cycles", "50"],
                                  ["--method", "nearest", "--max-cost", "50"]])
def test_an_origin_with_no_supply_in_reach_is_said(access_files, run_cli, args):
    f = access_files
    pd.DataFrame({"origin": ["a", "b", "b"], "destination": ["x", "x", "y"], "cost": [5, 10, 10]}).to_csv(
        f / "C2.csv", index=False)
    code, _, err = run_cli("access", "--demand", f / "D.csv", "--supply", f / "S.csv", "--cost", f / "C2.csv",
                           *args, "--out", f / "o.csv")
    assert code == 0, err
    out = pd.read_csv(f / "o.csv").set_index("id")
    assert out.iloc[:, 0].isna().tolist() == [False, False, True]
    assert "1 demand location with no supply in reach (or no demand) left empty: c" in err


def test_count_series_in_xlsx_refuses_duplicate_columns_and_numbers_rows_as_the_sheet(tmp_path, run_cli):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for r in (["region", "date", "value", "Value"], ["R1", "2024-01-06", 5, 6]):
        ws.append(r)
    wb.save(tmp_path / "d.xlsx")
    code, _, err = run_cli("forecast", "--series", tmp_path / "d.xlsx", "--out", tmp_path / "o.csv")
    assert code == 2 and "d.xlsx, row 1, column 'Value': duplicate column name" in err
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in (["region", "date", "value"], ["R1", "2024-01-06", 5], [None, None, None], ["R1", "2024-01-13", -3]):
        ws.append(r)
    wb.save(tmp_path / "e.xlsx")
    code, _, err = run_cli("forecast", "--series", tmp_path / "e.xlsx", "--out", tmp_path / "o.csv")
    assert code == 2 and "e.xlsx, row 4, column 'value': negative count (value: -3)" in err, err


@pytest.mark.parametrize("args", [
    ["load", "{nope}", "--kind", "costs", "--store", "{store}"],
    ["access", "--demand", "{nope}", "--supply", "{nope}", "--method", "nearest", "--max-km", "5"],
    ["locate", "--cost", "{nope}", "--demand", "{nope}", "--model", "pmedian", "--p", "1", "--out", "{o}"],
    ["inequality", "--regions", "{nope}", "--value", "a", "--unweighted"],
    ["forecast", "--series", "{nope}", "--out", "{o}"],
])
def test_a_missing_file_is_a_clear_error_for_every_reader(tmp_path, run_cli, args):
    sub = {"{nope}": tmp_path / "nope.csv", "{store}": tmp_path / "s.duckdb", "{o}": tmp_path / "o.json"}
    code, _, err = run_cli(*[sub.get(a, a) for a in args])
    assert code == 2 and "nope.csv: cannot read file" in err and "Traceback" not in err
