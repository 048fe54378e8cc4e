"""Data layer: one tabular reader (CSV/XLSX/Parquet), schemas of the core tables, validated loading, explicit cleaning, normalisation.

>>> from equicare.data import load_table
>>> table, report = load_table("facilities.csv", "facilities", regions=set(region_ids))  # doctest: +SKIP
"""

from equicare.data.clean import CleaningReport, pad_fips, robust_z
from equicare.data.load import fingerprint, load_table, read_file, validate
from equicare.data.normalize import minmax, normalize_columns, zscore
from equicare.data.readers import find_column, read_table, sheet_row, sheet_rows
from equicare.data.schemas import SCHEMAS, get_schema

__all__ = ["CleaningReport", "SCHEMAS", "find_column", "fingerprint", "get_schema", "load_table", "minmax", "normalize_columns",
           "pad_fips", "read_file", "read_table", "robust_z", "sheet_row", "sheet_rows", "validate", "zscore"]
