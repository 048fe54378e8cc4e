"""`equicare run` on a non-US project built from real public geometry (87 Japanese municipalities as polygons in
a projected CRS, text ids with leading zeros, hospitals in an XLSX sheet, a weekly series), its outputs checked
against independent references (brute-force distances and point-in-polygon, hand formulas)."""

from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from region_fixture import build_project, tokyo_source

pytestmark = pytest.mark.skipif(tokyo_source() is None, reason="libpysal's Tokyo example geometry is not installed")


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``equicare ARGS`` through the console entry point, in this process (a new interpreter would import
    everything again; tests/test_cli.py runs ``python -m equicare`` itself)."""
    from equicare.cli import main

    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return build_project(tmp_path_factory.mktemp("tokyo"))


@pytest.fixture(scope="module")
def run(project: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    res = _cli("run", str(project), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "minimum share of need met" in res.stdout
    return out


def test_outputs_and_contract_columns(run: Path, project: Path) -> None:
    for f in ("report.html", "equicare.duckdb", "access.csv", "forecast.csv", "allocation.csv", "inequality.csv"):
        assert (run / f).is_file(), f
    alloc = pd.read_csv(run / "allocation.csv", dtype={"region": str})
    assert list(alloc.columns[:6]) == ["region", "resource", "need", "allocated", "share_met", "explanation"]
    regions = pd.read_csv(run / "access.csv", dtype={"region": str})
    assert len(regions) == 87 and regions["region"].str.startswith("08").sum() == 32  # leading zeros kept
    assert set(alloc["region"]) <= set(regions["region"])
    stock = yaml.safe_load(project.read_text())["allocate"]["stock"]
    assert alloc["allocated"].sum() <= stock + 1e-9
    assert (alloc["allocated"] <= alloc["need"] + 1e-9).all() and (alloc["allocated"] <= alloc["cap"] + 1e-9).all()
    pos = alloc["need"] > 0
    np.testing.assert_allclose(alloc.loc[pos, "share_met"], alloc.loc[pos, "allocated"] / alloc.loc[pos, "need"])
    assert alloc["allocated"].sum() == pytest.approx(min(stock, alloc[["need", "cap"]].min(axis=1).sum()))
    fc = pd.read_csv(run / "forecast.csv", dtype={"location": str})
    assert list(fc.columns) == ["reference_date", "horizon", "target", "target_end_date", "location", "output_type",
                                "output_type_id", "value"]
    assert set(fc["location"]) == set(regions["region"])
    assert fc["reference_date"].unique().tolist() == ["2024-03-02"]  # the Saturday after the last week
    ineq = pd.read_csv(run / "inequality.csv")
    assert {"Beds_per_1000", "2sfca_Beds_per_1000"} <= set(ineq["indicator"])


def test_capacity_and_point_in_polygon_against_brute_force(run: Path, project: Path) -> None:
    import geopandas as gpd

    reg = gpd.read_file(project.parent / "regions.gpkg").to_crs("EPSG:4326")
    hosp = pd.read_excel(project.parent / "hospitals.xlsx", sheet_name="Hospitals")
    pts = gpd.points_from_xy(hosp["Longitude"], hosp["Latitude"])
    owner = [next((c for c, g in zip(reg["code"], reg.geometry) if g.contains(p)), None) for p in pts]
    beds = hosp.assign(region=owner).groupby("region")["Beds"].sum()
    acc = pd.read_csv(run / "access.csv", dtype={"region": str}).set_index("region")
    np.testing.assert_allclose(acc.loc[beds.index, "Beds"], beds.to_numpy())
    np.testing.assert_allclose(acc["Beds_per_1000"], 1000 * acc["Beds"] / acc["population"])


def test_2sfca_against_brute_force_haversine(run: Path, project: Path) -> None:
    import geopandas as gpd

    reg = gpd.read_file(project.parent / "regions.gpkg").to_crs("EPSG:4326")
    p = reg.geometry.representative_point()
    hosp = pd.read_excel(project.parent / "hospitals.xlsx", sheet_name="Hospitals")
    la1, lo1 = np.radians(p.y.to_numpy())[:, None], np.radians(p.x.to_numpy())[:, None]
    la2, lo2 = np.radians(hosp["Latitude"].to_numpy())[None, :], np.radians(hosp["Longitude"].to_numpy())[None, :]
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    d = 2 * 6371.0088 * np.arcsin(np.sqrt(h))
    w = d <= 30.0
    pop = reg["population"].to_numpy(float)
    ratio = hosp["Beds"].to_numpy(float) / (w * pop[:, None]).sum(axis=0)  # step 1: supply / population in reach
    expected = 1000 * (w * np.nan_to_num(ratio)[None, :]).sum(axis=1)     # step 2: sum of ratios in reach
    acc = pd.read_csv(run / "access.csv", dtype={"region": str}).set_index("region")
    np.testing.assert_allclose(acc.loc[reg["code"], "2sfca_Beds_per_1000"], expected, rtol=1e-9)


def test_report_maps_the_planners_regions(run: Path) -> None:
    html = (run / "report.html").read_text()
    assert "us-atlas" not in html and "<script src=" not in html  # self-contained, no US atlas
    assert html.count("<body>") == 1 and html.count("<header>") == 1 and html.count("</header>") == 1
    assert html.count('data-id="08203"') >= 3  # every map draws the region by its own id
    assert "Tsuchiura-shi" in html and "relative to baseline" in html
    assert "True" not in html.split("<script")[0] and "&lt;NA&gt;" not in html


def test_store_has_run_and_datasets(run: Path) -> None:
    from equicare.store import Store

    with Store(run / "equicare.duckdb", read_only=True) as st:
        runs = st.list_runs()
        assert runs["status"].tolist() == ["succeeded"]
        rid = runs["id"].iloc[0]
        assert {"access", "allocation", "forecast", "inequality"} <= set(st.result_names(rid))
        ds = st.list_datasets()
        regions = st.get_dataset(int(ds[ds["kind"] == "regions"]["id"].iloc[0]))
        assert regions["id"].str.startswith("08").sum() == 32


def test_check_prints_stages(project: Path) -> None:
    from equicare.project import check_project

    _, _, lines = check_project(project)
    assert "regions: 87 from regions.gpkg (polygons, CRS EPSG:30166)" in lines and "stage allocate: will run" in lines


def _variant(project: Path, tmp: Path, edit) -> Path:
    doc = yaml.safe_load(project.read_text())
    edit(doc)
    for sec in ("regions", "facilities", "demand"):
        if sec in doc and not Path(doc[sec]["file"]).is_absolute():
            doc[sec]["file"] = str(project.parent / doc[sec]["file"])
    p = tmp / "p.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def test_unknown_key_and_column_get_suggestions(project: Path, tmp_path: Path) -> None:
    from equicare.errors import ValidationError
    from equicare.project import check_project

    def edit(doc):
        doc["allocate"]["stok"] = 10
    res = _cli("run", "--check", str(_variant(project, tmp_path, edit)))  # the CLI: exit 2, no traceback
    assert res.returncode == 2 and "allocate.stok" in res.stderr and "did you mean 'stock'" in res.stderr
    assert "Traceback" not in res.stderr

    def edit2(doc):
        doc["facilities"]["capacity"] = ["Beds", "ICU bed"]
    with pytest.raises(ValidationError, match="hospitals.xlsx, row 1, column 'ICU bed'.*did you mean 'ICU beds'"):
        check_project(_variant(project, tmp_path, edit2))

    def edit3(doc):  # column names match ignoring case
        doc["facilities"]["capacity"] = ["BEDS", "icu beds"]
    _, inp, _ = check_project(_variant(project, tmp_path, edit3))
    assert inp.facilities["BEDS"].sum() > 0


def test_ids_that_lost_leading_zeros_are_named(project: Path, tmp_path: Path) -> None:
    from equicare.errors import ValidationError
    from equicare.project import check_project

    adm = pd.read_csv(project.parent / "admissions.csv", dtype=str)
    adm["municipality"] = adm["municipality"].str.lstrip("0")  # what a spreadsheet does to 08203
    adm.to_csv(tmp_path / "adm.csv", index=False)

    def edit(doc):
        doc["demand"]["file"] = str(tmp_path / "adm.csv")
    with pytest.raises(ValidationError, match=r"adm.csv, row 2, column 'municipality': .*leading zeros"):
        check_project(_variant(project, tmp_path, edit))


def test_absent_sections_are_skipped(project: Path, tmp_path: Path) -> None:
    from equicare.project import run_project

    def edit(doc):
        for k in ("demand", "forecast", "allocate"):
            doc.pop(k)
    out = tmp_path / "o"
    res = run_project(_variant(project, tmp_path, edit), out)
    assert res.project.stages() == ["ingest", "access", "inequality", "report"]
    assert (out / "access.csv").is_file() and (out / "report.html").is_file()
    assert not (out / "forecast.csv").exists() and not (out / "allocation.csv").exists()


def test_whatif_reshares_the_runs_needs(run: Path, project: Path) -> None:
    from equicare.project.allocation import whatif_allocation

    alloc = pd.read_csv(run / "allocation.csv", dtype={"region": str})
    stock = yaml.safe_load(project.read_text())["allocate"]["stock"]
    same, s0 = whatif_allocation(alloc, stock=stock)
    assert (same["change"] == 0).all()  # the same scenario gives the run's allocation
    more, s1 = whatif_allocation(alloc, stock=stock * 2)
    assert s1["min_share"] >= s0["min_share"] and more["allocated"].sum() > same["allocated"].sum()
    assert (more["allocated"] <= more["need"] + 1e-9).all()
