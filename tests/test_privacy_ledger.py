"""Issue 17, item 1: the privacy budget belongs to the data, not to the file's bytes.

The same rows re-saved (CRLF, trailing newline, rows or columns reordered, quoted header, spaces after
commas, Parquet) have one fingerprint and one budget; a copy that shares most rows, and a dataset made from
another, share its budget; a copy that escapes that check is still bounded by the organisation's total.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from equicare.data import load_table
from equicare.errors import EquicareError
from equicare.privacy.fingerprint import data_fingerprint, jaccard, row_sketch
from equicare.privacy.ledger import (
    budget_key,
    org_budget,
    org_spent,
    privacy_spent,
    record_derivation,
    release_dataset,
    set_org_budget,
)
from equicare.store import Store

CSV = ("id,name,region,lat,lon,cap_beds,flu_admissions\n"
       + "".join(f"h{i},Hospital {i},{['01', '02', '04'][i % 3]},3{i % 9}.5,-8{i % 9}.1,{10 * i + 5},{i % 7}\n"
                 for i in range(20)))
REGIONS = ["01", "02", "04", "05"]


def variants(text: str) -> dict[str, bytes]:
    lines = text.strip("\n").split("\n")
    header, rows = lines[0], lines[1:]
    df = pd.read_csv(io.StringIO(text), dtype=str)
    typed = df.assign(cap_beds=df.cap_beds.astype(int), flu_admissions=df.flu_admissions.astype(int),
                      lat=df.lat.astype(float), lon=df.lon.astype(float))
    buf = io.BytesIO()
    typed.to_parquet(buf, index=False)
    cols = list(df.columns)[::-1]
    return {
        "original": text.encode(),
        "crlf": text.replace("\n", "\r\n").encode(),
        "trailing newlines": (text + "\n\n").encode(),
        "no final newline": text.rstrip("\n").encode(),
        "rows reordered": "\n".join([header] + rows[::-1]).encode() + b"\n",
        "quoted header": "\n".join([",".join(f'"{c}"' for c in header.split(","))] + rows).encode() + b"\n",
        "spaces after commas": "\n".join(line.replace(",", ", ") for line in lines).encode() + b"\n",
        "columns reordered": df[cols].to_csv(index=False).encode(),
        "numbers reformatted": df.assign(cap_beds=df.cap_beds.astype(float)).to_csv(index=False).encode(),
        "parquet": buf.getvalue(),
    }


def test_every_resave_has_the_same_data_fingerprint():
    fps = {name: data_fingerprint(load_table(data, "facilities", name=name)[0]) for name, data in variants(CSV).items()}
    assert len(set(fps.values())) == 1, fps
    other = data_fingerprint(load_table(CSV.replace("h3,Hospital 3", "h3,Hospital Three").encode(), "facilities")[0])
    assert other != fps["original"]


def test_resaves_share_one_budget_in_the_store():
    """The issue's attack: spend the budget, then release from re-saves. Each is refused."""
    with Store(":memory:") as st:
        ids = {}
        for name, data in variants(CSV).items():
            t, rep = load_table(data, "facilities", name=name)
            ids[name] = st.save_dataset(name, "facilities", t, source=name, fingerprint=name, org="north",
                                        report=rep.to_dict())
        release_dataset(st, ids["original"], by="region", statistic="count", epsilon=1.0, regions=REGIONS)
        for name, ds in ids.items():
            assert privacy_spent(st, ds) == pytest.approx(1.0), name
            if name != "original":
                with pytest.raises(EquicareError, match="privacy budget exceeded for dataset"):
                    release_dataset(st, ds, by="region", statistic="count", epsilon=1.0, regions=REGIONS)
        assert org_spent(st, "north") == pytest.approx(1.0)


