"""The project file: keys and columns matched ignoring case, suggestions, paths relative to the file, the
missing-value policy, US FIPS only when declared, and the dashboard's scenario overrides."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from equicare.errors import EquicareError, ValidationError
from equicare.project import check_project, load_project
from equicare.project.run import apply_overrides

REGIONS = "Code,Name,Pop,lat,lon\n001,North,1000,1.0,36.0\n002,South,,1.2,36.2\n010,East,3000,1.1,36.5\n"
FACILITIES = "id,lat,lon,district,beds\nh1,1.0,36.0,001,10\nh2,1.2,36.2,002,20\n"


def _write(folder: Path, doc: dict) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "regions.csv").write_text(REGIONS)
    (folder / "data" / "fac.csv").write_text(FACILITIES)
    p = folder / "project.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def _doc(**extra) -> dict:
    doc = {"Name": "t", "Regions": {"File": "data/regions.csv", "ID": "code", "name": "NAME", "population": "pop",
                                    "lat": "LAT", "lon": "Lon"},
           "facilities": {"file": "data/fac.csv", "id": "id", "lat": "lat", "lon": "lon", "region": "District",
                          "capacity": "beds"}}
    doc.update(extra)
    return doc


def test_case_insensitive_keys_and_columns_relative_paths(tmp_path: Path) -> None:
    project, inp, lines = check_project(_write(tmp_path, _doc(missing="drop")))
    assert project.regions.file == (tmp_path / "data" / "regions.csv").resolve()
    assert inp.regions["id"].tolist() == ["001", "010"]  # text as written; the row without population dropped
    assert "regions: 2 from regions.csv" in lines and "stage forecast: skipped (no demand section)" in lines
    assert inp.report.to_frame()["step"].str.contains("missing").any()
    assert inp.facilities["id"].tolist() == ["h1"]  # h2's region was left out by the policy: reported, not an error
    # the default (flag): the blank population is unknown, the region and its facility stay
    _, inp, _ = check_project(_write(tmp_path, _doc()))
    assert inp.regions["id"].tolist() == ["001", "002", "010"] and inp.facilities["id"].tolist() == ["h1", "h2"]
    assert inp.regions["population"].isna().tolist() == [False, True, False]


def test_missing_policy_from_the_project_file(tmp_path: Path) -> None:
    _, inp, _ = check_project(_write(tmp_path, _doc(missing="impute_median")))
    assert inp.regions.set_index("id").loc["002", "population"] == 2000.0
    with pytest.raises(ValidationError, match=r"regions.csv, row 3, column 'Pop': population: missing value"):
        check_project(_write(tmp_path, _doc(missing="error")))


def test_us_fips_only_when_declared(tmp_path: Path) -> None:
    doc = _doc(missing="drop")
    doc["Regions"]["id_format"] = "us-fips"
    _, inp, _ = check_project(_write(tmp_path, doc))
    assert inp.regions["id"].tolist() == ["00001", "00010"]  # 3-4 digits are county codes: padded to 5
    doc["Regions"]["id_format"] = "fips"
    with pytest.raises(ValidationError, match="regions.id_format.*did you mean 'us-fips'"):  # noqa: RUF043
        load_project(_write(tmp_path, doc))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(acess={"method": "2sfca"}), "key 'acess': unknown key (did you mean 'access'?)"),
    (lambda d: d["Regions"].update(populaton="pop"), "key 'regions.populaton': unknown key (did you mean 'population'?)"),
    (lambda d: d.update(access={"method": "2sfcaa", "max_km": 5}), "did you mean '2sfca'"),
    (lambda d: d.update(allocate={"stock": "many", "need": "need_col"}), "key 'allocate.stock': bad value"),
    (lambda d: d["Regions"].update(file="nope.csv"), "key 'regions.file': file not found"),
    (lambda d: d.pop("Regions"), "key 'regions': required section is missing"),
])
def test_bad_project_files_are_named(tmp_path: Path, edit, message) -> None:
    doc = _doc()
    edit(doc)
    with pytest.raises(ValidationError) as e:
        load_project(_write(tmp_path, doc))
    assert message in str(e.value)
    assert "project.yaml" in str(e.value)


def test_overrides_replace_scenario_keys(tmp_path: Path) -> None:
    doc = _doc(allocate={"resource": "beds", "stock": 10, "need": "Pop"})
    p = load_project(_write(tmp_path, doc))
    q = apply_overrides(p, {"allocate.stock": 25.0, "allocate.severity": 3.0})
    assert (q.allocate.stock, q.allocate.severity, p.allocate.stock) == (25.0, 3.0, 10.0)
    with pytest.raises(EquicareError, match="did you mean 'stock'"):
        apply_overrides(p, {"allocate.stok": 1})
    with pytest.raises(EquicareError, match="no 'forecast' section"):
        apply_overrides(p, {"forecast.model": "linear"})


def test_service_refuses_project_files_outside_the_upload(tmp_path: Path) -> None:
    from equicare.service.projects_ui import confine, safe_name

    up = tmp_path / "upload"
    up.mkdir()
    doc = _doc()
    p = _write(tmp_path, doc)  # files in tmp_path/data, the project file in tmp_path
    confine(load_project(p), tmp_path)
    with pytest.raises(EquicareError, match="regions.file: regions.csv is not among the uploaded files"):
        confine(load_project(p), up)
    assert safe_name("../../etc/passwd") == "passwd" and safe_name("C:\\x\\r.csv") == "r.csv"


def test_service_confines_every_file_key(tmp_path: Path) -> None:
    """Every path a project names (prepared, travel.network, regions.file, ...) must lie in the upload."""
    from equicare.project.spec import TravelSpec
    from equicare.service.project_jobs import confine, project_paths

    up = tmp_path / "upload"
    up.mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text("file,step,column,count,detail\n")
    p = load_project(_write(up, _doc()))
    assert {k for k, _ in project_paths(p)} == {"regions.file", "facilities.file"}
    confine(p, up)
    for key, q in (("prepared", replace(p, prepared=outside)),
                   ("travel.network", replace(p, travel=TravelSpec(network=outside))),
                   ("facilities.file", replace(p, facilities=replace(p.facilities, file=outside)))):
        assert key in {k for k, _ in project_paths(q)}
        with pytest.raises(EquicareError, match=f"{key}: secret.csv is not among the uploaded files"):
            confine(q, up)
