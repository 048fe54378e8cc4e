"""The command line: help lists the commands; bad input gives a clear message, exit 2 and no stack trace."""

from __future__ import annotations

import subprocess
import sys

from equicare.store import Store


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "equicare", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_help_lists_commands():
    out = run("--help")
    assert out.returncode == 0
    for cmd in ("demo", "load", "forecast", "backtest", "score", "access", "inequality", "allocate", "locate",
                "serve", "users"):
        assert cmd in out.stdout, cmd


def test_load_rejects_broken_file_and_stores_nothing(tmp_path):
    store = tmp_path / "s.duckdb"
    good = tmp_path / "regions.csv"
    good.write_text("id,name,population,lat,lon\n1001,A,100,32.5,-86.5\n1003,B,200,30.5,-87.8\n")
    ok = run("load", str(good), "--kind", "regions", "--store", str(store), "--id-format", "us-fips")
    assert ok.returncode == 0, ok.stderr
    assert "stored 2 rows" in ok.stdout and "FIPS zero-padded" in ok.stdout
    bad = tmp_path / "facilities.csv"
    bad.write_text("id,name,region,lat,lon,cap_beds\nH1,A,01001,32.5,-86.4,-3\nH2,B,09999,30.6,-87.7,5\n")
    out = run("load", str(bad), "--kind", "facilities", "--store", str(store), "--regions", "regions",
              "--id-format", "us-fips")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "row 2, column 'cap_beds': must not be negative" in out.stderr
    assert "row 3, column 'region': unknown region id" in out.stderr
    with Store(store) as st:
        assert st.list_datasets().name.tolist() == ["regions"]


def test_missing_file_is_a_clear_error(tmp_path, run_cli):
    # in this process (the console entry point, tests/conftest.py): `load` already runs as its own process above
    code, _, err = run_cli("load", tmp_path / "nope.csv", "--kind", "costs", "--store", tmp_path / "s.duckdb")
    assert code == 2 and "cannot read file" in err and "Traceback" not in err


def test_the_program_ends_at_once_with_its_output_whole_and_its_status(tmp_path):
    """`python -m equicare` ends with os._exit after the command (no interpreter teardown): a large CSV written to
    a pipe arrives whole, and the exit status is the command's (0, or 2 for a user error)."""
    n = 6000
    (tmp_path / "d.csv").write_text("id,population,lat,lon\n" + "".join(
        f"{i:05d},{100 + i % 7},{40 + (i % 80) / 100},{-90 + (i // 80) / 100}\n" for i in range(n)))
    (tmp_path / "s.csv").write_text("id,capacity,lat,lon\nH1,50,40.2,-89.8\nH2,70,40.6,-89.6\n")
    out = run("access", "--demand", str(tmp_path / "d.csv"), "--supply", str(tmp_path / "s.csv"), "--method",
              "2sfca", "--max-km", "200", "--max-cost", "200")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == n + 1 and lines[1].startswith("00000,") and lines[-1].startswith(f"{n - 1:05d},")
    bad = run("access", "--demand", str(tmp_path / "nope.csv"), "--supply", str(tmp_path / "s.csv"), "--method",
              "2sfca", "--max-km", "200", "--max-cost", "200")
    assert bad.returncode == 2 and "nope.csv" in bad.stderr and "Traceback" not in bad.stderr