def test_near_copies_join_the_family_and_the_org_total_bounds_the_rest():
    with Store(":memory:") as st:
        def save(text: str, name: str) -> int:
            t, _ = load_table(text.encode(), "facilities", name=name)
            return st.save_dataset(name, "facilities", t, source=name, fingerprint=name, org="north")

        base = save(CSV, "base")
        release_dataset(st, base, by="region", statistic="count", epsilon=0.8, regions=REGIONS)
        one_changed = save(CSV.replace("h3,Hospital 3,02", "h3,Hospital 3,04"), "one row changed")
        subset = save("\n".join(CSV.split("\n")[:15]) + "\n", "first 14 rows")
        assert budget_key(st, one_changed).family == budget_key(st, base).family
        assert budget_key(st, subset).family == budget_key(st, base).family
        assert privacy_spent(st, one_changed) == pytest.approx(0.8)
        with pytest.raises(EquicareError, match="budget exceeded for dataset"):
            release_dataset(st, one_changed, by="region", statistic="count", epsilon=0.5, regions=REGIONS)
        # what still escapes: every row changed (here: every bed count + 1) is new data with a fresh budget ...
        lines = CSV.strip().split("\n")
        moved = "\n".join([lines[0]] + [",".join(p[:5] + [str(int(p[5]) + 1), p[6]])
                                        for p in (line.split(",") for line in lines[1:])]) + "\n"
        escape = save(moved, "every row changed")
        assert budget_key(st, escape).family != budget_key(st, base).family
        # ... but the organisation's total budget bounds what all its data can release together
        set_org_budget(st, "north", 1.2)
        assert org_budget(st, "north") == 1.2
        with pytest.raises(EquicareError, match="exceeded for organisation 'north'.*0.8 of its total budget 1.2"):
            release_dataset(st, escape, by="region", statistic="count", epsilon=0.5, regions=REGIONS)
        release_dataset(st, escape, by="region", statistic="count", epsilon=0.4, regions=REGIONS)
        with pytest.raises(EquicareError, match="already spent"):
            set_org_budget(st, "north", 1.0)
        # another organisation's copy has its own budgets
        t, _ = load_table(CSV.encode(), "facilities")
        south = st.save_dataset("b", "facilities", t, source="x", fingerprint="x", org="south")
        assert privacy_spent(st, south) == 0.0


def test_derived_datasets_share_the_parents_budget():
    with Store(":memory:") as st:
        t, _ = load_table(CSV.encode(), "facilities")
        ds = st.save_dataset("f", "facilities", t, source="f", fingerprint="f", org="north")
        release_dataset(st, ds, by="region", statistic="count", epsilon=0.3, regions=REGIONS)
        derived = st.save_dataset("f by region", "facilities", t.groupby("region").head(1), source="derived:f",
                                  fingerprint="g", org="north")
        record_derivation(st, derived, ds)
        assert privacy_spent(st, derived) == pytest.approx(0.3)
        assert budget_key(st, derived).family == budget_key(st, ds).family


def test_bottom_k_jaccard_is_close_on_large_tables():
    rng = np.random.default_rng(1)
    a = pd.DataFrame({"x": np.arange(5000), "y": rng.integers(0, 100, 5000)})
    b = pd.concat([a.iloc[:4000], pd.DataFrame({"x": np.arange(5000, 6000), "y": 0})])  # 4000 / 6000 shared
    assert jaccard(row_sketch(a), row_sketch(b)) == pytest.approx(4000 / 6000, abs=0.1)
    assert jaccard(row_sketch(a), row_sketch(a.sample(frac=1, random_state=2))) == 1.0


def test_releases_recorded_under_the_old_byte_fingerprint_still_count():
    with Store(":memory:") as st:
        t, _ = load_table(CSV.encode(), "facilities")
        ds = st.save_dataset("f", "facilities", t, source="f", fingerprint="sha-of-bytes", org="north")
        from equicare.privacy.ledger import ensure_schema

        ensure_schema(st)
        st.con.execute("INSERT INTO privacy_ledger VALUES (1, 'north', 'sha-of-bytes', 1, 'f', 'count', NULL, "
                       "'region', 0.7, 3.0, 'old', NULL)")
        st.con.execute("CREATE SEQUENCE IF NOT EXISTS privacy_ledger_seq START 2")
        assert privacy_spent(st, ds) == pytest.approx(0.7)
