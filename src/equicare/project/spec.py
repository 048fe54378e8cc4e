"""The project file: one YAML that names the planner's files, their columns and the scenario of every stage.

:func:`load_project` reads the file, checks every key (unknown keys get "did you mean" suggestions; keys
match whatever their case) and resolves every path relative to the project file.  Columns are matched
to the files later (:func:`resolve_column`), also ignoring case and with suggestions.

The sections and keys are documented in ``docs/own-region.md``; each key has one definition and one default,
here.  The allocation scenario's defaults are the demo's (:class:`equicare.pipeline.DemoParams`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from equicare.errors import EquicareError, Problem, ValidationError
from equicare.pipeline import DemoParams

_DEMO = DemoParams()

#: Missing-value policies accepted by ``missing:`` (see :func:`equicare.data.clean.apply_missing_policy`).
MISSING_POLICIES = ("error", "drop", "impute_zero", "impute_median", "flag")
#: The default policy: ``flag`` keeps the row, and a blank cell makes only that column's value unknown for that
#: row (a facility with a blank ICU cell keeps its beds in every beds measure; it is left out of the ICU ones).
DEFAULT_MISSING = "flag"
#: Id formats: ``text`` (kept exactly as written) or ``us-fips`` (US state/county FIPS codes, zero-padded).
ID_FORMATS = ("text", "us-fips")
#: Frequencies of a demand series.
FREQUENCIES = ("auto", "daily", "weekly", "monthly")
#: Kinds of cost between region points and facilities.
DISTANCES = ("great_circle", "euclidean")


@dataclass
class FileSpec:
    """Where a table comes from and how to read it."""

    file: Path
    sheet: str | int | None = None
    """XLSX: sheet name or 0-based index (default: the first sheet)."""
    layer: str | None = None
    """GeoPackage: layer name (default: the first layer)."""
    crs: str | None = None
    """Coordinate reference system of the file when it does not say (e.g. ``EPSG:32633``)."""
    delimiter: str | None = None
    decimal: str | None = None
    encoding: str | None = None


@dataclass
class RegionsSpec(FileSpec):
    id: str = "id"
    name: str | None = None
    population: str | None = None
    lat: str | None = None
    lon: str | None = None
    x: str | None = None
    y: str | None = None
    """Projected coordinates of the region's point (with ``crs``), instead of ``lat``/``lon``."""
    population_65plus: str | None = None
    """Optional column with the people aged 65 and over: capacity per 1,000 of them too."""
    id_format: str = "text"


@dataclass
class SubregionsSpec(RegionsSpec):
    """Small areas inside the regions (districts in provinces, counties in states): capacity, access,
    inequality and shortage areas are measured on them as well; the allocation stays by region.  Their ids
    follow ``regions.id_format`` (their own ``id_format`` key is not used)."""

    parent: str = "parent"
    """Column with the id of the region each small area lies in."""


@dataclass
class FacilitiesSpec(FileSpec):
    id: str = "id"
    name: str | None = None
    lat: str | None = None
    lon: str | None = None
    x: str | None = None
    y: str | None = None
    region: str | None = None
    """Column with the facility's region id; found by point-in-polygon when absent."""
    subregion: str | None = None
    """Column with the facility's small-area id (``subregions``); found by point-in-polygon or the nearest
    small-area point when absent."""
    capacity: list[str] = field(default_factory=list)
    occupancy: str | None = None
    quality: str | None = None
    """Optional rating used to place allocated units at the best-rated facilities first."""


@dataclass
class DemandSpec(FileSpec):
    region: str = "region"
    date: str = "date"
    value: str = "value"
    frequency: str = "auto"
    label: str | None = None
    """What the counts are, e.g. ``influenza admissions`` (the forecast chart's title; default: the column name)."""


@dataclass
class AccessSpec:
    method: str = "2sfca"
    supply: list[str] = field(default_factory=list)
    max_km: float | None = None
    """Catchment in great-circle km (or in the projected CRS's unit / 1000 with ``distance: euclidean``)."""
    distance: str = "great_circle"
    costs: Path | None = None
    """Optional cost file (long ``origin,destination,cost`` or a wide origin-by-destination matrix)."""
    max_cost: float | None = None
    weights: dict[float, float] | None = None
    scale: float | None = None
    alpha: float | None = None
    min_dist: float | None = None
    sigma: float | None = None
    tau: float | None = None
    rho: float | None = None
    normalize: bool = False
    shortage_fraction: float | None = 0.5
    """A region (small area, with ``subregions``) is a shortage area when its access per 1,000 is below this
    fraction of the population-weighted mean (``null``: no shortage table)."""


