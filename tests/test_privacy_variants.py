"""Issue 17: variants of the probe's examples that the first fixes missed (each failed before its fix).

* budget (item 1): a copy with an added all-zero or all-empty column, renamed columns, replaced ids and
  names, a filtered subset -- each shares the original's spent budget; a zero-column copy also shares
  the original's cross-output suppression record (item 4);
* DP (item 3): a sum of a text column, subnormal bounds; suppression of a text "count" column;
* count columns (item 6): fatalities, deceased, attendances, referrals, n_sick, ... are person counts;
* uploads (item 12): a gzip bomb is refused by its decoded rows, an XLSX whose one far cell makes it
  16,000 columns wide is refused in about a second.
"""

from __future__ import annotations

import gzip
import io
import time

import numpy as np
import pandas as pd
import pytest

from equicare.data import load_table
from equicare.data.counts import is_count_name
from equicare.data.load import ReadLimits, read_file
from equicare.errors import EquicareError, ValidationError
from equicare.privacy.dp import check_bounds, dp_release
from equicare.privacy.ledger import budget_key, privacy_spent, release_dataset
from equicare.service.accounts import User
from equicare.service.exports import dataset_export
from equicare.service.releases import make_release
from equicare.store import Store

CSV = ("id,name,region,lat,lon,cap_beds,flu_admissions\n"
       + "".join(f"h{i},Hospital {i},{['01', '02', '04'][i % 3]},3{i % 9}.5,-8{i % 9}.1,{10 * i + 5},{i % 7}\n"
                 for i in range(20)))
REGIONS = ["01", "02", "04", "05"]


def _copies() -> dict[str, str]:
    df = pd.read_csv(io.StringIO(CSV), dtype=str)
    return {
        "all-zero column": df.assign(extra=0).to_csv(index=False),
        "all-empty column": df.assign(notes="").to_csv(index=False),
        "constant column": df.assign(batch=7).to_csv(index=False),
        "renamed count column": df.rename(columns={"flu_admissions": "flu_adm"}).to_csv(index=False),
        "ids replaced": df.assign(id=[f"z{i}" for i in range(20)]).to_csv(index=False),
        "ids and names replaced": df.assign(id=[f"q{i}" for i in range(20)],
                                            name=[f"Site {i}" for i in range(20)]).to_csv(index=False),
        "a filtered quarter": df[df.region == "01"].to_csv(index=False),
    }


@pytest.mark.parametrize("what", list(_copies()))
def test_a_copy_of_spent_data_shares_its_budget(what):
    with Store(":memory:") as st:
        t, _ = load_table(CSV.encode(), "facilities")
        base = st.save_dataset("f", "facilities", t, source="f", fingerprint="f", org="north")
        release_dataset(st, base, by="region", statistic="count", epsilon=1.0, regions=REGIONS)
        c, _ = load_table(_copies()[what].encode(), "facilities")
        copy = st.save_dataset(what, "facilities", c, source="g", fingerprint="g", org="north")
        assert budget_key(st, copy).family == budget_key(st, base).family
        assert privacy_spent(st, copy) == pytest.approx(1.0)
        with pytest.raises(EquicareError, match="privacy budget exceeded"):
            release_dataset(st, copy, by="region", statistic="count", epsilon=0.5, regions=REGIONS)


def test_other_data_still_has_its_own_budget():
    """Every measurement changed (beds + 1 everywhere): a new family (the organisation budget bounds it)."""
    with Store(":memory:") as st:
        t, _ = load_table(CSV.encode(), "facilities")
        base = st.save_dataset("f", "facilities", t, source="f", fingerprint="f", org="north")
        other = st.save_dataset("g", "facilities", t.assign(cap_beds=t.cap_beds + 1, lat=t.lat + 0.01),
                                source="g", fingerprint="g", org="north")
        assert budget_key(st, other).family != budget_key(st, base).family


WEEKS = ["2024-01-06", "2024-01-13", "2024-01-20"]


def test_a_zero_column_copy_shares_the_suppression_record():
    """The issue's weekly table downloaded, then a copy with an added all-zero column released per region:
    the copy's region-01 total (55) with weeks 2 and 3 shown (20, 30) would give away the hidden 5."""
    csv = "region,date,value\n" + "".join(f"{r},{WEEKS[w]},{v}\n" for r, vals in
                                          {"01": [5, 20, 30], "02": [40, 50, 60], "04": [100, 110, 120]}.items()
                                          for w, v in enumerate(vals))
    with Store(":memory:") as st:
        t, rep = load_table(csv.encode(), "demand", name="weekly.csv")
        ds = st.save_dataset("weekly", "demand", t, source="w", fingerprint="f", report=rep.to_dict(), org="north")
        dl = dataset_export(st, ds)[0]
        assert pd.isna(dl[(dl.region == "01") & (dl.date == pd.Timestamp(WEEKS[0]))].value.iloc[0])
        shown_01 = int(dl[(dl.region == "01")].value.notna().sum())
        c = t.assign(source_flag=0)
        copy = st.save_dataset("weekly copy", "demand", c, source="w2", fingerprint="g", report=rep.to_dict(),
                               org="north")
        out = make_release(st, User("pat", "north", "planner"),
                           {"dataset_id": copy, "method": "suppress", "by": "region", "count_columns": ["value"]})
        rel = st.get_dataset(out["id"]).set_index("region")
        assert pd.isna(rel.loc["01", "value"]) or shown_01 < 2, "55 - 20 - 30 = 5 is derivable"


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"region": ["01", "02", "04"] * 4, "name": [f"Site {i}" for i in range(12)],
                         "beds": np.arange(12.0)})


