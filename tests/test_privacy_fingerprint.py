"""The vectorised canonical fingerprint gives exactly the values of its cell-by-cell definition.

:mod:`equicare.privacy.fingerprint` computes each column's canonical text from its distinct values and joins
and hashes the rows with Arrow. The reference below is the definition written cell by cell (the
implementation before it was vectorised, which took about 90 s for a million rows): every fingerprint, row
hash, content hash and canonical cell must agree with it on random tables of every column type, so data keys
already stored in a ledger (``privacy_data``, ``privacy_ledger``) or a suppression record
(``suppression_cells``, whose row cells are named by their row hash) stay valid. A fixed table's values,
computed by that implementation, are pinned, and a ledger and a suppression record written under them are
still charged and matched.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from equicare.data import load_table
from equicare.errors import EquicareError
from equicare.privacy.disclosure import DataIndex
from equicare.privacy.fingerprint import (
    canonical_cells,
    content_hashes,
    content_sketch,
    data_fingerprint,
    fingerprints,
    row_hashes,
    row_sketch,
)
from equicare.privacy.ledger import budget_key, ensure_schema, privacy_spent, release_dataset
from equicare.store import Store

# ---- the definition, cell by cell (reference) ----------------------------------------------------------------
NA = "\x00NA"


def ref_column(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        out = s.map(lambda v: NA if pd.isna(v) else ("1" if v else "0"))
    elif pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        v = np.where(v == 0, 0.0, v)
        out = pd.Series([NA if x != x else repr(float(x)) for x in v.tolist()], index=s.index)
    elif pd.api.types.is_datetime64_any_dtype(s):
        out = pd.Series(s.dt.strftime("%Y-%m-%dT%H:%M:%S"), index=s.index).fillna(NA)
    else:
        txt = s.astype("string").str.strip()
        num = pd.to_numeric(txt, errors="coerce")
        if bool((num.notna() & txt.notna()).all()) and len(txt):
            return ref_column(num.astype(float))
        out = txt.fillna(NA).astype(object)
    return out.astype(object)


def ref_is_numeric(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        return False
    if pd.api.types.is_numeric_dtype(s):
        return True
    txt = s.astype("string").str.strip()
    txt = txt[txt.notna() & (txt != "")]
    return bool(len(txt)) and bool(pd.to_numeric(txt, errors="coerce").notna().all())


def ref_cells(df: pd.DataFrame, all_constants: bool = False) -> pd.DataFrame:
    cols = sorted(str(c) for c in df.columns if str(c) != "outlier_flags")
    frame = df.copy()
    frame.columns = [str(c) for c in frame.columns]
    canon = {c: ref_column(frame[c]) for c in cols}
    if len(frame) > 1:
        canon = {c: v for c, v in canon.items()
                 if v.nunique(dropna=False) > 1 or not (all_constants or str(v.iloc[0]) in {NA, "", "0.0"})}
    return pd.DataFrame(canon, index=frame.index)


def ref_hash_rows(canon: pd.DataFrame, named: bool = True) -> np.ndarray:
    if canon.shape[1] == 0:
        return np.zeros(len(canon), dtype=np.uint64)
    cols = list(canon.columns)
    joined = (cols[0] + "=" if named else "") + canon[cols[0]]
    for c in cols[1:]:
        joined = joined + "\x1f" + (c + "=" if named else "") + canon[c]
    return pd.util.hash_pandas_object(joined, index=False).to_numpy(dtype=np.uint64)


def ref_content_hashes(df: pd.DataFrame) -> np.ndarray:
    canon = ref_cells(df, all_constants=True)
    frame = df.copy()
    frame.columns = [str(c) for c in frame.columns]
    numeric = [c for c in canon.columns if ref_is_numeric(frame[c])]
    canon = canon[numeric] if numeric else canon
    order = sorted(canon.columns, key=lambda c: hashlib.sha256(
        "\x1f".join(sorted(map(str, canon[c].tolist()))).encode()).hexdigest())
    return ref_hash_rows(canon[order], named=False)


def ref_fingerprint(df: pd.DataFrame) -> str:
    h = hashlib.sha256()
    canon = ref_cells(df)
    h.update("\x1f".join(canon.columns).encode())
    h.update(np.sort(ref_hash_rows(canon)).tobytes())
    return h.hexdigest()


def assert_same_as_reference(df: pd.DataFrame) -> None:
    canon = ref_cells(df)
    hashes = ref_hash_rows(canon)
    content = ref_content_hashes(df)
    assert np.array_equal(row_hashes(df), hashes)
    assert np.array_equal(content_hashes(df), content)
    pd.testing.assert_frame_equal(canonical_cells(df), canon)
    fp = fingerprints(df)
    assert fp.data_key == ref_fingerprint(df)
    assert fp.n_rows == len(df)
    assert fp.sketch == [int(x) for x in np.unique(hashes)[:256]]
    assert fp.content == [int(x) for x in np.unique(content)[:256]]


# ---- random tables of every column type ----------------------------------------------------------------------
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from([0.0, -0.0, 1.0, 120.0,
                   1e16, 9999999999999998.0, 1e-5, 0.0001, 2.0 ** 53, np.nan]), st.integers(-10**6, 10**6).map(float))
TEXT = st.one_of(st.sampled_from(["", " ", "a", " a", "a ", "01", "1", "1.0", " 2", "1e2", "-0", "x y", "é", "\u00a0b",
                                  "Hospital 3", "inf", "nan"]), st.text(max_size=6))


@st.composite
def tables(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 30))
    cols: dict = {}
    for k in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["float", "int", "Int64", "text", "numtext", "bool", "date", "const", "object"]))
        pool = st.lists
        if kind == "float":
            v = draw(pool(FLOATS, min_size=n, max_size=n))
        elif kind == "int":
            v = np.asarray(draw(pool(st.integers(-2**62, 2**62), min_size=n, max_size=n)), dtype=np.int64)
        elif kind == "Int64":
            v = pd.array(draw(pool(st.one_of(st.none(), st.integers(-10**17, 10**17)), min_size=n, max_size=n)),
                         dtype="Int64")
        elif kind == "text":
            v = pd.array(draw(pool(st.one_of(st.none(), TEXT), min_size=n, max_size=n)), dtype="string")
        elif kind == "numtext":
            v = pd.array(draw(pool(st.sampled_from(["1", " 2", "3.0", "-0", "1e3", "007", "0"]), min_size=n,
                                   max_size=n)), dtype="string")
        elif kind == "bool":
            v = np.asarray(draw(pool(st.booleans(), min_size=n, max_size=n)), dtype=bool)
        elif kind == "date":
            days = draw(pool(st.integers(0, 3000), min_size=n, max_size=n))
            v = pd.to_datetime("2020-01-04") + pd.to_timedelta(np.asarray(days, dtype=np.int64), unit="D")
            if draw(st.booleans()) and n:
                v = pd.Series(v).where(np.arange(n) % 3 != 0)
        elif kind == "const":
            v = [draw(st.sampled_from([0, 0.0, "", None, 7, "x"]))] * n
        else:  # a mixed object column, as pandas reads untyped data
            v = pd.Series(draw(pool(st.one_of(st.integers(-5, 5), st.sampled_from([1.0, 2.5, "1", "a", None, True])),
                                    min_size=n, max_size=n)), dtype=object)
        cols[f"c{k}_{kind}"] = np.asarray(v, dtype=object) if kind == "const" else v
    df = pd.DataFrame(cols) if n else pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    if n > 1 and draw(st.booleans()):
        df = pd.concat([df, df.iloc[: draw(st.integers(1, n))]], ignore_index=True)  # repeated rows
    return df


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_same_values_as_the_cell_by_cell_definition(df):
    assert_same_as_reference(df)


EDGE_COLUMNS = {
    "spaces only": ["", " ", "  ", ""],             # one canonical value, blank: dropped
    "zero text": [" 0", "0", "0.0", "-0"],          # numbers, all 0: dropped
    "one number": ["1", "1.0", " 1", "1e0"],        # numbers, one value: kept (not blank)
    "padded": [" a", "a", "a ", " a "],             # one text value: kept
    "floats": [0.0, -0.0, 0.0, -0.0],               # 0: dropped
    "missing": [None, np.nan, None, None],          # all missing: dropped
    "late text": [str(i) for i in range(99)] + ["x"],  # numbers but the 100th cell
}


@pytest.mark.parametrize("name", list(EDGE_COLUMNS))
def test_same_values_on_columns_whose_distinct_values_share_a_text(name):
    v = EDGE_COLUMNS[name]
    n = len(v)
    df = pd.DataFrame({"id": [f"r{i % 3}" for i in range(n)], "x": np.arange(n) % 2,
                       "edge": pd.array(v, dtype="string") if isinstance(v[0], str) else v})
    assert_same_as_reference(df)
    assert_same_as_reference(df.assign(edge=pd.Series(v, dtype=object)))


def test_same_values_on_a_larger_mixed_table():
    rng = np.random.default_rng(3)
    n = 2000
    df = pd.DataFrame({"id": [f"f{i}" for i in range(n)], "name": [f" Hospital {i % 90} " for i in range(n)],
                       "region": rng.choice(["01", "02", "04", "06"], n), "beds": rng.integers(0, 500, n).astype(float),
                       "big": rng.integers(-2**60, 2**60, n), "lat": rng.normal(40, 5, n), "tiny": rng.random(n) * 1e-6,
                       "zero": 0.0, "flag": rng.random(n) < 0.3, "code": rng.choice([" 1", "2", "3.5"], n),
                       "date": pd.Timestamp("2024-01-06") + pd.to_timedelta(rng.integers(0, 60, n) * 7, unit="D")})
    df.loc[::7, "lat"] = np.nan
    assert_same_as_reference(df)
    assert_same_as_reference(df.sample(frac=1, random_state=1))


# ---- values stored by earlier versions -------------------------------------------------------------------------
CSV = ("id,name,region,lat,lon,cap_beds,flu_admissions\n"
       + "".join(f"h{i},Hospital {i},{['01', '02', '04'][i % 3]},3{i % 9}.5,-8{i % 9}.1,{10 * i + 5},{i % 7}\n"
                 for i in range(20)))
# computed by the cell-by-cell implementation (equicare before the fingerprint was vectorised)
OLD_KEY = "1c6cba5152c92c84bfeeb016521f8b789ead0010151b4e4cb2eca5cd6d2121c3"
OLD_SKETCH = [19742725367518396, 3052187887016104374, 3548386882074200624]
OLD_CONTENT = [1373470571123750468, 1517422466935053445, 2026576461707608254]
WEEKLY = pd.DataFrame({"region": ["01", "02", "04"] * 3,
                       "date": ["2024-01-06"] * 3 + ["2024-01-13"] * 3 + ["2024-01-20"] * 3,
                       "value": [5, 40, 100, 20, 50, 110, 30, 60, 120]})
OLD_WEEKLY_KEY = "4bfb46e79fbfad6d99453263a661fe43fbbeb21ef1b6a120b3032c1c7f05b5d9"
OLD_WEEKLY_ROWS = ["8a60d784ca4e0f04", "a375ce906e1ab6bb", "b05f365d1865f44e"]


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_the_values_stored_by_earlier_versions_are_unchanged():
    t, _ = load_table(CSV.encode(), "facilities")
    fp = fingerprints(t)
    assert fp.data_key == OLD_KEY
    assert fp.sketch[:3] == OLD_SKETCH and fp.content[:3] == OLD_CONTENT
    assert (data_fingerprint(t), row_sketch(t)[:3], content_sketch(t)[:3]) == (OLD_KEY, OLD_SKETCH, OLD_CONTENT)
    w, _ = load_table(WEEKLY, "demand")
    assert data_fingerprint(w) == OLD_WEEKLY_KEY
    assert [format(int(h), "016x") for h in row_hashes(w)][:3] == OLD_WEEKLY_ROWS


def test_a_ledger_written_under_the_old_key_still_charges_a_resave():
    """A store an earlier version wrote: the data's key, its family and a release of 0.9 recorded under it. The
    same rows uploaded again (as Parquet, columns reversed) are charged against that entry."""
    raw = pd.read_csv(io.StringIO(CSV), dtype=str)
    typed = raw.assign(lat=raw.lat.astype(float), lon=raw.lon.astype(float), cap_beds=raw.cap_beds.astype(int),
                       flu_admissions=raw.flu_admissions.astype(int))
    with Store(":memory:") as st:
        ensure_schema(st)
        st.con.execute("INSERT INTO privacy_data (org, data_key, family, n_rows, sketch, content) VALUES "
                       "('north', ?, ?, 20, ?, ?)", [OLD_KEY, OLD_KEY, json.dumps(OLD_SKETCH), json.dumps(OLD_CONTENT)])
        st.con.execute("INSERT INTO privacy_ledger VALUES (1, 'north', ?, 1, 'f', 'count', NULL, 'region', 0.9, "
                       "3.0, 'old', NULL)", [OLD_KEY])
        st.con.execute("CREATE SEQUENCE IF NOT EXISTS privacy_ledger_seq START 2")
        t, _ = load_table(_parquet(typed[list(typed.columns)[::-1]]), "facilities", name="again.parquet")
        ds = st.save_dataset("again", "facilities", t, source="again.parquet", fingerprint="bytes", org="north")
        key = budget_key(st, ds)
        assert (key.data_key, key.family) == (OLD_KEY, OLD_KEY)
        assert privacy_spent(st, ds) == pytest.approx(0.9)
        with pytest.raises(EquicareError, match="privacy budget exceeded for dataset"):
            release_dataset(st, ds, by="region", statistic="count", epsilon=0.2, regions=["01", "02", "04"])


def test_a_suppression_record_written_under_the_old_hashes_still_names_the_rows():
    """Row cells recorded by an earlier version (by their old row hash) are found in a re-save of the data."""
    w, _ = load_table(WEEKLY.iloc[::-1].reset_index(drop=True), "demand")
    index = DataIndex(w)
    for h in OLD_WEEKLY_ROWS:
        m = index.members(json.dumps({"row": h, "k": 0}))
        assert len(m) == 1
        original = load_table(WEEKLY, "demand")[0]
        k = OLD_WEEKLY_ROWS.index(h)
        assert float(w.value.iloc[m[0]]) == float(original.value.iloc[k])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(["a", "a\x00", "", "\x00NA", "é", "1.5", "1.55"])),
                max_size=40))
def test_a_columns_sort_key_sorts_as_python_does(texts):
    """The key that orders content columns: SHA-256 of the column's texts sorted by Python, joined by \\x1f."""
    from equicare.privacy.fingerprint import CanonicalColumn

    col = CanonicalColumn.of("t", pd.Series(texts, dtype=object))
    expected = hashlib.sha256("\x1f".join(sorted(map(str, col.cells().tolist()))).encode()).hexdigest()
    assert col.sort_key() == expected