@dataclass
class TravelSpec:
    """Travel times on a road network (``equicare costs``), replacing great-circle distance for access."""

    network: Path | None = None
    """An OpenStreetMap ``.osm.pbf`` extract or a street-centreline line layer; none: great-circle km x
    detour factor at an assumed speed (stated in the output)."""
    mode: str = "drive"
    max_minutes: float | None = None
    """Cut-off on the travel time; also the access catchment unless ``access.max_cost`` is given."""
    max_km: float | None = None
    max_snap_m: float = 1000.0
    """Points farther than this from every road are not joined (reported)."""


@dataclass
class ForecastSpec:
    model: str = "ensemble"
    horizons: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    quantiles: list[float] | None = None
    """Quantile levels written to forecast.csv (default: the 23 FluSight levels)."""
    as_of: str | None = None
    """Reference date (default: one step after the series' last date)."""
    holdout: int = 8
    """Reference dates of the back-test (the last ones whose targets are observed); 0 skips scoring."""
    baseline: str = "flat_baseline"
    compare: list[str] = field(default_factory=list)
    extras: bool = False
    """Train also on the bundled US flu extras (only for US FIPS ids of flu admissions)."""
    holdout_start: str | None = None
    holdout_end: str | None = None


@dataclass
class AllocateSpec:
    resource: str = "icu_beds"
    stock: float = float(_DEMO.stockpile)
    need: str = "forecast_surge"
    """``forecast_surge`` (need from the forecast peak) or a column of the regions file with each need."""
    severity: float = _DEMO.severity
    icu_fraction: float = _DEMO.icu_fraction
    icu_los_days: float = _DEMO.icu_los_days
    target_occupancy: float = _DEMO.target_occupancy
    scenario_quantile: float = _DEMO.scenario_quantile
    surge_cap_ratio: float = _DEMO.surge_cap_ratio
    default_occupancy: float | None = None
    """Usual occupancy of regions whose facilities give none (default: the capacity-weighted mean)."""
    as_of: str | None = None
    capacity: str | None = None
    """Column of the regions file with each region's capacity of the resource (default: facilities summed)."""
    occupancy: str | None = None
    """Column of the regions file with each region's usual occupancy (default: from the facilities)."""
    objective: str = "leximin"
    fairness_weight: float = 0.5
    max_gini: float | None = None
    hospital_share: float | None = None
    """Place each region's units at its facilities, each taking at most this share of its capacity."""


@dataclass
class SweepSpec:
    """The allocation over a grid of ``allocate`` values on a Dask cluster (see :mod:`equicare.project.sweep`)."""

    grid: dict = field(default_factory=dict)
    scheduler: str | None = None
    workers: int | None = None


@dataclass
class InequalitySpec:
    n_boot: int = 200
    epsilon: float = 0.5


@dataclass
class Project:
    """A parsed project file; paths are absolute."""

    name: str
    path: Path
    regions: RegionsSpec
    subregions: SubregionsSpec | None = None
    facilities: FacilitiesSpec | None = None
    demand: DemandSpec | None = None
    access: AccessSpec | None = None
    travel: TravelSpec | None = None
    forecast: ForecastSpec | None = None
    allocate: AllocateSpec | None = None
    sweep: SweepSpec | None = None
    inequality: InequalitySpec = field(default_factory=InequalitySpec)
    missing: str = DEFAULT_MISSING
    """Missing-value policy for numeric cells (population, capacity, demand values): ``drop`` leaves out the
    whole row, the default ``flag`` only that cell's value."""
    suppress_threshold: int = _DEMO.suppress_threshold
    date_format: str | None = None
    """How the project's dates are written when not ``YYYY-MM-DD`` (e.g. ``"%d/%m/%Y"``): the demand file's date
    column and the date keys (``forecast.as_of``, ...); see :mod:`equicare.data.dates`."""
    prepared: Path | None = None
    """A CSV of cleaning steps made before (``file, step, column, count, detail``, e.g. how the bundled US files
    were built from their sources), shown first in the run's cleaning report."""

    @property
    def base(self) -> Path:
        return self.path.parent

    def stages(self) -> list[str]:
        """The stages this project runs, in order."""
        out = ["ingest"]
        if self.access is not None and self.facilities is not None:
            out.append("access")
        out.append("inequality")
        if self.demand is not None:
            out.append("forecast")
        if self.allocate is not None:
            out.append("allocate")
            if self.sweep is not None:
                out.append("sweep")
        return out + ["report"]


