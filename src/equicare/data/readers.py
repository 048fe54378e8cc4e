"""The one tabular reader: CSV (any delimiter, decimal mark and encoding), XLSX and Parquet, with row numbers.

Every command, loader and upload reads tables through :func:`read_table`, so every file gets the same rules:

- **Format** from the bytes, not the name: Parquet (``PAR1``), XLSX (a zip archive, read with openpyxl), gzip
  (decompressed, then sniffed again), otherwise delimited text.
- **Encoding** declared or detected: UTF-8 with or without byte-order mark, else Windows-1252 (a superset of
  Latin-1 for printable text), else Latin-1.
- **Delimiter** declared or detected among ``,`` ``;`` tab ``|``: the candidate that splits the header into the
  most fields with every sampled row agreeing.  **Decimal mark** declared or detected: a ``,`` decimal mark is
  assumed for non-comma files whose numeric-looking columns use it (``1,5`` / ``1.234,5``); such columns are
  rewritten with a ``.`` decimal mark and no thousands separator.
- **Refused** (:class:`~equicare.errors.ValidationError` naming file, row and rule): a row whose field count
  differs from the header's (the usual sign of decimal commas in a comma-separated file, which would otherwise
  shift values into the wrong columns), a duplicate column name (pandas would silently rename it
  ``population.1``), an empty file, an unknown sheet, bytes that are not text in the declared encoding.
- **Ids stay text exactly as written**: every cell is read as text (whitespace around it removed); columns are
  turned into numbers only when asked (``text=`` lists the columns to keep as text) and only when every cell
  of the column is a number.  Nothing is zero-padded here.
- **Row numbers** are those a spreadsheet shows: the header is row 1, blank rows count.  Blank rows are
  dropped; :func:`sheet_rows` maps positions of the returned frame (or of a filtered view that kept its
  index) back to those numbers, and every reader's messages use it.

The source (Python's :mod:`csv` dialect rules, RFC 4180 quoting) is parsed by ``pyarrow.csv``.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from equicare.errors import EquicareError, Problem, ValidationError

#: Cell texts read as missing.
NA_VALUES: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "Not Available", "-")
#: Delimiters tried when none is declared, in order of preference on a tie.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
#: Encodings accepted by name (others known to Python work too).
ENCODINGS: tuple[str, ...] = ("utf-8", "utf-8-sig", "cp1252", "latin-1")
MAX_PROBLEMS = 50
MAX_COLUMNS = 1000  # a table wider than this is refused before any per-column work (a 5 KB XLSX can be 16,384 wide)

_NUM_DOT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_NUM_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")
_SAMPLE_LINES = 200

Source = str | Path | bytes | IO[bytes]


class SheetRows:
    """Spreadsheet row numbers of a frame's rows, kept in ``DataFrame.attrs["sheet_rows"]``.

    Immutable; compares by value and is shared, not copied, when pandas copies ``attrs`` (a bare array there
    would make pandas' attribute checks in ``merge``/``concat`` fail).
    """

    __slots__ = ("rows",)

    def __init__(self, rows: Iterable[int]) -> None:
        self.rows = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, dtype=int)
        self.rows.setflags(write=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SheetRows) and np.array_equal(self.rows, other.rows)

    def __hash__(self) -> int:
        return hash((len(self.rows), int(self.rows[0]) if len(self.rows) else 0))

    def __len__(self) -> int:
        return len(self.rows)

    def __deepcopy__(self, memo: dict) -> SheetRows:
        return self

    def __repr__(self) -> str:
        return f"SheetRows({self.rows.tolist()[:5]}{'...' if len(self.rows) > 5 else ''})"


def sheet_rows(df: pd.DataFrame, positions: Iterable[int] | np.ndarray) -> np.ndarray:
    """Spreadsheet row numbers (header = row 1) of the rows at ``positions`` of ``df``.

    ``df`` is a frame returned by :func:`read_table` or a view of it that kept its index (e.g. ``df[mask]``);
    positions are 0-based positions in ``df``, as :func:`numpy.flatnonzero` gives them.  For frames not made
    by :func:`read_table` the row is the position's index label + 2 (a default index after a header row).

    Examples
    --------
    >>> df = read_table(b"id,x\\n a,1\\n\\nb,2\\n")
    >>> sheet_rows(df, [0, 1]).tolist()
    [2, 4]
    """
    pos = np.asarray(list(positions) if not isinstance(positions, np.ndarray) else positions, dtype=int)
    if pos.dtype == bool:
        pos = np.flatnonzero(pos)
    labels = np.asarray(df.index)[pos] if len(pos) else np.zeros(0, dtype=int)
    rows = df.attrs.get("sheet_rows")
    if rows is not None and np.issubdtype(np.asarray(labels).dtype, np.integer):
        rows = rows.rows if isinstance(rows, SheetRows) else np.asarray(rows)
        if len(labels) == 0 or (labels.min() >= 0 and labels.max() < len(rows)):
            return rows[labels].astype(int)
    if np.issubdtype(np.asarray(labels).dtype, np.integer):
        return np.asarray(labels, dtype=int) + 2
    return pos + 2


def sheet_row(df: pd.DataFrame, position: int) -> int:
    """Spreadsheet row number (header = row 1) of the row at ``position`` of ``df`` (see :func:`sheet_rows`)."""
    return int(sheet_rows(df, [int(position)])[0])


def rows_text(df: pd.DataFrame, mask: pd.Series | np.ndarray, most: int = 10) -> str:
    """``row 3`` / ``rows 3, 7, 9`` (header = row 1) of the rows of ``df`` where ``mask`` is true, the first
    ``most`` named and the rest counted (``rows 2, 3 and 12 more``)."""
    pos = np.flatnonzero(np.asarray(mask, dtype=bool))
    rows = [str(r) for r in sheet_rows(df, pos[:most])]
    more = f" and {len(pos) - most:,} more" if len(pos) > most else ""
    return f"row{'s' if len(pos) != 1 else ''} {', '.join(rows)}{more}"


def mask_rows(df: pd.DataFrame, mask: pd.Series | np.ndarray) -> np.ndarray:
    """Spreadsheet row numbers of the rows of ``df`` where ``mask`` is true."""
    return sheet_rows(df, np.flatnonzero(np.asarray(mask, dtype=bool)))


def find_column(df: pd.DataFrame, name: str, *, label: str = "table", what: str | None = None) -> str:
    """The column of ``df`` called ``name``, matched ignoring case and surrounding spaces.

    Raises
    ------
    ValidationError
        No such column: names the file (``label``), the column asked for (and ``what`` it is for) and suggests
        the closest names (:func:`difflib.get_close_matches`) or lists the columns.

    Examples
    --------
    >>> find_column(pd.DataFrame(columns=["Code", "Population"]), "code")
    'Code'
    """
    import difflib

    key = str(name).strip().lower()
    for c in df.columns:
        if str(c).strip().lower() == key:
            return str(c)
    cols = [str(c) for c in df.columns]
    close = difflib.get_close_matches(key, [c.lower() for c in cols], n=3, cutoff=0.6)
    close = [next(c for c in cols if c.lower() == m) for m in close]
    hint = (f"did you mean {' or '.join(repr(c) for c in close)}?" if close
            else f"columns found: {', '.join(cols)}")
    purpose = f" ({what})" if what else ""
    raise ValidationError([Problem(label, 1, str(name), f"no such column{purpose}; {hint}")])


def _label_of(source: Source, label: str | None) -> str:
    if label:
        return label
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", None) or "upload"


def _read_bytes(source: Source, label: str) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, (str, Path)):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise EquicareError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    try:
        data = source.read()
    except OSError as exc:
        raise EquicareError(f"{label}: cannot read file ({exc})") from exc
    return data.encode() if isinstance(data, str) else bytes(data)


def _decode(data: bytes, encoding: str | None, label: str) -> tuple[str, str]:
    """Text and the encoding used: the declared one, or UTF-8 (BOM or not), else Windows-1252, else Latin-1."""
    if encoding:
        enc = encoding.lower().replace("_", "-")
        if enc in ("utf8", "utf-8") and data.startswith(b"\xef\xbb\xbf"):
            enc = "utf-8-sig"
        try:
            return data.decode(enc), enc
        except LookupError:
            raise EquicareError(f"{label}: unknown encoding {encoding!r} (try utf-8, cp1252 or latin-1)") from None
        except UnicodeDecodeError as exc:
            row = data[: exc.start].count(b"\n") + 1
            raise ValidationError([Problem(label, row, None, f"not valid {encoding} text (byte "
                                                             f"0x{data[exc.start]:02x}); declare the file's encoding, "
                                                             "e.g. cp1252 or latin-1")]) from None
    if data.startswith(b"\xef\xbb\xbf"):
        enc = "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16"
    else:
        enc = "utf-8"
    for candidate in (enc, "cp1252", "latin-1"):
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise ValidationError([Problem(label, None, None, "cannot be decoded as text")])  # pragma: no cover


def _head(text: str, size: int = 1 << 18) -> str:
    """The start of a text, enough for sampling lines without splitting a large file."""
    return text[:size]


def _split(line: str, delim: str) -> int:
    """Field count of one sampled line (quotes respected)."""
    import csv

    try:
        return len(next(csv.reader([line], delimiter=delim)))
    except (StopIteration, csv.Error):
        return 0


def detect_delimiter(text: str) -> str:
    """The delimiter among :data:`DELIMITERS` that gives the header the most fields with the sample agreeing.

    A candidate scores (share of sampled rows with the header's field count, header field count); a
    candidate that leaves the header whole (one field) scores lowest.  Ties keep the order of
    :data:`DELIMITERS`.
    """
    lines = [ln for ln in _head(text).splitlines()[:_SAMPLE_LINES] if ln.strip()]
    if not lines:
        return ","
    best, best_score = ",", (-1.0, 0)
    for d in DELIMITERS:
        n = _split(lines[0], d)
        if n <= 1:
            continue
        rest = lines[1:]
        share = (sum(_split(ln, d) == n for ln in rest) / len(rest)) if rest else 1.0
        score = (share, n)
        if score > best_score:
            best, best_score = d, score
    return best


def _skip_preamble(text: str) -> tuple[str, int, str | None]:
    """Drop blank lines before the header and Excel's ``sep=;`` line; return the text, the lines dropped and
    the delimiter the ``sep=`` line names (if any)."""
    skipped, hinted = 0, None
    while True:
        nl = text.find("\n")
        line = text if nl < 0 else text[:nl]
        if not line.strip() and nl >= 0:
            text, skipped = text[nl + 1:], skipped + 1
            continue
        m = re.fullmatch(r"\s*\"?sep=(.)\"?\s*", line)
        if m and hinted is None and nl >= 0:
            hinted, text, skipped = m.group(1), text[nl + 1:], skipped + 1
            continue
        return text, skipped, hinted


def _parse_text(text: str, delim: str, label: str, offset: int = 0) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    """Header, body cells (text, whitespace trimmed) and their spreadsheet rows (``offset`` lines were dropped
    above the header); refuses ragged rows."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    first = next((ln for ln in _head(text).splitlines() if ln.strip()), "")
    ncol = max(_split(first, delim), 1)
    bad: list[tuple[int, int]] = []

    def on_bad(row) -> str:
        bad.append((row.number, row.actual_columns))
        return "skip"

    names = [f"c{j}" for j in range(ncol)]
    try:
        table = pcsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 24),
            parse_options=pcsv.ParseOptions(delimiter=delim, newlines_in_values=True, ignore_empty_lines=False,
                                            invalid_row_handler=on_bad),
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, ValueError) as exc:
        raise ValidationError([Problem(label, None, None, f"cannot be read as a delimited text file ({exc})")]) from exc
    if bad:
        hint = ""
        if delim == "," and any(n > ncol for _, n in bad):
            hint = ("; decimal commas in a comma-separated file? quote such values, or save the file with "
                    "';' as delimiter")
        problems = [Problem(label, int(r) + offset if r is not None else None, None,
                            f"row has {n} field{'s' if n != 1 else ''} but the header has {ncol}{hint}") for r, n in bad[:MAX_PROBLEMS]]
        if len(bad) > MAX_PROBLEMS:
            problems.append(Problem(label, None, None, f"... and {len(bad) - MAX_PROBLEMS} more rows with the "
                                                       "wrong number of fields"))
        raise ValidationError(problems)
    if table.num_rows == 0:
        raise ValidationError([Problem(label, None, None, "file is empty")])
    trimmed = pa.table({n: pc.utf8_trim_whitespace(table.column(n)) for n in names})
    header = [str(v) for v in trimmed.slice(0, 1).to_pylist()[0].values()]
    body = trimmed.slice(1).to_pandas()
    rows = np.arange(2, table.num_rows + 1) + offset
    return header, body, rows


