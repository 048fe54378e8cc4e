"""A third trial on outside inputs: the faults found and fixed, each a kind of fault checked everywhere it
occurs.

1. a blank cell in one resource column made a facility leave every measure (now only that resource is unknown);
2. a measure that does not apply was an empty cell with nothing said (now a note says why);
3. ``export`` and ``forecast --series`` wrote whole numbers as ``120000.0`` (now one rule for every writer);
4. a date such as ``13/07/2024`` was read day-first without a word (now ISO, or a declared ``date_format``).

Every test runs the command line as a planner does (``equicare.cli.main``) or the library function behind it,
on small hand-made files, and checks the values by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    """Run ``equicare ARGV`` in this process; return (exit code, stdout + stderr)."""
    from equicare.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def _weekly(path: Path, n: int = 40, date_format: str = "%Y-%m-%d") -> None:
    """Two districts, weekly whole-number counts, dates written with ``date_format``."""
    rng = np.random.default_rng(3)
    dates = pd.date_range("2023-01-02", periods=n, freq="7D")
    rows = [(r, d.strftime(date_format), int(v)) for r in ("D1", "D2") for d, v in zip(dates, rng.poisson(40, n))]
    pd.DataFrame(rows, columns=["district", "week", "cases"]).to_csv(path, index=False)


# --- 3. whole-number columns are written as integers by every writer -----------------------------------------

def test_export_writes_whole_numbers_without_decimals(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("id,name,population,lat,lon\n001,A,120000,0.5,10\n002,B,80000,1.25,11\n")
    store = str(tmp_path / "s.duckdb")
    code, out = _cli(["load", str(tmp_path / "r.csv"), "--kind", "regions", "--store", store], capsys)
    assert code == 0, out
    code, out = _cli(["export", "1", "--out", str(tmp_path / "e.csv"), "--store", store], capsys)
    assert code == 0, out
    lines = (tmp_path / "e.csv").read_text().splitlines()
    assert lines[1].startswith("001,A,120000,0.5,10,") and lines[2].startswith("002,B,80000,1.25,11,"), lines
    assert ".0," not in "\n".join(lines)


def test_forecast_series_integer_writes_integers(tmp_path, capsys):
    _weekly(tmp_path / "w.csv")
    code, out = _cli(["forecast", "--series", str(tmp_path / "w.csv"), "--region", "district", "--date", "week",
                      "--value", "cases", "--model", "damped_trend", "--integer", "--out", str(tmp_path / "f.csv")],
                     capsys)
    assert code == 0, out
    text = (tmp_path / "f.csv").read_text().splitlines()
    header = text[0].split(",")
    k = header.index("value")
    values = [r.split(",")[k] for r in text[1:]]
    assert values and all(v.isdigit() for v in values), values[:5]
    q = header.index("output_type_id")
    assert "0.025" in {r.split(",")[q] for r in text[1:]}  # the quantile levels (fractions) stay as they are


def test_one_rule_for_whole_numbers():
    from equicare.csvout import csv_text

    df = pd.DataFrame({"beds": [120000.0, np.nan], "rate": [1.0, 2.5], "need": [-0.0, 3.0], "id": ["007", "010"]})
    assert csv_text(df).splitlines() == ["beds,rate,need,id", "120000,1.0,0,007", ",2.5,3,010"]
