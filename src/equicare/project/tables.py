"""Reading the project's tabular files (CSV, XLSX, Parquet) with every cell kept as text.

:func:`read_tabular` is the one place the project reads a non-spatial table; it calls the data package's
reader, so a better reader there (encodings, delimiters, decimal marks) is picked up by changing one line.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from equicare.errors import Problem, ValidationError

#: File name endings read as spatial layers by :mod:`equicare.project.geo`.
GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".zip")


def is_spatial(path: str | Path) -> bool:
    """True for GeoJSON, GeoPackage, Shapefile (or a zipped one) and FlatGeobuf files."""
    return Path(path).suffix.lower() in GEO_SUFFIXES


def read_tabular(path: str | Path, *, sheet: str | int | None = None, delimiter: str | None = None,
                 decimal: str | None = None, encoding: str | None = None, ids=()) -> pd.DataFrame:
    """A CSV, XLSX or Parquet file as a frame of text cells (ids keep their leading zeros).

    ``ids``: id columns (matched ignoring case and surrounding spaces) where only a blank cell is missing, so
    that ``NA`` (Namibia) or ``-`` stay ids (elsewhere they are missing values).

    Rows are numbered as in the file by :func:`equicare.data.readers.sheet_row` (header = row 1).

    Raises
    ------
    ValidationError
        The file cannot be read (names the file), or an XLSX sheet does not exist (lists the sheets).
    """
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        # the common reader: duplicate column names refused, rows numbered as in the sheet (attrs["sheet_rows"])
        from equicare.data.readers import read_table

        return read_table(path, label=path.name, sheet=sheet, ids=ids)
    if delimiter or decimal or encoding:
        return _read_csv_declared(path, delimiter, decimal, encoding, ids)
    from equicare.data.load import read_file

    return read_file(path, label=path.name, ids=ids)


def _read_csv_declared(path: Path, delimiter: str | None, decimal: str | None, encoding: str | None,
                       ids=()) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep=delimiter or ",", dtype=str, keep_default_na=False, na_filter=False,
                         encoding=encoding or "utf-8-sig", skipinitialspace=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValidationError([Problem(path.name, None, None, f"cannot be read as CSV: {exc}")]) from exc
    df.columns = [str(c).strip() for c in df.columns]
    id_cols = {str(c).strip().lower() for c in ids}
    for c in df.columns:  # missing-value words are missing, except in id columns, where only a blank cell is
        words = [""] if c.lower() in id_cols else ["", "NA", "N/A", "NaN", "null", "-"]
        df[c] = df[c].where(~df[c].str.strip().isin(words))
    if decimal and decimal != ".":
        import re

        pattern = r"-?[\d.]*" + re.escape(decimal) + r"?\d*"
        grouped = r"[+-]?(\d{1,3}(\.\d{3})+|\d+)"  # only '.' thousands separators: 259, 1.443
        for c in df.columns:
            s = df[c].dropna()
            marked = s.str.fullmatch(pattern).all() and s.str.contains(re.escape(decimal)).any()
            dots = decimal == "," and s.str.fullmatch(grouped).all() and s.str.contains(".", regex=False).any()
            if len(s) and (marked or dots):
                df[c] = df[c].str.replace(".", "", regex=False).str.replace(decimal, ".", regex=False)
    return df


def read_costs(path: str | Path) -> pd.DataFrame:
    """A long or wide cost file (CSV, XLSX, Parquet) as ``origin, destination, cost`` with text ids."""
    from equicare.analyze.od_matrix import as_long

    path = Path(path)
    return as_long(read_tabular(path), path.name)