def _cell_text(v: object) -> object:
    """An XLSX/Parquet cell as the text a CSV would hold (numbers plain, dates ISO); None stays missing."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if np.isfinite(f) and f.is_integer() and abs(f) < 1e15:
            return str(int(f))
        return repr(f)
    if hasattr(v, "isoformat"):
        ts = pd.Timestamp(v)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat()
    return str(v).strip()


def _read_xlsx(data: bytes, sheet: str | int | None, label: str) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValidationError([Problem(label, None, None, f"cannot be read as an XLSX workbook ({exc})")]) from exc
    try:
        names = wb.sheetnames
        if isinstance(sheet, str) and sheet.strip().isdigit() and sheet.strip() not in names:
            sheet = int(sheet.strip())  # "2" from a command line or form: a position unless a sheet is so named
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise ValidationError([Problem(label, None, None, f"no sheet number {sheet} (sheets are numbered from "
                                                                  f"0; the workbook has {len(names)}: "
                                                                  f"{', '.join(names)})")])
            ws = wb.worksheets[sheet]
        else:
            match = [n for n in names if n == str(sheet)] or [n for n in names if n.lower() == str(sheet).lower()]
            if not match:
                raise ValidationError([Problem(label, None, None, f"no sheet named {str(sheet)!r} (sheets: "
                                                                  f"{', '.join(names)})")])
            ws = wb[match[0]]
        if hasattr(ws, "reset_dimensions"):
            # the sheet's own <dimension> tag is not trusted: "A1:XFD1048576" in a 5 KB file would make every
            # row 16,384 cells wide and a million rows long; rows are read as they are stored
            ws.reset_dimensions()
        records: list[tuple[int, list]] = []
        for r, row in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in row]
            if any(c not in (None, "") for c in cells):
                records.append((r, cells))
    finally:
        wb.close()
    if not records:
        raise ValidationError([Problem(label, None, None, "the sheet is empty")])
    head_row, header = records[0]
    width = max(len(c) for _, c in records)
    while width > 0 and all(len(c) < width or c[width - 1] in (None, "") for _, c in records):
        width -= 1
    header = [("" if c is None else c) for c in (header + [None] * width)[:width]]
    body = [(c + [None] * width)[:width] for _, c in records[1:]]
    rows = np.asarray([r for r, _ in records[1:]], dtype=int) - head_row + 1
    frame = pd.DataFrame(body, columns=[f"c{j}" for j in range(width)], dtype=object)
    return header, frame, rows


def _read_parquet(data: bytes, label: str) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several error types for damaged files
        raise ValidationError([Problem(label, None, None, f"cannot be read as Parquet ({exc})")]) from exc
    header = [str(n) for n in table.column_names]
    frame = pd.DataFrame({f"c{j}": table.column(j).to_pandas().astype(object).map(_cell_text).to_numpy(object)
                          for j in range(table.num_columns)})
    return header, frame, np.arange(2, table.num_rows + 2)


def _check_header(header: list[str], label: str) -> list[str]:
    names = [h.strip().lstrip("\ufeff").strip() if isinstance(h, str) else str(h) for h in header]
    names = [n if n else f"column_{j + 1}" for j, n in enumerate(names)]
    seen: dict[str, int] = {}
    problems = []
    for j, n in enumerate(names):
        key = n.lower()
        if key in seen:
            first = names[seen[key]]
            same = "twice" if first == n else f"twice (as {first!r} and {n!r}; names are matched ignoring case)"
            problems.append(Problem(label, 1, n, f"duplicate column name: the header names this column {same}; "
                                                 "rename one of them"))
        else:
            seen[key] = j
    if problems:
        raise ValidationError(problems)
    return names


def _decimal_comma_columns(body: pd.DataFrame, missing: pd.DataFrame, declared: bool = False) -> list[str]:
    """Columns written with a ',' decimal mark: numbers like ``1.234,5``, at least one with a ','; with the mark
    ``declared``, also a column whose only marks are '.' thousands separators (``259``, ``1.443``)."""
    out = []
    for c in body.columns:
        s = body[c][~missing[c]].astype(str)
        mark = s.str.contains(",", regex=False).any() or (declared and s.str.contains(".", regex=False).any())
        if len(s) and mark and s.str.fullmatch(_NUM_COMMA).all():
            out.append(c)
    return out


def read_table(source: Source, *, label: str | None = None, sheet: str | int | None = None,
               delimiter: str | None = None, decimal: str | None = None, encoding: str | None = None,
               text: bool | Iterable[str] = True, na_values: Iterable[str] = NA_VALUES,
               ids: Iterable[str] = ()) -> pd.DataFrame:
    """Read a CSV (or other delimited text), XLSX or Parquet table.

    Parameters
    ----------
    source : a path, the raw bytes of an upload, or a binary file object.
    label : the name used in messages (default: the path as given, else ``"upload"``).
    sheet : XLSX sheet, by name (case-insensitive when unambiguous) or 0-based position (an int, or a text of
        digits that is not a sheet's name); default the first.
    delimiter : ``","``, ``";"``, ``"\\t"`` or ``"|"`` (also ``"tab"``); default detected.
    decimal : ``"."`` or ``","``; default detected (``","`` only for non-comma-delimited text).
    encoding : e.g. ``"utf-8"``, ``"cp1252"``, ``"latin-1"``; default detected.
    text : ``True`` (default): every column is text.  An iterable of column names (matched ignoring case):
        those columns stay text and every other column whose cells are all numbers (or missing) becomes
        ``float64``.  ``False``: no column is kept as text on purpose.
    na_values : cell texts read as missing (after trimming).
    ids : id columns (matched ignoring case and surrounding spaces) whose cells are kept exactly as written:
        only a blank cell is missing there, so ``NA`` (Namibia), ``None`` or ``-`` stay ids.

    Returns
    -------
    pandas.DataFrame
        One row per non-blank data row; text cells are Python ``str`` (missing: ``NaN``).  ``attrs`` holds
        ``sheet_rows`` (spreadsheet row of each row, header = 1), ``format`` (``csv``, ``xlsx``, ``parquet``),
        and for text files ``encoding``, ``delimiter`` and ``decimal``.

    Raises
    ------
    ValidationError
        Naming the file, row and rule: empty file, rows whose field count differs from the header's, a
        duplicate column name, an unknown sheet, text not valid in the declared encoding.
    EquicareError
        The file cannot be opened.

    Examples
    --------
    >>> df = read_table("id;name;population\\n001;Nordland;12,5\\n".encode("cp1252"), text=["id"])
    >>> df["id"].tolist(), df["population"].tolist(), df.attrs["delimiter"], df.attrs["decimal"]
    (['001'], [12.5], ';', ',')
    """
    label = _label_of(source, label)
    data = _read_bytes(source, label)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ValidationError([Problem(label, None, None, f"damaged gzip file ({exc})")]) from exc
    if not data.strip():
        raise ValidationError([Problem(label, None, None, "file is empty")])
    attrs: dict = {}
    if data[:4] == b"PAR1":
        header, body, rows = _read_parquet(data, label)
        attrs["format"] = "parquet"
    elif data[:4] == b"PK\x03\x04":
        header, body, rows = _read_xlsx(data, sheet, label)
        attrs["format"] = "xlsx"
    else:
        txt, enc = _decode(data, encoding, label)
        txt, skipped, hinted = _skip_preamble(txt)
        delim = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter) if delimiter else (hinted or detect_delimiter(txt))
        if delim not in DELIMITERS and len(delim) != 1:
            raise EquicareError(f"{label}: delimiter must be one character such as ',', ';', tab or '|'")
        header, body, rows = _parse_text(txt, delim, label, offset=skipped)
        attrs.update(format="csv", encoding=enc, delimiter=delim)
    if len(header) > MAX_COLUMNS:
        raise ValidationError([Problem(label, None, None, f"too many columns: {len(header):,} (at most "
                                                          f"{MAX_COLUMNS:,})")])
    names = _check_header(header, label)
    body.columns = names
    na = set(na_values)
    missing = body.isna() | body.isin(list(na))  # a boolean frame even when empty
    id_cols = {str(c).strip().lower() for c in ids}
    for c in body.columns:
        if str(c).strip().lower() in id_cols:  # an id is never a missing-value word, only a blank cell
            missing[c] = body[c].isna() | (body[c].astype(str).str.strip() == "")
    blank = missing.all(axis=1).to_numpy()
    if blank.any():
        body, missing, rows = body[~blank], missing[~blank], rows[~blank]
    body = body.where(~missing)

    dec = decimal
    if attrs.get("format") == "csv":
        if dec not in (None, ".", ","):
            raise EquicareError(f"{label}: decimal mark must be '.' or ','")
        comma_cols = _decimal_comma_columns(body, missing) if dec != "." and attrs["delimiter"] != "," else []
        if dec == ",":  # declared: '.' is a thousands separator, also in a column without any ',' (1.443)
            comma_cols = _decimal_comma_columns(body, missing, declared=True)
        if dec is None:
            dec = "," if comma_cols else "."
        for c in comma_cols:
            s = body[c]
            ok = ~missing[c]
            body.loc[ok, c] = s[ok].astype(str).str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        attrs["decimal"] = dec

    keep_text = text is True
    if not keep_text:
        wanted = {t.lower() for t in text} if text is not False else set()
        for c in body.columns:
            if c.lower() in wanted:
                continue
            s = body[c]
            present = s.notna()
            if not present.any():
                continue
            if s[present].astype(str).str.fullmatch(_NUM_DOT.pattern + r"|^[+-]?(inf|Inf|INF|infinity)$").all():
                body[c] = pd.to_numeric(s, errors="coerce").astype(float)
    body = body.reset_index(drop=True)
    for c in body.columns:
        if body[c].dtype == object:
            body[c] = body[c].astype("str")
    body.attrs.update(attrs, sheet_rows=SheetRows(rows))
    return body
