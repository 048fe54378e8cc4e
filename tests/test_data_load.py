"""Data layer: every validation rule rejects a broken file with file/row/column, and nothing is stored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from equicare.data import CleaningReport, load_table, minmax, pad_fips, robust_z, zscore
from equicare.errors import ValidationError
from equicare.store import Store

REGIONS = "id,name,parent,population,lat,lon\n1001,Autauga,01,58805,32.5,-86.5\n1003,Baldwin,01,231767,30.5,-87.8\n"
FACILITIES = "id,name,region,lat,lon,cap_beds,cap_icu_beds,quality\nH1,A,01001,32.5,-86.4,100,10,4\nH2,B,01003,30.6,-87.7,50,,\n"

# (kind, file text, expected row, expected column, words in the rule)
BROKEN = [
    ("facilities", FACILITIES.replace("100,10,4", "-5,10,4"), 2, "cap_beds", "negative"),
    ("facilities", FACILITIES.replace("01003,30.6", "09999,30.6"), 3, "region", "unknown region"),
    ("facilities", FACILITIES.replace("32.5,-86.4", "132.5,-86.4"), 2, "lat", "out of range"),
    ("facilities", FACILITIES.replace("H2,B", "H1,B"), 3, "id", "duplicate id"),
    ("facilities", FACILITIES.replace("100,10,4", "lots,10,4"), 2, "cap_beds", "not a number"),
    ("facilities", FACILITIES.replace(",4\n", ",7\n"), 2, "quality", "out of range"),
    ("facilities", FACILITIES.replace("-87.7", ""), 3, "lon", "missing value"),
    ("regions", REGIONS.replace("231767", "-3"), 3, "population", "negative"),
    ("regions", REGIONS.replace("1003,", "1001,"), 3, "id", "duplicate id"),
    ("regions", REGIONS.replace("-86.5", "-286.5"), 2, "lon", "out of range"),
    ("demand", "region,date,value\n01001,2024-01-06,5\n01001,2024-01-06,7\n", 3, "region,date", "duplicate key"),
    ("demand", "region,date,value\n01001,2024-13-06,5\n", 2, "date", "not a date"),
    ("demand", "region,date,value\n01001,2024-01-06,-1\n", 2, "value", "negative"),
    ("costs", "origin,destination,cost\na,b,-2\n", 2, "cost", "negative"),
]


def _regions():
    return {"01001", "01003"}


@pytest.mark.parametrize("kind,text,row,column,words", BROKEN)
def test_each_rule_rejects_with_row_and_column(tmp_path, kind, text, row, column, words):
    path = tmp_path / f"broken_{kind}.csv"
    path.write_text(text)
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(ValidationError) as info:
        table, _ = load_table(path, kind, regions=_regions())
        store.save_dataset("x", kind, table, source=str(path), fingerprint="")
    probs = info.value.problems
    assert any(p.row == row and p.column == column and words in p.rule for p in probs), probs
    assert str(path) in str(info.value)
    assert len(store.list_datasets()) == 0  # nothing from the rejected file
    assert info.value.to_dict()["problems"][0]["file"] == str(path)


def test_missing_required_column(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,name\n1,a\n")
    with pytest.raises(ValidationError, match="required column is missing"):
        load_table(path, "regions")


def test_empty_and_unparseable_files(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(ValidationError, match="empty"):
        load_table(tmp_path / "e.csv", "costs")
    (tmp_path / "h.csv").write_text("origin,destination,cost\n")
    with pytest.raises(ValidationError, match="no rows"):
        load_table(tmp_path / "h.csv", "costs")


def test_good_file_cleaned_and_reported(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(FACILITIES)
    table, report = load_table(path, "facilities", regions=_regions())
    assert table.cap_icu_beds.isna().sum() == 1  # kept missing, flagged
    steps = report.to_frame()
    assert ((steps.step == "missing: kept and flagged") & (steps.column == "cap_icu_beds")).any()
    # region ids are FIPS-padded in a region file
    rpath = tmp_path / "r.csv"
    rpath.write_text(REGIONS)
    rtable, rrep = load_table(rpath, "regions")
    assert rtable.id.tolist() == ["01001", "01003"]
    assert rrep.to_frame().query("step == 'FIPS zero-padded'")["count"].iloc[0] == 2


def test_parquet_input(tmp_path):
    df = pd.DataFrame({"origin": ["a", "b"], "destination": ["x", "y"], "cost": [1.0, 2.5]})
    df.to_parquet(tmp_path / "c.parquet")
    table, _ = load_table(tmp_path / "c.parquet", "costs")
    assert table.cost.tolist() == [1.0, 2.5]


def test_missing_policies():
    df = pd.DataFrame({"id": ["1", "2", "3", "4"], "name": list("abcd"), "population": ["1", "2", "3", "4"],
                       "lat": ["1", "", "3", "4"], "lon": ["1", "2", "3", "4"]})
    for policy, expect_rows, expect_val in [("drop", 3, None), ("impute_median", 4, 3.0), ("impute_zero", 4, 0.0),
                                            ("flag", 4, np.nan)]:
        t, rep = load_table(df, "regions", missing={"lat": policy})
        assert len(t) == expect_rows
        if expect_val is not None:
            v = t.loc[t.id == "02", "lat"].iloc[0]
            assert (np.isnan(v) and np.isnan(expect_val)) or v == expect_val
        assert rep.to_frame()["column"].eq("lat").any()


def test_outliers_flagged_not_dropped():
    pops = [100, 110, 90, 105, 95, 100, 10_000]
    df = pd.DataFrame({"id": [str(i) for i in range(7)], "name": "x", "population": pops, "lat": 1, "lon": 1})
    t, rep = load_table(df.astype(str), "regions")
    assert len(t) == 7
    assert t.outlier_flags.tolist()[-1] == "population" and t.outlier_flags.tolist()[0] == ""


def test_robust_z_hand_case():
    # median 3, MAD = median(|[1,2,3,4,100]-3|) = median(2,1,0,1,97) = 1
    z = robust_z([1, 2, 3, 4, 100])
    assert z[-1] == pytest.approx(0.6745 * 97)
    assert z[0] == pytest.approx(-0.6745 * 2)


def test_pad_fips():
    s = pd.Series(["1", "1001", "01001", "US", "6037.0", None])
    assert pad_fips(s).tolist()[:5] == ["01", "01001", "01001", "US", "06037"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=40))
def test_normalisation_matches_scikit_learn(xs):
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    a = np.array(xs)
    if np.ptp(a) == 0:
        assert np.allclose(minmax(a), 0) and np.allclose(zscore(a), 0)
        return
    assume(np.ptp(a) > 1e-6)
    assert np.allclose(minmax(a), MinMaxScaler().fit_transform(a[:, None]).ravel(), atol=1e-9)
    assert np.allclose(zscore(a), StandardScaler().fit_transform(a[:, None]).ravel(), atol=1e-7)


def test_constant_column_is_zero_despite_rounding():
    assert zscore([0.95, 0.95, 0.95]).tolist() == [0.0, 0.0, 0.0]
    assert minmax([0.95, 0.95]).tolist() == [0.0, 0.0]


def test_normalisation_hand_values_and_missing():
    s = pd.Series([2.0, np.nan, 6.0, 4.0])
    assert minmax(s).tolist()[0] == 0.0 and np.isnan(minmax(s).iloc[1]) and minmax(s).iloc[3] == 0.5
    z = zscore([1.0, 3.0])
    assert z.tolist() == [-1.0, 1.0]


def test_report_collects_counts():
    rep = CleaningReport()
    rep.add("f", "step", "c", 0)
    rep.add("f", "step", "c", 3, "why")
    assert len(rep) == 1 and rep.to_dict()["changes"][0]["count"] == 3
