"""The scenario file's schema, declared once (pydantic): keys, types, defaults and ranges.

:func:`parse_spec` checks a parsed YAML mapping against :class:`ScenarioSpec` and returns the typed spec
together with every problem found, each as a :class:`~equicare.errors.Problem` naming the file and the key
(``resources.beds.colour``) with the rule broken.  Keys that break a rule are dropped and the rest checked
again, so the tables can still be read and their problems reported in the same error.  Ranges come from
:mod:`equicare.params`, the same definitions the model and the service use.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator,
                      model_validator)

from equicare import params
from equicare.errors import EquicareError, Problem

NonNeg = Annotated[float, Field(ge=0)]


def _check(name: str, v):
    """The range of :mod:`equicare.params` as a pydantic rule (ValueError with the same message)."""
    try:
        return getattr(params, name.upper()).check(v, label=name)
    except EquicareError as exc:
        raise ValueError(str(exc)) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class TableSpec(_Strict):
    """A table: ``{file: path.csv}`` (relative to the YAML file), ``{bundled: key}`` or ``{rows: [...]}``."""

    file: str | None = None
    bundled: str | None = None
    rows: list[dict[str, Any]] | None = None
    sheet: str | int | None = None
    delimiter: str | None = None
    decimal: str | None = None
    encoding: str | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if sum(v is not None for v in (self.file, self.bundled, self.rows)) != 1:
            raise ValueError("must be {file: path.csv}, {bundled: key} or {rows: [...]}")
        return self


class FluSurgeSpec(_Strict):
    """``demand: {builder: flu_surge, ...}``: options of :func:`~equicare.optimize.scenario.flu_surge_tables`.

    An option left out takes the builder's default (which comes from :mod:`equicare.params`)."""

    builder: Literal["flu_surge"]
    severity: float | None = None
    icu_fraction: float | None = None
    icu_los_days: float | None = None
    ventilator_fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    target_occupancy: float | None = None
    surge_cap_ratio: float | None = None
    season: str | None = None
    quantiles: list[float] | None = None
    min_log_sd: NonNeg | None = None
    source: Literal["season", "forecast"] | None = None
    as_of: str | None = None
    model: str | None = None

    @field_validator("severity", "icu_fraction", "icu_los_days", "target_occupancy", "surge_cap_ratio")
    @classmethod
    def _in_range(cls, v, info):
        return v if v is None else _check(info.field_name, v)

    def options(self) -> dict[str, Any]:
        """The options given (keyword arguments of ``flu_surge_tables``)."""
        return self.model_dump(exclude={"builder"}, exclude_none=True)


def _table_or_builder(v: Any) -> str:
    return "builder" if isinstance(v, dict) and "builder" in v else "table"


DemandSpec = Annotated[Annotated[TableSpec, Tag("table")] | Annotated[FluSurgeSpec, Tag("builder")],
                       Discriminator(_table_or_builder)]


class HospitalsSpec(_Strict):
    """``{builder: hospitals, level: state|county}``: the bundled CMS-rated hospitals."""

    builder: Literal["hospitals"]
    level: Literal["state", "county"] = "state"


FacilityTableSpec = Annotated[Annotated[TableSpec, Tag("table")] | Annotated[HospitalsSpec, Tag("builder")],
                              Discriminator(_table_or_builder)]


class StatePairsSpec(_Strict):
    builder: Literal["state_centroids"]


class CapSpec(_Strict):
    """A facility takes at most ``ratio`` times its ``column`` of this resource."""

    column: str
    ratio: NonNeg = 1.0


class FacilitiesSpec(_Strict):
    table: FacilityTableSpec
    caps: dict[str, CapSpec] = {}


class ResourceSpec(_Strict):
    """One resource type: unit word, money per unit, national stock, whole units, value, per-region bounds."""

    unit: str = "unit"
    unit_cost: NonNeg = 1.0
    stock: NonNeg = math.inf
    integer: bool = False
    weight: NonNeg = 1.0
    min_per_region: float | dict[str, float] | None = None
    max_per_region: float | dict[str, float] | None = None


class UncertaintySpec(_Strict):
    mode: Literal["expected", "quantile"] = "expected"
    scenario: str | float | None = None


class InequalitySpec(_Strict):
    coverage_floor: float | None = None
    max_gap: float | None = None
    max_gini: float | None = None

    @field_validator("coverage_floor", "max_gap", "max_gini")
    @classmethod
    def _in_range(cls, v, info):
        return _check(info.field_name, v)


class QualitySpec(_Strict):
    column: str = "quality"
    weight: NonNeg = 0.01


