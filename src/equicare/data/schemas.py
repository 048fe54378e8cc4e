"""Schemas of the core tables: regions, facilities, demand observations and travel costs.

A schema is a list of :class:`Column` rules.  :func:`equicare.data.validate.validate` checks a table
against one and reports every broken rule with its row and column; the loader refuses the whole file
when any rule is broken (nothing is half-loaded).

Column families (``prefix``) allow open-ended sets of columns, e.g. ``cap_beds``, ``cap_icu_beds``,
``cap_staff`` for facility capacity per resource type, or ``pop_65_69`` for population by age band.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["regions", "facilities", "demand", "costs"]
MissingPolicy = Literal["error", "drop", "impute_median", "impute_zero", "flag"]


@dataclass(frozen=True)
class Column:
    """One column rule.

    Parameters
    ----------
    name : column name, or the prefix of a family when ``prefix`` is true.
    dtype : ``"id"`` (region code; all-digit codes are zero-padded as FIPS), ``"key"`` (any other
        identifier, kept as written), ``"text"``, ``"float"``,
        ``"int"`` or ``"date"``.
    required : the column must be present.
    missing : policy for empty cells: ``"error"`` rejects the file, ``"drop"`` drops the row,
        ``"impute_median"`` / ``"impute_zero"`` fill, ``"flag"`` keeps it missing and counts it.
    min, max : allowed range (inclusive) for numbers.
    unique : no two rows share a value.
    outliers : flag robust-z outliers (|z| > 3.5) in the cleaning report (never dropped).
    region_ref : values must be ids in the regions table when one is given.
    prefix : the rule applies to every column whose name starts with ``name``.
    unit : the expected unit, stated in messages and docs.
    """

    name: str
    dtype: Literal["id", "key", "text", "float", "int", "date"] = "float"
    required: bool = True
    missing: MissingPolicy = "error"
    min: float | None = None
    max: float | None = None
    unique: bool = False
    outliers: bool = False
    region_ref: bool = False
    prefix: bool = False
    unit: str = ""


@dataclass(frozen=True)
class Schema:
    """A table kind: its columns and any multi-column key."""

    kind: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    description: str = ""

    def column(self, name: str) -> Column | None:
        """The rule that applies to ``name`` (exact name first, then a prefix family)."""
        for c in self.columns:
            if not c.prefix and c.name == name:
                return c
        for c in self.columns:
            if c.prefix and name.startswith(c.name):
                return c
        return None

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required and not c.prefix]


REGIONS = Schema(
    "regions",
    (
        Column("id", "id", unique=True),
        Column("name", "text", missing="flag"),
        Column("parent", "id", required=False, missing="flag"),
        Column("population", "float", min=0, missing="error", outliers=True, unit="people"),
        Column("pop_", "float", required=False, prefix=True, min=0, missing="flag", unit="people"),
        Column("lat", "float", min=-90, max=90, missing="flag", unit="degrees"),
        Column("lon", "float", min=-180, max=180, missing="flag", unit="degrees"),
    ),
    description="One row per region (county, state, district): population, optionally by age band "
                "(pop_<band> columns), and the population-weighted centre.",
)

FACILITIES = Schema(
    "facilities",
    (
        Column("id", "key", unique=True),
        Column("name", "text", missing="flag"),
        Column("region", "id", region_ref=True, missing="flag"),
        Column("lat", "float", min=-90, max=90, unit="degrees"),
        Column("lon", "float", min=-180, max=180, unit="degrees"),
        Column("cap_", "float", required=False, prefix=True, min=0, missing="flag", outliers=True,
               unit="units of the resource"),
        Column("occ_", "float", required=False, prefix=True, min=0, max=1, missing="flag",
               unit="fraction occupied (0-1)"),
        Column("quality", "float", required=False, min=1, max=5, missing="flag", unit="CMS stars 1-5"),
    ),
    description="One row per facility: location, capacity per resource type (cap_<type> columns), "
                "usual occupancy (occ_<type>, 0-1) and quality rating where known.",
)

DEMAND = Schema(
    "demand",
    (
        Column("region", "id", region_ref=True),
        Column("date", "date"),
        Column("value", "float", min=0, missing="flag", outliers=False, unit="events per period"),
    ),
    key=("region", "date"),
    description="Demand observations: one value per region and date (e.g. weekly admissions).",
)

COSTS = Schema(
    "costs",
    (
        Column("origin", "key"),
        Column("destination", "key"),
        Column("cost", "float", min=0, unit="travel cost (km, minutes or metres)"),
    ),
    key=("origin", "destination"),
    description="Travel costs in long format: one row per origin-destination pair.",
)

SCHEMAS: dict[str, Schema] = {s.kind: s for s in (REGIONS, FACILITIES, DEMAND, COSTS)}


def get_schema(kind: str) -> Schema:
    """The schema for a table kind; a clear error for an unknown one."""
    from equicare.errors import EquicareError

    try:
        return SCHEMAS[kind]
    except KeyError:
        raise EquicareError(f"unknown table kind {kind!r}; expected one of {sorted(SCHEMAS)}") from None
