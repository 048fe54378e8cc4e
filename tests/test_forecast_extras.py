"""The bundled training extras (NHSN history 2020-23, ILINet) and the product default that uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from equicare.errors import EquicareError
from equicare.forecast import bundled_path, forecast, load_truth
from equicare.forecast.extras import HISTORY_FILE, bundled_extras
from equicare.forecast.ilinet import load_ilinet
from equicare.forecast.run import make_model

REF = pd.Timestamp("2023-01-07")  # the bundled history runs to 2023-11-11, well past R - 7


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return load_truth(bundled_path("target-hospital-admissions.csv"))


def test_bundled_extras_are_the_shared_files(shared_data: Path) -> None:
    hist = shared_data / "flusight" / "history"
    ex = bundled_extras()
    pd.testing.assert_frame_equal(ex.history, load_truth(hist / "hhs-flu-admissions-2020-2023.csv"))
    ili = load_ilinet([hist / "ilinet_state.csv", hist / "ilinet_hhs.csv"])
    assert ex.augment.locations == ili.locations
    assert (ex.augment.dates == ili.dates).all()
    np.testing.assert_array_equal(ex.augment.values, ili.values)
    # ILINet weeks that start before the NHSN era only (the panel's dates are the weeks' ending Saturdays)
    assert ex.augment.dates.max() - pd.Timedelta(days=6) < pd.Timestamp("2020-07-01")
    assert bundled_extras(False).history is None and bundled_extras(False).augment is None
    assert bundled_path(HISTORY_FILE).is_file()


def test_bundled_target_is_the_shared_2024_25_file(shared_data: Path, truth: pd.DataFrame) -> None:
    """The bundled target file is the hub's revised file through 2024-25, and it agrees with the 2024-06-29 file on
    every value that file has (so the 2023-24 figures measured on it still hold)."""
    shared = load_truth(shared_data / "flusight" / "season-2024-25" / "target-hospital-admissions.csv")
    pd.testing.assert_frame_equal(truth, shared)
    old = load_truth(shared_data / "flusight" / "target-hospital-admissions.csv")
    m = old.merge(truth, on=["date", "location"], how="left", suffixes=("_old", ""))
    assert m["value"].notna().all() and (m["value"] == m["value_old"]).all()


def test_extras_obey_the_information_rule(truth: pd.DataFrame, tmp_path: Path) -> None:
    """Cutting the truth file and the history at R - 7 changes nothing: later history weeks are never seen."""
    ex = bundled_extras()
    last = REF - pd.Timedelta(days=7)
    path = tmp_path / "cut.csv"
    truth[truth["date"] <= last].to_csv(path, index=False, date_format="%Y-%m-%d")
    a = forecast(truth, REF, **ex.kwargs())
    b = forecast(load_truth(path), REF, history=ex.history[ex.history["date"] <= last], augment=ex.augment)
    pd.testing.assert_frame_equal(a, b)
    # the extras are used: without them the forecast differs
    assert not np.allclose(a["value"], forecast(truth, REF)["value"])


def test_models_that_cannot_use_ilinet_ignore_it(truth: pd.DataFrame) -> None:
    ex = bundled_extras()
    a = forecast(truth, REF, model="linear", **ex.kwargs())
    b = forecast(truth, REF, model="linear", history=ex.history)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(EquicareError, match="does not use extra training series"):
        make_model("linear", ex.augment)
    with pytest.raises(EquicareError, match="model name"):
        forecast(truth, REF, model=make_model("pooled_ar"), augment=ex.augment)


def test_cli_uses_extras_unless_told_not_to(truth: pd.DataFrame, tmp_path: Path, run_cli) -> None:
    on, off = tmp_path / "on.csv", tmp_path / "off.csv"
    assert run_cli("forecast", "--reference-date", "2024-01-06", "--out", on)[0] == 0
    assert run_cli("forecast", "--reference-date", "2024-01-06", "--out", off, "--no-extras")[0] == 0
    ex = bundled_extras()
    want_on = forecast(truth, "2024-01-06", **ex.kwargs())
    want_off = forecast(truth, "2024-01-06")
    got_on, got_off = pd.read_csv(on, dtype={"location": str}), pd.read_csv(off, dtype={"location": str})
    # forecast files carry 4 decimals (hub.WRITTEN_DECIMALS)
    np.testing.assert_allclose(got_on["value"], want_on["value"], rtol=0, atol=5.01e-5)
    np.testing.assert_allclose(got_off["value"], want_off["value"], rtol=0, atol=5.01e-5)
    assert not np.allclose(got_on["value"], got_off["value"])
