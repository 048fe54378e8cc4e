"""Forecast files that break the hub's rules are refused, with file, row (header = row 1) and rule (issue 11, item 10).

Rules as the hubverse checks them (hubValidations: check_tbl_value_col_ascending, check_tbl_rows_unique, the
derived task id target_end_date, check_tbl_values_required)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equicare.errors import ValidationError
from equicare.forecast import QUANTILES, load_forecasts, score, wis
from equicare.forecast.hub import check_forecasts, quantile_table

REF = pd.Timestamp("2024-01-13")
LV = np.asarray(QUANTILES)


def _fc(values: np.ndarray | None = None, locations=("01",), horizons=(0, 1)) -> pd.DataFrame:
    if values is None:
        values = np.tile(10 + 20 * (LV - 0.5), (len(locations), len(horizons), 1))
    return quantile_table(REF, list(locations), tuple(horizons), values)


def _truth() -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime(["2024-01-13", "2024-01-20"]), "location": ["01", "01"],
                         "value": [12.0, 3.0]})


def _write(tmp_path: Path, df: pd.DataFrame) -> Path:
    p = tmp_path / "fc.csv"
    df.to_csv(p, index=False)
    return p


def test_decreasing_quantiles_are_refused_naming_task_and_levels(tmp_path):
    df = _fc()
    df.loc[12, "value"] = 5.0  # level 0.55 below level 0.5 (10): a different forecast if re-sorted
    with pytest.raises(ValidationError) as e:
        load_forecasts(_write(tmp_path, df))
    msg = str(e.value)
    # data row 12 (0-based) is spreadsheet row 14
    assert "fc.csv, row 14, column 'value'" in msg
    assert "location 01, horizon 0" in msg and "level 0.5 = 10 (row 13) but level 0.55 = 5" in msg
    assert "np." not in msg


def test_equal_quantiles_are_allowed():
    df = _fc(np.full((1, 2, 23), 7.0))
    assert len(check_forecasts(df)) == 46


def test_duplicate_rows_for_a_task_and_level_are_refused(tmp_path):
    df = _fc()
    extra = df.iloc[[3]].assign(value=99.0)
    df = pd.concat([df, extra], ignore_index=True)
    with pytest.raises(ValidationError) as e:
        load_forecasts(_write(tmp_path, df))
    msg = str(e.value)
    assert "fc.csv, row 48, column 'output_type_id'" in msg and "level 0.1 (first at row 5)" in msg


def test_target_end_date_must_match_the_horizon(tmp_path):
    df = _fc()
    df.loc[23:45, "target_end_date"] = "2024-01-13"  # horizon 1 rows dated as horizon 0
    with pytest.raises(ValidationError) as e:
        load_forecasts(_write(tmp_path, df))
    p = e.value.problems[0]
    assert (p.file, p.row, p.column) == ("fc.csv", 25, "target_end_date")
    assert "expected 2024-01-20" in p.rule


def test_missing_levels_are_reported_not_silently_dropped(tmp_path):
    df = _fc().drop(index=[0, 22]).reset_index(drop=True)  # horizon 0 lacks 0.01 and 0.99
    f = load_forecasts(_write(tmp_path, df))
    r = score(_truth(), f)
    assert r["n_tasks"] == 1
    assert r["incomplete_tasks"] == [("2024-01-13", "01", 0, (0.01, 0.99))]


def test_score_command_refuses_broken_file_with_exit_2(tmp_path, run_cli):
    df = _fc()
    df.loc[12, "value"] = 5.0
    truth = tmp_path / "t.csv"
    truth.write_text("date,location,location_name,value\n2024-01-13,01,A,12\n2024-01-20,01,A,3\n")
    code, out, err = run_cli("score", "--forecasts", _write(tmp_path, df), "--truth", truth)
    assert code == 2 and "fc.csv, row 14, column 'value': quantiles decrease" in err and "Traceback" not in err
    good = _fc().drop(index=[0]).reset_index(drop=True)
    code, out, err = run_cli("score", "--forecasts", _write(tmp_path, good), "--truth", truth)
    assert code == 0, err
    assert "note: 1 task of the forecasts left out (not all 23 quantile levels)" in out and "lacks 0.01" in out


def test_submitted_values_are_scored_as_submitted():
    """WIS of a valid forecast equals the hand computation over its own (unsorted-by-us) quantiles."""
    vals = np.sort(np.random.default_rng(1).gamma(2.0, 5.0, 23))
    df = _fc(np.tile(vals, (1, 1, 1)), horizons=(0,))
    r = score(_truth(), df)
    y = 12.0
    hand = 2 * np.mean((y - vals) * (LV - (y < vals)))
    assert r["wis"] == pytest.approx(hand) and r["wis"] == pytest.approx(wis(np.array([y]), vals[None, :])[0])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=23, max_size=23), st.integers(0, 22))
def test_any_decrease_is_refused_and_any_nondecreasing_set_accepted(raw, k):
    vals = np.sort(np.asarray(raw))
    ok = check_forecasts(_fc(vals[None, None, :], horizons=(0,)))
    assert np.array_equal(ok["value"].to_numpy(), vals)
    if k > 0 and vals[k] > vals[k - 1]:
        bad = _fc(vals[None, None, :], horizons=(0,))
        # quantile_table sorts; break the order afterwards, as a hand-made file could
        bad.loc[k, "value"] = vals[k - 1] - 1e-3 if vals[k - 1] > 0 else -1.0
        with pytest.raises(ValidationError):
            check_forecasts(bad)
