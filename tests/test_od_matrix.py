"""Cost files in the wide spreadsheet layout, and `equicare access --max-km` from coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from equicare.analyze.od_matrix import as_long, is_wide, wide_to_long
from equicare.cli import app
from equicare.errors import ValidationError


def test_wide_matrix_equals_long_table() -> None:
    wide = pd.DataFrame({"district": ["D001", "D002"], "H1": ["12.5", ""], "H2": ["3", "7,25"]}, dtype=str)
    assert is_wide(wide)
    long = as_long(wide, "m.csv")
    assert long.to_dict("list") == {"origin": ["D001", "D001", "D002"], "destination": ["H1", "H2", "H2"],
                                    "cost": [12.5, 3.0, 7.25]}
    back = as_long(pd.DataFrame({"Origin": ["a"], "DESTINATION": ["b"], "Cost": ["1"]}))
    assert list(back.columns) == ["origin", "destination", "cost"]


def test_wide_matrix_bad_cell_named() -> None:
    wide = pd.DataFrame({"id": ["D001", "D002"], "H1": ["1", "far"]}, dtype=str)
    with pytest.raises(ValidationError, match="m.csv, row 3, column 'H1': cost must be a number"):
        wide_to_long(wide, "m.csv")


def _haversine(la1, lo1, la2, lo2):
    la1, lo1, la2, lo2 = map(np.radians, (la1, lo1, la2, lo2))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(h))


def test_access_from_coordinates_matches_cost_file(tmp_path) -> None:
    rng = np.random.default_rng(3)
    dem = pd.DataFrame({"id": [f"D{i:03d}" for i in range(40)], "population": rng.integers(1000, 9000, 40),
                        "Lat": rng.uniform(-1.5, 1.5, 40), "Lon": rng.uniform(36, 38, 40)})
    sup = pd.DataFrame({"id": [f"H{i}" for i in range(15)], "beds": rng.integers(5, 80, 15),
                        "latitude": rng.uniform(-1.5, 1.5, 15), "longitude": rng.uniform(36, 38, 15)})
    d = _haversine(dem["Lat"].to_numpy()[:, None], dem["Lon"].to_numpy()[:, None],
                   sup["latitude"].to_numpy()[None, :], sup["longitude"].to_numpy()[None, :])
    wide = pd.DataFrame(np.where(d <= 60, d, np.nan), columns=sup["id"]).round(9)
    wide.insert(0, "origin", dem["id"])
    dem.to_csv(tmp_path / "d.csv", index=False)
    sup.to_csv(tmp_path / "s.csv", index=False)
    wide.to_csv(tmp_path / "wide.csv", index=False)
    r = CliRunner()
    common = ["access", "--demand", str(tmp_path / "d.csv"), "--supply", str(tmp_path / "s.csv"), "--method",
              "2sfca", "--supply-value", "beds"]
    a = r.invoke(app, [*common, "--max-km", "60", "--out", str(tmp_path / "a.csv")])
    assert a.exit_code == 0, a.output
    b = r.invoke(app, [*common, "--cost", str(tmp_path / "wide.csv"), "--max-cost", "60", "--out",
                       str(tmp_path / "b.csv")])
    assert b.exit_code == 0, b.output
    x, y = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    np.testing.assert_allclose(x["2sfca_beds"], y["2sfca_beds"], rtol=1e-7)
    assert (x["2sfca_beds"] > 0).any()