def test_a_sum_of_a_text_column_is_refused():
    with pytest.raises(EquicareError, match="numeric value column: 'name' has 12"):
        dp_release(_frame(), by="region", statistic="sum", epsilon=1.0, regions=REGIONS, column="name",
                   bounds=(0, 100))
    rel = dp_release(_frame(), by="region", statistic="sum", epsilon=1.0, regions=REGIONS, column="beds",
                     bounds=(0, 100))
    assert len(rel.table) == 4


@pytest.mark.parametrize("bounds", [(0, 1e-320), (-5e-324, 1.0)])
def test_subnormal_bounds_are_refused(bounds):
    with pytest.raises(EquicareError, match="normal floating-point"):
        check_bounds(bounds, "beds")


def test_suppressing_a_text_column_as_counts_is_refused():
    with Store(":memory:") as st:
        t, _ = load_table(CSV.encode(), "facilities")
        ds = st.save_dataset("f", "facilities", t, source="f", fingerprint="f", org="north")
        with pytest.raises(EquicareError, match="count column 'name' of dataset .* is not a count"):
            make_release(st, User("pat", "north", "planner"),
                         {"dataset_id": ds, "method": "suppress", "by": "region", "count_columns": ["name"]})


@pytest.mark.parametrize("name", ["Cases", "n_patients", "deaths_total", "fatalities", "deceased", "attendances",
                                  "consultations", "referrals", "episodes", "positives", "n_sick", "num_people",
                                  "clients", "injuries", "overdoses", "number_of_cases", "n"])
def test_usual_person_count_names(name):
    assert is_count_name(name)


@pytest.mark.parametrize("name", ["n_facilities", "num_beds", "cap_beds", "population", "total_beds", "name",
                                  "n_days", "lat", "region", "value", "cost"])
def test_supply_and_other_columns_are_not_person_counts(name):
    assert not is_count_name(name)


def test_a_count_named_fatalities_is_suppressed_in_downloads():
    csv = CSV.replace("flu_admissions", "fatalities")
    with Store(":memory:") as st:
        t, rep = load_table(csv.encode(), "facilities")
        ds = st.save_dataset("f", "facilities", t, source="f", fingerprint="f", report=rep.to_dict(), org="north")
        out = dataset_export(st, ds)[0]
        assert not ((out.fatalities >= 1) & (out.fatalities <= 10)).any()


def test_a_gzip_bomb_is_refused_by_its_decoded_rows():
    raw = b"id,name,region,lat,lon,cap_beds\n" + b"h,General,01,32.5,-86.6,120\n" * 1_200_000
    bomb = gzip.compress(raw, 1)
    assert len(bomb) < len(raw) / 100
    t0 = time.perf_counter()
    with pytest.raises(ValidationError, match="too many rows: 1,200,000"):
        read_file(gzip.compress(bomb), "bomb.csv", limits=ReadLimits())  # gzip inside gzip too
    with pytest.raises(ValidationError, match="too large once decompressed"):
        read_file(bomb, "bomb.csv", limits=ReadLimits(max_decoded_bytes=1_000_000))
    assert time.perf_counter() - t0 < 20


def test_an_xlsx_with_a_far_cell_is_refused_quickly():
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "name", "region", "lat", "lon", "cap_beds"])
    ws.append(["h1", "A", "01", 1, 1, 1])
    ws.cell(row=200_000, column=16_000, value="x")
    buf = io.BytesIO()
    wb.save(buf)
    assert len(buf.getvalue()) < 10_000
    t0 = time.perf_counter()
    with pytest.raises(ValidationError, match="too many columns: 16,000"):
        read_file(buf.getvalue(), "wide.xlsx", limits=ReadLimits())
    assert time.perf_counter() - t0 < 20


def test_data_with_sixty_percent_matching_codes_are_refused():
    """Four rows in ten coded outside the public list (XX, YY) were released as if they were not there."""
    df = pd.DataFrame({"region": ["01", "02", "04", "XX", "YY"] * 2, "beds": np.arange(10.0)})
    with pytest.raises(EquicareError, match="4 of 10 rows have a 'region' outside it"):
        dp_release(df, by="region", statistic="count", epsilon=1.0, regions=REGIONS)
    ok = dp_release(df.assign(region=["01", "02", "04", "01", "02"] * 2), by="region", statistic="count",
                    epsilon=1.0, regions=REGIONS)
    assert len(ok.table) == 4