_SECTIONS = {"regions": RegionsSpec, "subregions": SubregionsSpec, "facilities": FacilitiesSpec, "demand": DemandSpec,
             "access": AccessSpec, "travel": TravelSpec, "forecast": ForecastSpec, "allocate": AllocateSpec,
             "sweep": SweepSpec, "inequality": InequalitySpec}
_TOP = ("name", "missing", "date_format", "suppress_threshold", "prepared", *_SECTIONS)


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` to ``word`` (ignoring case), or ``""``."""
    low = {c.lower(): c for c in choices}
    hit = difflib.get_close_matches(str(word).lower(), list(low), n=1, cutoff=0.6)
    return f" (did you mean {low[hit[0]]!r}?)" if hit else ""


def _kp(file: str, key: str, rule: str, value: object = None) -> Problem:
    """A problem with a project file's key (``section.key``)."""
    return Problem(file, None, None, f"key {key!r}: {rule}", value)


def _keys(mapping: dict, allowed: tuple[str, ...] | list[str], where: str, file: str,
          problems: list[Problem]) -> dict:
    """Lower-cased keys; unknown ones become problems with a suggestion."""
    out = {}
    for k, v in mapping.items():
        key = str(k).strip().lower()
        if key not in allowed:
            problems.append(_kp(file, f"{where}{k}", "unknown key" + suggest(key, allowed)
                                + f"; known keys: {', '.join(allowed)}"))
            continue
        out[key] = v
    return out


def _coerce(spec_cls: type, values: dict, where: str, file: str, base: Path, problems: list[Problem]) -> Any:
    kw = {}
    types = {f.name: f.type for f in fields(spec_cls)}
    for k, v in values.items():
        t = str(types[k])
        try:
            if v is None:
                kw[k] = None
            elif k in ("file", "costs", "network"):
                kw[k] = (base / str(v)).resolve()
            elif t.startswith("list[str]"):
                kw[k] = [str(x) for x in (v if isinstance(v, list) else [v])]
            elif t.startswith("list[int]"):
                kw[k] = [int(x) for x in (v if isinstance(v, list) else [v])]
            elif t.startswith("list[float]"):
                kw[k] = [float(x) for x in v]
            elif k == "grid":
                if not isinstance(v, dict):
                    raise ValueError("expected a mapping of allocate keys to lists of values")
                kw[k] = {str(a).strip().lower(): (b if isinstance(b, list) else [b]) for a, b in v.items()}
            elif k == "weights":
                kw[k] = {float(a): float(b) for a, b in dict(v).items()}
            elif t.startswith("bool"):
                if not isinstance(v, bool):
                    raise ValueError("expected true or false")
                kw[k] = v
            elif t.startswith("float"):
                kw[k] = float(v)
            elif t.startswith("int"):
                if float(v) != int(float(v)):
                    raise ValueError("expected a whole number")
                kw[k] = int(float(v))
            elif k == "sheet":
                kw[k] = v if isinstance(v, int) else str(v)
            else:
                kw[k] = str(v) if not hasattr(v, "isoformat") else v.isoformat()
        except (TypeError, ValueError) as exc:
            problems.append(_kp(file, f"{where}{k}", f"bad value: {exc}", v))
    return kw


def load_project(path: str | Path) -> Project:
    """Read and check a project file.

    Raises
    ------
    ValidationError
        Naming the file and the key (``section.key``) for unknown keys (with suggestions), bad values, a
        missing ``regions`` section or ``file``, files that do not exist, and unknown choices.
    """
    path = Path(path).resolve()
    label = path.name
    if not path.is_file():
        raise EquicareError(f"project file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValidationError([Problem(label, None, None, f"not valid YAML: {exc}")]) from exc
    if not isinstance(doc, dict):
        raise ValidationError([Problem(label, None, None, "a project file is a mapping of sections (name:, "
                                                         "regions:, facilities:, ...)")])
    problems: list[Problem] = []
    top = _keys(doc, _TOP, "", label, problems)
    if "regions" not in top:
        problems.append(_kp(label, "regions", "required section is missing"))
    parts: dict[str, Any] = {}
    for sec, cls in _SECTIONS.items():
        body = top.get(sec)
        if sec not in top:
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            problems.append(_kp(label, sec, "must be a mapping of keys"))
            continue
        allowed = tuple(f.name for f in fields(cls))
        kw = _coerce(cls, _keys(body, allowed, f"{sec}.", label, problems), f"{sec}.", label, path.parent, problems)
        if issubclass(cls, FileSpec) and "file" not in kw:
            problems.append(_kp(label, f"{sec}.file", "required key is missing"))
            continue
        try:
            parts[sec] = cls(**kw)
        except TypeError as exc:  # pragma: no cover - every key is known here
            problems.append(_kp(label, sec, str(exc)))
    for sec, spec in parts.items():
        if isinstance(spec, FileSpec) and not spec.file.is_file():
            problems.append(_kp(label, f"{sec}.file", f"file not found: {spec.file}"))
        if isinstance(spec, TravelSpec) and spec.network is not None and not spec.network.exists():
            problems.append(_kp(label, "travel.network", f"file not found: {spec.network}"))
    prepared = (path.parent / str(top["prepared"])).resolve() if top.get("prepared") else None
    if prepared is not None and not prepared.is_file():
        problems.append(_kp(label, "prepared", f"file not found: {prepared}"))
    _check_choices(parts, top, label, problems)
    date_format = _check_dates(parts, top, label, problems)
    if problems:
        raise ValidationError(problems)
    return Project(name=str(top.get("name") or path.stem), path=path, regions=parts["regions"],
                   subregions=parts.get("subregions"),
                   facilities=parts.get("facilities"), demand=parts.get("demand"), access=parts.get("access"),
                   travel=parts.get("travel"), sweep=parts.get("sweep"),
                   forecast=parts.get("forecast"), allocate=parts.get("allocate"),
                   inequality=parts.get("inequality", InequalitySpec()),
                   missing=str(top.get("missing", DEFAULT_MISSING)),
                   suppress_threshold=int(top.get("suppress_threshold", _DEMO.suppress_threshold)),
                   date_format=date_format, prepared=prepared)


#: The project file's date keys: ``YYYY-MM-DD``, or in the declared ``date_format``.
DATE_KEYS = (("forecast", "as_of"), ("forecast", "holdout_start"), ("forecast", "holdout_end"), ("allocate", "as_of"))


def _check_dates(parts: dict, top: dict, label: str, problems: list[Problem]) -> str | None:
    """The declared ``date_format`` (checked), and each date key of ``parts`` rewritten as ``YYYY-MM-DD``
    (a date that is neither ISO nor in the declared format is a problem naming the key and the rule)."""
    from equicare.data.dates import check_date_format, parse_date

    fmt = None
    if top.get("date_format") is not None:
        try:
            fmt = check_date_format(top["date_format"])
        except EquicareError as exc:
            problems.append(_kp(label, "date_format", str(exc)))
            return None
    for sec, key in DATE_KEYS:
        spec = parts.get(sec)
        value = getattr(spec, key, None) if spec is not None else None
        if value is None:
            continue
        try:
            setattr(spec, key, parse_date(value, f"{sec}.{key}", fmt).strftime("%Y-%m-%d"))
        except EquicareError as exc:
            problems.append(_kp(label, f"{sec}.{key}", str(exc).split(": ", 1)[1], value))
    return fmt


def _check_choices(parts: dict, top: dict, label: str, problems: list[Problem]) -> None:
    from equicare.analyze.access import METHODS
    from equicare.forecast.models import SERIES_MODELS
    from equicare.optimize import OBJECTIVES

    def choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
        if value is not None and str(value).lower() not in allowed:
            problems.append(_kp(label, key, f"must be one of {', '.join(allowed)}"
                                    + suggest(str(value), allowed), value))

    choice("missing", top.get("missing"), MISSING_POLICIES)
    if "regions" in parts:
        choice("regions.id_format", parts["regions"].id_format, ID_FORMATS)
    if "demand" in parts:
        choice("demand.frequency", parts["demand"].frequency, FREQUENCIES)
    if "access" in parts:
        a = parts["access"]
        choice("access.method", a.method, METHODS)
        choice("access.distance", a.distance, DISTANCES)
        if "facilities" not in parts:
            problems.append(_kp(label, "access", "needs a facilities section (the supply)"))
        t = parts.get("travel")
        travel_catchment = t is not None and t.max_minutes is not None
        if a.max_km is None and a.max_cost is None and a.costs is None and not travel_catchment \
                and a.method.lower() not in ("gravity", "nearest"):
            problems.append(_kp(label, "access.max_km", "give the catchment max_km (or max_cost with a costs file, "
                                                        "or travel.max_minutes)"))
        if a.shortage_fraction is not None and not 0 < a.shortage_fraction <= 1:
            problems.append(_kp(label, "access.shortage_fraction", "must be in (0, 1]", a.shortage_fraction))
        if t is not None:
            choice("travel.mode", t.mode, ("drive", "walk"))
        if a.costs is not None and not a.costs.is_file():
            problems.append(_kp(label, "access.costs", f"file not found: {a.costs}"))
    if "forecast" in parts:
        f = parts["forecast"]
        for key, m in [("forecast.model", f.model), ("forecast.baseline", f.baseline),
                       *[("forecast.compare", c) for c in f.compare]]:
            choice(key, m, tuple(SERIES_MODELS))
        if any(h < 0 or h > 52 for h in f.horizons) or len(set(f.horizons)) != len(f.horizons):
            problems.append(_kp(label, "forecast.horizons", "distinct whole numbers in 0..52", f.horizons))
        if f.quantiles is not None and (0.5 not in f.quantiles or any(not 0 < q < 1 for q in f.quantiles)):
            problems.append(_kp(label, "forecast.quantiles", "levels in (0, 1) including 0.5",
                                    f.quantiles))
    if "allocate" in parts:
        al = parts["allocate"]
        if al.need == "forecast_surge" and "demand" not in parts:
            problems.append(_kp(label, "allocate.need", "forecast_surge needs a demand section "
                                    "(the series to forecast); or name a column of the regions file"))
        if al.stock < 0:
            problems.append(_kp(label, "allocate.stock", "must be >= 0", al.stock))
        if not 0 < al.target_occupancy <= 1:
            problems.append(_kp(label, "allocate.target_occupancy", "must be in (0, 1]",
                                    al.target_occupancy))
        choice("allocate.objective", al.objective, OBJECTIVES)
    if "sweep" in parts:
        from equicare.project.sweep import check_grid

        if "allocate" not in parts:
            problems.append(_kp(label, "sweep", "needs an allocate section (the allocation to sweep)"))
        problems += [_kp(label, "sweep.grid", text) for text in check_grid(parts["sweep"])]


def resolve_column(df: pd.DataFrame, wanted: str | None, file: str, key: str, required: bool = True) -> str | None:
    """The column of ``df`` called ``wanted`` (exactly, else ignoring case and surrounding spaces).

    Raises
    ------
    ValidationError
        ``wanted`` matches no column: names the file, the project key, and the closest column names.
    """
    if wanted is None:
        if required:
            raise ValidationError([Problem(file, None, None, f"{'option' if key.startswith('--') else 'project key'} "
                                                             f"{key} is required")])
        return None
    cols = [str(c) for c in df.columns]
    if wanted in cols:
        return wanted
    low = [c for c in cols if c.strip().lower() == str(wanted).strip().lower()]
    if len(low) == 1:
        return low[0]
    which = f"option {key}" if key.startswith("--") else f"project key {key}"  # as the user gave it
    raise ValidationError([Problem(file, 1, str(wanted), f"no such column ({which})"
                                   + suggest(str(wanted), cols) + f"; columns: {', '.join(cols[:30])}")])
