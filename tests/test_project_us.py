"""The bundled US scenario run as an ordinary project (`equicare run bundled:us`) gives the demo's key figures.

The figures are those `make demo` printed on main before the project path existed: 18 states need 3,851 surge
ICU beds and the minimum share of need met is 64.7% (stockpile 2,500, severity 2, as of 2023-12-30).
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from equicare.project import run_project
from equicare.project.bundled_us import write_us_project


@pytest.fixture(scope="module")
def us(tmp_path_factory):
    folder = tmp_path_factory.mktemp("us")
    path = write_us_project(folder / "project")
    # the key figures depend on the planning forecast only: a one-week back-test keeps the test short
    doc = yaml.safe_load(path.read_text())
    doc["forecast"].update(holdout_start="2023-12-30", holdout_end="2023-12-30", compare=[])
    path.write_text(yaml.safe_dump(doc))
    return run_project(path, folder / "out")


def test_us_project_key_figures_equal_the_demo(us) -> None:
    s = us.summary
    assert s["regions_with_need"] == 18
    assert s["total_need"] == 3851
    assert round(100 * s["min_share"], 1) == 64.7
    assert s["total_allocated"] == 2500


def test_us_project_outputs_keep_fips_ids_as_text(us) -> None:
    alloc = pd.read_csv(us.out_dir / "allocation.csv", dtype={"region": str})
    assert list(alloc.columns[:6]) == ["region", "resource", "need", "allocated", "share_met", "explanation"]
    assert "06" in set(alloc["region"]) and alloc["region"].str.len().eq(2).all()
    fc = pd.read_csv(us.out_dir / "forecast.csv", dtype={"location": str})
    assert fc["reference_date"].unique().tolist() == ["2023-12-30"]
    html = (us.out_dir / "report.html").read_text()
    assert 'id="map-share-met"' in html or "map-share-met" in html
