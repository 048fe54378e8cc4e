"""Real-time forecasts from vintages (issue 15): snapshots, the R - 3 deadline, the information rule, the nowcast
and integer quantiles, on hand-built vintage files."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from equicare.errors import EquicareError, ValidationError
from equicare.forecast import backtest, forecast
from equicare.forecast.vintages import Vintages, apply_nowcast, deadline, load_vintages, nowcast_factors

WEEKS = pd.date_range("2023-01-07", periods=40, freq="7D")  # Saturdays
LOCS = ("01", "02", "04")


def _final(week: int, loc: str) -> float:
    base = {"01": 40.0, "02": 10.0, "04": 70.0}[loc]
    return float(round(base * (1.5 + np.sin(week / 5.0))))


def _frame(first: float = 0.8, stop_02: int | None = None) -> pd.DataFrame:
    """A version every Wednesday (4 days after each Saturday): the week just ended is first published at
    ``first`` x its final value and revised to the final value one week later."""
    rows = []
    for k, sat in enumerate(WEEKS):
        wed = sat + pd.Timedelta(days=4)
        for loc in LOCS:
            if stop_02 is not None and loc == "02" and k >= stop_02:
                continue
            rows.append((wed, sat, loc, round(first * _final(k, loc))))
            if k > 0 and not (stop_02 is not None and loc == "02" and k - 1 >= stop_02):
                rows.append((wed, WEEKS[k - 1], loc, _final(k - 1, loc)))
    return pd.DataFrame(rows, columns=["as_of", "date", "location", "value"])


def _write(df: pd.DataFrame, path: Path) -> Path:
    out = df.copy()
    for c in ("as_of", "date"):
        out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False, compression="gzip" if path.suffix == ".gz" else None)
    return path


def test_snapshot_by_hand(tmp_path):
    p = tmp_path / "v.csv"
    p.write_text("as_of,date,location,value\n"
                 "2024-01-03,2023-12-30,01,10\n"
                 "2024-01-03,2023-12-30,2,5\n"          # zero-padded to 02
                 "2024-01-10,2023-12-30,01,12\n"        # revision
                 "2024-01-10,2024-01-06,01,20\n"
                 "2024-01-10,2024-01-06,01,21\n"        # a second version the same day: the later row wins
                 "2024-01-17,2023-12-30,02,\n")         # withdrawn
    v = load_vintages(p)
    s = v.snapshot("2024-01-09").set_index(["date", "location"])["value"]
    assert s.to_dict() == {(pd.Timestamp("2023-12-30"), "01"): 10.0, (pd.Timestamp("2023-12-30"), "02"): 5.0}
    s = v.snapshot("2024-01-10").set_index(["date", "location"])["value"]
    assert s[(pd.Timestamp("2023-12-30"), "01")] == 12.0 and s[(pd.Timestamp("2024-01-06"), "01")] == 21.0
    s = v.snapshot("2024-02-01")
    assert len(s) == 2 and "02" not in set(s["location"])
    with pytest.raises(Exception, match="no version published on or before 2024-01-02"):
        v.snapshot("2024-01-02")


@pytest.mark.parametrize("line,row,column,rule", [
    ("2024-01-3,2023-12-30,01,1", 2, "as_of", "YYYY-MM-DD"),
    ("2024-01-03,2023-12-29,01,1", 2, "date", "Saturday"),
    ("2024-01-03,2023-12-30,ABC,1", 2, "location", "FIPS"),
    ("2024-01-03,2023-12-30,01,-1", 2, "value", "negative"),
    ("2024-01-03,2023-12-30,01,x", 2, "value", "not a number"),
])
def test_bad_rows_are_named(tmp_path, line, row, column, rule):
    p = tmp_path / "v.csv"
    p.write_text("as_of,date,location,value\n" + line + "\n")
    with pytest.raises(ValidationError) as e:
        load_vintages(p)
    pr = e.value.problems[0]
    assert (pr.row, pr.column) == (row, column) and rule in pr.rule


def test_uses_the_version_of_the_wednesday_before(tmp_path):
    """R = 2023-08-05: the Wednesday 2023-08-02 version holds week 07-29 at 0.8 x final; under the strict
    Wednesday rule (late_days=0) a Thursday version (R - 2) with the final value must not be used, a Wednesday one
    (R - 3) must."""
    df = _frame()
    ref = pd.Timestamp("2023-08-05")
    v0 = Vintages(df[df["as_of"] <= ref - pd.Timedelta(days=3)])
    base = forecast(None, ref, model="flat_baseline", vintages=v0)
    late = pd.DataFrame({"as_of": [ref - pd.Timedelta(days=2)], "date": [pd.Timestamp("2023-07-29")],
                         "location": ["01"], "value": [999.0]})
    f_late = forecast(None, ref, model="flat_baseline", vintages=Vintages(pd.concat([df, late]), late_days=0))
    pd.testing.assert_frame_equal(base, f_late)
    ontime = late.assign(as_of=ref - pd.Timedelta(days=3))
    f_on = forecast(None, ref, model="flat_baseline", vintages=Vintages(pd.concat([df, ontime])))
    med = f_on[(f_on.location == "01") & (f_on.horizon == 0) & (f_on.output_type_id == 0.5)]["value"].iloc[0]
    assert med == 999.0  # flat baseline: the median is the last value


@functools.lru_cache(maxsize=None)
def _unchanged(ref_i: int, model: str, nowcast: bool) -> pd.DataFrame:
    return forecast(None, WEEKS[ref_i], model=model, vintages=Vintages(_frame()), nowcast=nowcast)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ref_i=st.integers(min_value=12, max_value=38), nowcast=st.booleans(),
       edits=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 39), st.sampled_from(LOCS),
                                st.one_of(st.none(), st.floats(0, 500))), min_size=1, max_size=8),
       drop_late=st.booleans())
@example(ref_i=20, nowcast=False, edits=[(0, 19, "01", 123.0)], drop_late=False)  # a late release of week R - 7
def test_information_rule_with_vintages(ref_i, nowcast, edits, drop_late):
    """Changing, adding or removing any vintage row published after R - 3 changes nothing for R under the strict
    rule (late_days=0); by default the same holds for every such row except a version of the week R - 7 published
    within a day of the deadline (a late release, which the default uses: tested below)."""
    df = _frame()
    ref = WEEKS[ref_i]
    cutoff = ref - pd.Timedelta(days=3)
    before = df[df["as_of"] <= cutoff]
    after = df[df["as_of"] > cutoff]
    if drop_late:
        after = after.iloc[::2]
    else:
        after = after.assign(value=after["value"] * 1.7 + 3)
    extra = pd.DataFrame([(cutoff + pd.Timedelta(days=1 + d), WEEKS[w], loc, np.nan if v is None else v)
                          for d, w, loc, v in edits], columns=["as_of", "date", "location", "value"])
    late = (extra["as_of"] <= cutoff + pd.Timedelta(days=1)) & (extra["date"] == ref - pd.Timedelta(days=7))
    for vint in (Vintages(pd.concat([before, after, extra], ignore_index=True), late_days=0),
                 Vintages(pd.concat([before, after, extra[~late]], ignore_index=True))):
        for model in ("flat_baseline", "pooled_ar"):
            a = _unchanged(ref_i, model, nowcast)
            b = forecast(None, ref, model=model, vintages=vint, nowcast=nowcast)
            pd.testing.assert_frame_equal(a, b)
            assert a.attrs["notes"] == b.attrs["notes"]


def test_a_row_published_on_the_deadline_counts():
    df = _frame()
    ref = WEEKS[20]
    a = forecast(None, ref, model="pooled_ar", vintages=Vintages(df))
    bump = pd.DataFrame({"as_of": [ref - pd.Timedelta(days=3)], "date": [WEEKS[19]], "location": ["04"],
                         "value": [5000.0]})
    b = forecast(None, ref, model="pooled_ar", vintages=Vintages(pd.concat([df, bump])))
    assert not a["value"].equals(b["value"])


def test_nowcast_factor_by_hand():
    """First releases are 0.8 x final and revised a week later: the lag-1 factor is 1 / 0.8 = 1.25 (sums of
    integers rounded, so checked against the exact ratio of the sums), lags 2 and 3 are already final (1)."""
    df = _frame(first=0.8)
    v = Vintages(df)
    cut = WEEKS[30] + pd.Timedelta(days=4)
    f = nowcast_factors(v, cut)
    num = den = 0.0
    for j in range(4, 12):
        k = 30 - j  # the latest week of the release j weeks before
        for loc in LOCS:
            num += _final(k, loc)
            den += round(0.8 * _final(k, loc))
    assert f[0] == pytest.approx(num / den) and f[1] == 1.0 and f[2] == 1.0
    snap = v.snapshot(cut)
    fixed = apply_nowcast(snap, f)
    latest = fixed[fixed["date"] == WEEKS[30]].set_index("location")["value"]
    raw = snap[snap["date"] == WEEKS[30]].set_index("location")["value"]
    np.testing.assert_allclose(latest.to_numpy(), raw.to_numpy() * f[0])
    older = fixed["date"] < WEEKS[29]
    np.testing.assert_array_equal(fixed.loc[older, "value"], snap.loc[older, "value"])


def test_stale_location_in_real_time_is_said():
    df = _frame(stop_02=30)
    ref = WEEKS[34]
    f = forecast(None, ref, model="flat_baseline", vintages=Vintages(df))
    assert f.attrs["weeks_since_last_observation"] == {"02": 4}
    assert any("location 02" in n for n in f.attrs["notes"])
    b = backtest(None, WEEKS[33], WEEKS[34], model="flat_baseline", vintages=Vintages(df))
    assert any(n.startswith(f"{ref.date()}: location 02") for n in b.attrs["notes"])


def test_integer_quantiles_are_whole_monotone_and_non_negative():
    df = _frame()
    v = Vintages(df)
    a = forecast(None, WEEKS[25], model="pooled_ar", vintages=v)
    b = forecast(None, WEEKS[25], model="pooled_ar", vintages=v, integer=True)
    x = b["value"].to_numpy()
    assert (x == np.round(x)).all() and (x >= 0).all()
    np.testing.assert_array_equal(x, np.floor(a["value"].to_numpy() + 0.5))
    q = b.sort_values(["location", "horizon", "output_type_id"])["value"].to_numpy().reshape(-1, 23)
    assert (np.diff(q, axis=1) >= 0).all()


def test_the_commands(tmp_path, run_cli):
    p = _write(_frame(stop_02=30), tmp_path / "v.csv.gz")
    ref = WEEKS[34].strftime("%Y-%m-%d")
    code, out, err = run_cli("forecast", "--vintages", p, "--reference-date", ref, "--out", tmp_path / "f.csv",
                             "--model", "flat_baseline", "--no-extras", "--integer", "--nowcast")
    assert code == 0, err
    assert "note: nowcast:" in err and "note: location 02" in err
    f = pd.read_csv(tmp_path / "f.csv")
    assert (f["value"] == f["value"].round()).all()
    code, out, err = run_cli("backtest", "--vintages", p, "--start", WEEKS[20].strftime("%Y-%m-%d"),
                             "--end", ref, "--out", tmp_path / "b.csv", "--model", "flat_baseline", "--no-extras")
    assert code == 0, err
    assert pd.read_csv(tmp_path / "b.csv")["reference_date"].nunique() == 15
    code, out, err = run_cli("forecast", "--vintages", p, "--truth", p, "--reference-date", ref,
                             "--out", tmp_path / "x.csv", "--no-extras")
    assert code == 2 and "not both" in err
    code, out, err = run_cli("forecast", "--nowcast", "--reference-date", ref, "--out", tmp_path / "x.csv")
    assert code == 2 and "--vintages" in err
    code, out, err = run_cli("forecast", "--vintages", p, "--reference-date", "2022-01-01",
                             "--out", tmp_path / "x.csv", "--no-extras")
    assert code == 2 and "no version published" in err


def test_deadline_days_moves_the_version_used(tmp_path):
    """deadline_days=2: a Thursday (R - 2) version counts, and the hand-set value is the flat baseline's median;
    with the strict Wednesday rule (3, no late releases) it does not count."""
    df = _frame()
    ref = pd.Timestamp("2023-08-05")
    late = pd.DataFrame({"as_of": [ref - pd.Timedelta(days=2)], "date": [pd.Timestamp("2023-07-29")],
                         "location": ["01"], "value": [999.0]})
    both = pd.concat([df, late])

    def med(v):
        f = forecast(None, ref, model="flat_baseline", vintages=v)
        return f[(f.location == "01") & (f.horizon == 0) & (f.output_type_id == 0.5)]["value"].iloc[0]

    assert med(Vintages(both, deadline_days=2)) == 999.0
    assert med(Vintages(both, late_days=0)) == round(0.8 * _final(29, "01"))
    assert Vintages(both, deadline_days=2).deadline(ref) == ref - pd.Timedelta(days=2)
    for bad in (-1, 7, 2.5, "x", None):
        with pytest.raises(EquicareError, match="whole number of days from 0 to 6"):
            Vintages(both, deadline_days=bad)


def _late_week(frame: pd.DataFrame, ref: pd.Timestamp, days_after: int) -> pd.DataFrame:
    """``frame`` with the release that first publishes week ``ref - 7`` moved from its Wednesday (``ref - 3``)
    to ``days_after`` days later (all of that release's rows: a late weekly release)."""
    wed = ref - pd.Timedelta(days=3)
    out = frame.copy()
    out.loc[out["as_of"] == wed, "as_of"] = wed + pd.Timedelta(days=days_after)
    return out


def test_a_late_weekly_release_is_used_as_the_hub_did():
    """The weekly release of R - 3 came on Thursday (R - 2): by default (late_days=1) it is used, and the flat
    baseline's median is its value (0.8 x final); with late_days=0 the week is missing at the deadline and the
    median is the week before's first-published value (hand-worked from _frame); a Friday release (2 days late) needs
    late_days=2; the note says which release was used."""
    df = _frame()
    ref = WEEKS[30]
    late = _late_week(df, ref, 1)

    def med(v):
        f = forecast(None, ref, model="flat_baseline", vintages=v)
        return f[(f.location == "01") & (f.horizon == 0) & (f.output_type_id == 0.5)]["value"].iloc[0], f

    m, f = med(Vintages(late))
    assert m == round(0.8 * _final(29, "01"))
    assert Vintages(late).deadline(ref) == ref - pd.Timedelta(days=2) and Vintages(late).is_late(ref)
    assert any("published or corrected after the deadline" in n and str((ref - pd.Timedelta(days=2)).date()) in n
               for n in f.attrs["notes"])
    strict = Vintages(late, late_days=0)
    assert strict.deadline(ref) == ref - pd.Timedelta(days=3) and not strict.is_late(ref)
    m0, f0 = med(strict)
    assert m0 == round(0.8 * _final(28, "01"))  # week R - 14 as first published (its revision came with R - 7's)
    assert not any("after the deadline" in n for n in f0.attrs["notes"])
    friday = _late_week(df, ref, 2)
    assert med(Vintages(friday))[0] == round(0.8 * _final(28, "01"))
    assert med(Vintages(friday, late_days=2))[0] == round(0.8 * _final(29, "01"))
    # on time: the default changes nothing
    assert Vintages(df).deadline(ref) == ref - pd.Timedelta(days=3) and not Vintages(df).is_late(ref)
    for bad in (-1, 4, 0.5, "x", None):
        with pytest.raises(EquicareError, match="late-release days must be a whole number from 0 to 3"):
            Vintages(df, late_days=bad)


def test_a_correction_of_the_latest_week_counts_and_of_older_weeks_does_not():
    """A Thursday version correcting one location's week R - 7 (released on time on the Wednesday) is used by
    default (the hub's 2024-11-21 case); one correcting only an older week is not (the deadline stays R - 3)."""
    df = _frame()
    ref = WEEKS[30]
    thu = ref - pd.Timedelta(days=2)
    fix = pd.DataFrame({"as_of": [thu], "date": [ref - pd.Timedelta(days=7)], "location": ["02"], "value": [555.0]})
    v = Vintages(pd.concat([df, fix]))
    assert v.deadline(ref) == thu and v.is_late(ref)
    f = forecast(None, ref, model="flat_baseline", vintages=v)
    assert f[(f.location == "02") & (f.horizon == 0) & (f.output_type_id == 0.5)]["value"].iloc[0] == 555.0
    old = fix.assign(date=ref - pd.Timedelta(days=14))
    v = Vintages(pd.concat([df, old]))
    assert v.deadline(ref) == ref - pd.Timedelta(days=3) and not v.is_late(ref)


def test_deadline_days_options(tmp_path, run_cli):
    p = _write(_frame(), tmp_path / "v.csv.gz")
    ref = WEEKS[34].strftime("%Y-%m-%d")
    code, out, err = run_cli("forecast", "--deadline-days", "2", "--reference-date", ref, "--out", tmp_path / "x.csv")
    assert code == 2 and "--deadline-days needs --vintages" in err
    code, out, err = run_cli("forecast", "--vintages", p, "--deadline-days", "9", "--reference-date", ref,
                             "--out", tmp_path / "x.csv", "--no-extras")
    assert code == 2 and "from 0 to 6" in err and "Traceback" not in err
    code, out, err = run_cli("backtest", "--vintages", p, "--deadline-days", "2", "--start", ref, "--end", ref,
                             "--out", tmp_path / "b.csv", "--model", "flat_baseline", "--no-extras")
    assert code == 0, err
    code, out, err = run_cli("forecast", "--late-release-days", "0", "--reference-date", ref,
                             "--out", tmp_path / "x.csv")
    assert code == 2 and "--late-release-days needs --vintages" in err
    code, out, err = run_cli("backtest", "--vintages", p, "--late-release-days", "5", "--start", ref, "--end", ref,
                             "--out", tmp_path / "b.csv", "--model", "flat_baseline", "--no-extras")
    assert code == 2 and "from 0 to 3" in err and "Traceback" not in err
    late = _write(_late_week(_frame(), WEEKS[34], 1), tmp_path / "late.csv")
    for days, note in (("1", True), ("0", False)):
        code, out, err = run_cli("forecast", "--vintages", late, "--late-release-days", days, "--reference-date",
                                 ref, "--out", tmp_path / "l.csv", "--model", "flat_baseline", "--no-extras")
        assert code == 0 and ("corrected after the deadline" in err) == note, err


@functools.lru_cache(maxsize=2)
def _hub_vintages(path: str, late_days: int = 1) -> Vintages:
    return load_vintages(path, late_days=late_days)


@pytest.mark.parametrize("season,baseline", [
    ("2023-24", "FluSight-baseline-2023-24.csv.gz"), ("2024-25", "season-2024-25/FluSight-baseline-2024-25.csv.gz")])
def test_the_hub_baseline_used_the_thursday_release(shared_data, season, baseline):
    """Independent reference: the hub's FluSight-baseline (flat; its horizon-0 median is the last value it saw).
    With the default deadline (R - 3, late weekly releases up to a day after: the hub moved its deadline to the
    Thursday in those weeks) the last value (week <= R - 7) equals that median in every location at every reference
    date from 2023-11-04 on, as with the Thursday deadline (R - 2); with the strict Wednesday rule (late_days=0) it
    differs exactly in the weeks whose release came on the Thursday (2024-04-13, 2024-11-23, 2024-12-28,
    2025-01-04 reference dates), and the default's deadline is the Thursday exactly in those weeks."""
    fs = shared_data / "flusight"
    path = str(fs / "vintages" / "admissions-vintages.csv.gz")
    v, strict = _hub_vintages(path), _hub_vintages(path, 0)
    b = pd.read_csv(fs / baseline, dtype={"location": str})
    b = b[(b["output_type_id"].astype(str) == "0.5") & (b["horizon"] == 0)]
    differ, late = [], []
    for ref, g in b.groupby("reference_date"):
        ref = pd.Timestamp(ref)
        if v.is_late(ref):
            late.append(ref.strftime("%Y-%m-%d"))
            assert v.deadline(ref) == ref - pd.Timedelta(days=2)
        if ref < pd.Timestamp("2023-11-04"):
            continue  # the first vintages (October 2023) are not the versions the hub's first weeks used
        hub = g.set_index("location")["value"]
        same = {}
        for name, cut in (("thursday", deadline(ref, 2)), ("default", v.deadline(ref)),
                          ("strict", strict.deadline(ref))):
            s = v.snapshot(cut)
            last = s[s["date"] <= ref - pd.Timedelta(days=7)].sort_values("date").groupby("location")["value"].last()
            same[name] = bool(np.allclose(hub.reindex(last.index).to_numpy(), last.to_numpy()))
        assert same["thursday"] and same["default"], ref
        if not same["strict"]:
            differ.append(ref.strftime("%Y-%m-%d"))
    expected = {"2023-24": ["2024-04-13"], "2024-25": ["2024-11-23", "2024-12-28", "2025-01-04"]}[season]
    assert late == expected
    assert differ == expected
