"""The one tabular reader (equicare.data.readers): formats, encodings, delimiters, decimal marks, refusals,
row numbers (header = row 1) and plain values in messages."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equicare.data.readers import read_table, sheet_row, sheet_rows
from equicare.errors import Problem, ValidationError, plain


def _xlsx(sheets: dict[str, list[list]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---- issue 11 item 12: rows with more (or fewer) fields than the header --------------------------------------

def test_decimal_commas_in_a_comma_file_are_refused_not_shifted(tmp_path):
    p = tmp_path / "regions.csv"
    p.write_text("id,name,population,lat,lon\n01001,Autauga,58805,32,53,-86,64\n")
    with pytest.raises(ValidationError) as e:
        read_table(p)
    msg = str(e.value)
    assert f"{p}, row 2: row has 7 fields but the header has 5" in msg
    assert "decimal comma" in msg


def test_short_rows_are_refused_with_their_row_numbers():
    with pytest.raises(ValidationError) as e:
        read_table(b"id,a,b\nx,1,2\ny,1\n\nz,1,2,3\n", label="t.csv")
    rows = [p.row for p in e.value.problems]
    assert rows == [3, 5]
    assert "t.csv, row 3: row has 2 fields but the header has 3" in str(e.value)


# ---- item 13: duplicate column names -------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["id,population,population", "id,population,Population", "id, population ,population"])
def test_duplicate_column_names_are_refused_naming_the_column(header):
    with pytest.raises(ValidationError) as e:
        read_table(f"{header}\n1,2,3\n".encode(), label="r.csv")
    assert "r.csv, row 1, column" in str(e.value) and "duplicate column name" in str(e.value)
    assert "population.1" not in str(e.value)


def test_duplicate_columns_in_a_workbook_are_refused():
    data = _xlsx({"s": [["id", "beds", "beds"], ["a", 1, 2]]})
    with pytest.raises(ValidationError, match="column 'beds': duplicate column name"):
        read_table(data, label="h.xlsx")


# ---- ids stay text; delimiters, decimal marks and encodings ------------------------------------------------

def test_ids_stay_text_exactly_as_written():
    df = read_table(b"id,x\n001,1\n1,2\n0042,3\nD001,4\n", text=["id"])
    assert df["id"].tolist() == ["001", "1", "0042", "D001"]
    assert df["x"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert read_table(b"id,x\n001,1\n")["x"].tolist() == ["1"]  # text=True: every cell is text


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiter_is_detected(delim):
    body = delim.join(["code", "name", "beds"]) + "\n" + delim.join(["D001", "North", "12"]) + "\n"
    df = read_table(body.encode(), text=["code"])
    assert df.attrs["delimiter"] == delim
    assert df.to_dict("list") == {"code": ["D001"], "name": ["North"], "beds": [12.0]}


def test_semicolon_file_with_decimal_commas_and_thousands_dots():
    data = "id;name;population;lat\nD001;Nord;1.234,5;59,91\nD002;Süd;7;60,1\n".encode("cp1252")
    df = read_table(data, text=["id"])
    assert df.attrs["decimal"] == "," and df.attrs["encoding"] == "cp1252"
    assert df["population"].tolist() == [1234.5, 7.0]
    assert df["lat"].tolist() == [59.91, 60.1]
    assert df["name"].tolist() == ["Nord", "Süd"]


def test_declared_decimal_comma_in_a_comma_file_with_quotes():
    df = read_table(b'id,v\na,"1,5"\nb,"2"\n', decimal=",", text=["id"])
    assert df["v"].tolist() == [1.5, 2.0]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_encodings_are_detected(encoding):
    text = "id,name\nD001,Ñuñoa\nD002,Zürich café\n"
    df = read_table(text.encode(encoding))
    assert df.columns.tolist() == ["id", "name"]  # no BOM in the first name
    assert df["name"].tolist() == ["Ñuñoa", "Zürich café"]


def test_declared_encoding_that_does_not_fit_names_the_row():
    data = "id,name\nD001,A\nD002,Ñuñoa\n".encode("latin-1")
    with pytest.raises(ValidationError, match=r"t.csv, row 3: not valid utf-8 text"):
        read_table(data, label="t.csv", encoding="utf-8")
    assert read_table(data, encoding="latin-1")["name"].tolist() == ["A", "Ñuñoa"]


def test_gzip_csv():
    import gzip

    df = read_table(gzip.compress(b"id,x\n01,2\n"), text=["id"])
    assert df["id"].tolist() == ["01"] and df["x"].tolist() == [2.0]


# ---- XLSX and Parquet -----------------------------------------------------------------------------------------

def test_xlsx_sheet_by_name_or_position_and_cells_as_written():
    data = _xlsx({"Notes": [["read me"]],
                  "Hospitals": [["id", "beds", "opened"], ["001", 12, dt.datetime(2020, 1, 4)], [], [5, 1.5, None]]})
    df = read_table(data, sheet="hospitals", text=["id"])
    assert df["id"].tolist() == ["001", "5"]
    assert df["beds"].tolist() == [12.0, 1.5]
    assert df["opened"].iloc[0] == "2020-01-04" and pd.isna(df["opened"].iloc[1])
    assert sheet_rows(df, [0, 1]).tolist() == [2, 4]  # the blank row 3 still counts
    assert read_table(data, sheet=1, text=["id"]).equals(df)
    assert read_table(data).columns.tolist() == ["read me"]
    with pytest.raises(ValidationError, match="no sheet named 'x' \\(sheets: Notes, Hospitals\\)"):
        read_table(data, sheet="x")
    with pytest.raises(ValidationError, match="no sheet number 5"):
        read_table(data, sheet=5)


def test_parquet_by_magic_bytes(tmp_path):
    p = tmp_path / "named.csv"  # the name lies; the bytes decide
    pd.DataFrame({"id": ["001", "002"], "v": [1.5, None], "n": [3, 4]}).to_parquet(p)
    df = read_table(p, text=["id"])
    assert df["id"].tolist() == ["001", "002"] and df["n"].tolist() == [3.0, 4.0]
    assert df["v"].iloc[0] == 1.5 and np.isnan(df["v"].iloc[1]) and df.attrs["format"] == "parquet"


def test_empty_files_are_refused():
    with pytest.raises(ValidationError, match="file is empty"):
        read_table(b"  \n", label="e.csv")
    assert read_table(b"a,b\n").empty


# ---- item 14: row numbers (header = row 1) --------------------------------------------------------------------

def test_blank_rows_are_dropped_but_keep_their_numbers():
    df = read_table(b"id,x\na,1\n\n\nb,-2\n", text=["id"])
    assert df["id"].tolist() == ["a", "b"]
    assert sheet_rows(df, [0, 1]).tolist() == [2, 5]
    neg = df[df["x"] < 0]
    assert sheet_row(neg, 0) == 5  # a filtered view keeps its rows
    assert sheet_rows(pd.DataFrame({"a": [1, 2, 3]}), [2]).tolist() == [4]  # a frame made in code: index + 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(-5, 5)), min_size=1, max_size=30),
       st.sampled_from([",", ";", "\t"]))
def test_row_numbers_match_the_lines_of_the_file(rows, delim):
    lines = ["id" + delim + "v"]
    expected = {}
    for k, (blank_before, v) in enumerate(rows):
        if blank_before:
            lines.append("")
        lines.append(f"r{k}{delim}{v}")
        expected[f"r{k}"] = len(lines)  # 1-based line number = spreadsheet row
    df = read_table(("\n".join(lines) + "\n").encode(), text=["id"])
    got = dict(zip(df["id"], sheet_rows(df, np.arange(len(df)))))
    assert got == expected


# ---- plain values in messages -------------------------------------------------------------------------------

def test_values_in_messages_are_plain_numbers():
    assert str(Problem("f.csv", np.int64(3), "x", "bad", np.int64(-3))) == "f.csv, row 3, column 'x': bad (value: -3)"
    assert "np." not in str(Problem("f.csv", 2, "x", "bad", np.float64("nan")))
    assert str(Problem("f.csv", 2, "x", "bad", np.float64(2.5))).endswith("(value: 2.5)")
    assert str(Problem("f.csv", 2, "x", "bad", "abc")).endswith("(value: 'abc')")
    assert plain(np.float64(58805.0)) == 58805 and plain(np.bool_(True)) is True


# ---- the load command and loader take the reader's options ------------------------------------------------

def test_load_command_reads_xlsx_sheet_and_semicolon_latin1(tmp_path, run_cli):
    store = tmp_path / "s.duckdb"
    x = tmp_path / "regions.xlsx"
    x.write_bytes(_xlsx({"Notes": [["x"]], "Regions": [["id", "name", "population", "lat", "lon"],
                                                       ["D001", "Nord", 1200, 59.9, 10.7],
                                                       ["D002", "Sør", 800, 58.1, 7.9]]}))
    code, out, err = run_cli("load", x, "--kind", "regions", "--sheet", "1", "--store", store, "--name", "r1")
    assert code == 0, err
    assert "stored 2 rows" in out
    c = tmp_path / "regions.csv"
    c.write_bytes("id;name;population;lat;lon\nD001;Nord;1200;59,9;10,7\nD002;Sør;-5;58,1;7,9\n".encode("latin-1"))
    code, out, err = run_cli("load", c, "--kind", "regions", "--store", store, "--name", "r2")
    assert code == 2 and "regions.csv, row 3, column 'population': must not be negative" in err
    assert "(value: -5)" in err and "np." not in err


def test_load_refuses_shifted_rows(tmp_path, run_cli):
    p = tmp_path / "regions.csv"
    p.write_text("id,name,population,lat,lon\n01001,Autauga,58805,32,53,-86,64\n")
    code, out, err = run_cli("load", p, "--kind", "regions", "--store", tmp_path / "s.duckdb")
    assert code == 2 and "row 2: row has 7 fields but the header has 5" in err and "Traceback" not in err


# ---- property: any table written in any supported dialect reads back as written ------------------------------

_ID = st.text(alphabet="0123456789ABCDÆØÅéñ-_", min_size=1, max_size=6).filter(lambda s: s != "-")  # "-" means missing
_NAME = st.text(alphabet="abcdefghij ÆØÅéñüß'", min_size=1, max_size=10).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_ID, _NAME, st.integers(-10**6, 10**6), st.floats(-1e4, 1e4, allow_nan=False).map(
           lambda x: round(x, 3))), min_size=1, max_size=15, unique_by=lambda r: r[0]),
       st.sampled_from([(",", "."), (";", ","), ("\t", "."), ("|", "."), (";", ".")]),
       st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_round_trip_in_any_dialect(rows, dialect, encoding):
    delim, dec = dialect

    def num(x: float) -> str:
        s = repr(float(x))
        return s.replace(".", ",") if dec == "," else s

    lines = [delim.join(["id", "name", "count", "share"])]
    lines += [delim.join([i, n, str(c), num(x)]) for i, n, c, x in rows]
    df = read_table(("\n".join(lines) + "\n").encode(encoding), text=["id", "name"])
    assert df["id"].tolist() == [r[0] for r in rows]
    assert df["name"].tolist() == [r[1] for r in rows]
    assert df["count"].tolist() == [float(r[2]) for r in rows]
    assert df["share"].tolist() == pytest.approx([r[3] for r in rows])
    assert df.attrs["delimiter"] == delim
    assert sheet_rows(df, np.arange(len(rows))).tolist() == list(range(2, len(rows) + 2))


def test_find_column_ignores_case_and_suggests():
    from equicare.data.readers import find_column

    df = read_table(b"Code,Population ,week_ending\nD1,3,2024-01-06\n")
    assert find_column(df, "code") == "Code" and find_column(df, " POPULATION") == "Population"
    with pytest.raises(ValidationError) as e:
        find_column(df, "populaton", label="r.csv", what="regions.population")
    assert "r.csv, row 1, column 'populaton': no such column (regions.population); did you mean 'Population'?" \
        in str(e.value)
    with pytest.raises(ValidationError, match="columns found: Code, Population, week_ending"):
        find_column(df, "zzz")


def test_blank_lines_above_the_header_and_excel_sep_line():
    df = read_table(b"\n\nid,x\na,1\n", text=["id"])
    assert df.columns.tolist() == ["id", "x"] and sheet_rows(df, [0]).tolist() == [4]
    df = read_table(b"sep=;\nid;x\na;1,5\n", text=["id"])
    assert df["x"].tolist() == [1.5] and sheet_rows(df, [0]).tolist() == [3]
    with pytest.raises(ValidationError, match="row 4: row has 3 fields"):
        read_table(b"\nid,x\na,1\nb,2,3\n")