class PoolingSpec(_Strict):
    pairs: Annotated[Annotated[TableSpec, Tag("table")] | Annotated[StatePairsSpec, Tag("builder")],
                     Discriminator(_table_or_builder)]
    max_distance: NonNeg = math.inf
    resources: list[str] | None = None
    cost_per_unit: NonNeg = 0.0
    cost_per_unit_distance: NonNeg = 0.0
    no_worse_off: bool = True

    @field_validator("pairs", mode="before")
    @classmethod
    def _named_builder(cls, v):
        return {"builder": v} if v == "state_centroids" else v


class ScenarioSpec(_Strict):
    """The whole scenario file (format: ``docs/optimize.md``)."""

    name: str | None = None
    description: str | None = None
    regions: TableSpec | None = None
    resources: dict[str, ResourceSpec | None]
    capacity: TableSpec | None = None
    demand: DemandSpec | None = None
    budget: NonNeg | None = None
    objective: Literal[params.OBJECTIVES] = "leximin"  # type: ignore[valid-type]
    fairness_weight: float = params.FAIRNESS_WEIGHT.default
    uncertainty: UncertaintySpec = UncertaintySpec()
    inequality: InequalitySpec = InequalitySpec()
    pooling: PoolingSpec | None = None
    quality: QualitySpec | None = None
    what_if: list[dict[str, Any]] = []
    budget_sweep: list[NonNeg] = []
    cap_at_need: bool = True
    facilities: FacilitiesSpec | None = None

    @field_validator("uncertainty", "inequality", mode="before")
    @classmethod
    def _empty(cls, v, info):
        if v is None:
            return {}
        if info.field_name == "uncertainty" and isinstance(v, str):
            return {"mode": v}
        return v

    @field_validator("what_if", "budget_sweep", mode="before")
    @classmethod
    def _none_list(cls, v):
        return [] if v is None else v

    @field_validator("fairness_weight")
    @classmethod
    def _weight(cls, v):
        return _check("fairness_weight", v)

    @field_validator("resources")
    @classmethod
    def _some(cls, v):
        if not v:
            raise ValueError("required: a mapping resource name -> {unit, unit_cost, stock, ...}")
        return {k: (r if r is not None else ResourceSpec()) for k, r in v.items()}


_MODELS = {(): ScenarioSpec, ("regions",): TableSpec, ("capacity",): TableSpec, ("resources", "*"): ResourceSpec,
           ("inequality",): InequalitySpec, ("uncertainty",): UncertaintySpec, ("quality",): QualitySpec,
           ("pooling",): PoolingSpec,
           ("facilities",): FacilitiesSpec, ("facilities", "caps", "*"): CapSpec}
_TAGS = {"table", "builder", "str", "float", "dict[str,float]", "function-after[_one_source(), TableSpec]"}


def _where(loc: tuple) -> list[str]:
    return [str(k) for k in loc if str(k) not in _TAGS and not str(k).startswith(("function-", "tagged-union"))]


def _allowed(parent: list[str]) -> str:
    for pattern, model in _MODELS.items():
        if len(pattern) == len(parent) and all(p in ("*", q) for p, q in zip(pattern, parent)):
            return ", ".join(sorted(model.model_fields))
    return ""


def _problems(exc: ValidationError, fname: str) -> tuple[list[Problem], list[list[str]]]:
    out, locs = [], []
    for e in exc.errors():
        where = _where(e["loc"])
        if e["type"] == "extra_forbidden":
            allowed = _allowed(where[:-1])
            rule = f"unknown key (allowed: {allowed})" if allowed else "unknown key"
            value = None
        elif e["type"] == "missing":
            rule, value = "required key is missing", None
        else:
            rule = str(e["msg"]).removeprefix("Value error, ")
            value = e.get("input")
            if isinstance(value, dict | list):
                value = None
        out.append(Problem(fname, None, ".".join(where) or None, rule, value))
        locs.append(where)
    return out, locs


def _drop(raw: Any, where: list[str]) -> bool:
    """Remove the key at ``where`` from the nested mapping ``raw`` (True if something was removed)."""
    node = raw
    for k in where[:-1]:
        if isinstance(node, dict) and k in node:
            node = node[k]
        elif isinstance(node, list) and k.isdigit() and int(k) < len(node):
            node = node[int(k)]
        else:
            return False
    if isinstance(node, dict) and where and where[-1] in node:
        del node[where[-1]]
        return True
    return False


def parse_spec(raw: dict, fname: str) -> tuple[ScenarioSpec | None, list[Problem]]:
    """Validate a parsed scenario mapping; returns the spec (None if it cannot be read) and every problem."""
    import copy

    work = copy.deepcopy(raw)
    problems: list[Problem] = []
    for _ in range(4):
        try:
            return ScenarioSpec.model_validate(work), problems
        except ValidationError as exc:
            found, locs = _problems(exc, fname)
            seen = {(p.column, p.rule) for p in problems}
            problems += [p for p in found if (p.column, p.rule) not in seen]
            if not any([_drop(work, w) for w in locs if w]):
                return None, problems
    return None, problems
