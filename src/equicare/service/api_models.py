"""Request bodies and response rows of the service's JSON API (:mod:`equicare.service.app`,
:mod:`equicare.service.privacy_api`): pydantic models that refuse strings where numbers belong, non-finite
numbers and out-of-range ids with 422 naming the field."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pandas as pd
from pydantic import BaseModel, Field, StrictInt, StrictStr

__all__ = ["MAX_ID", "Finite", "OrgBudgetRequest", "PoolRequest", "RegionListRequest", "ReleaseRequest",
           "RunRequest", "SweepBody", "UserRequest", "records", "records_json"]

MAX_ID = 2 ** 62
"""Largest dataset id a request may name."""

Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A JSON number (not a string), finite."""


class RunRequest(BaseModel):
    """Start a scenario run."""

    kind: StrictStr = Field(description="analyse, forecast or allocate")
    params: dict[str, Any] = Field(default_factory=dict, description="see ScenarioParams")


class SweepBody(BaseModel):
    """A grid of scenario parameters (``stockpile``, ``severity``, ``scenario_quantile``, ``fairness``,
    ``fairness_weight``, ``max_gini``) to lists of values, and base values for the other parameters."""

    grid: dict[StrictStr, list[StrictStr | Finite | None]] = Field(
        description="parameter -> list of values, e.g. {\"stockpile\": [1000, 2500], \"severity\": [2, 3]}")
    base: dict[StrictStr, StrictStr | Finite | bool | None] = Field(default_factory=dict)


class UserRequest(BaseModel):
    name: StrictStr
    role: StrictStr = "viewer"


class ReleaseRequest(BaseModel):
    """Release an aggregate of one of your datasets, differentially private or small-cell suppressed."""

    dataset_id: StrictInt = Field(ge=1, le=MAX_ID)
    method: StrictStr = Field("dp", description="dp or suppress")
    by: StrictStr = Field(description="region column")
    statistic: StrictStr = Field("count", description="dp: count, sum or mean")
    column: StrictStr | None = None
    bounds: tuple[Annotated[Finite, Field(ge=-1e15, le=1e15)], Annotated[Finite, Field(ge=-1e15, le=1e15)]] | None \
        = Field(None, description="public bounds of the column's values (finite, magnitude at most 1e15)")
    epsilon: Annotated[Finite, Field(ge=1e-3, le=100)] | None = Field(
        None, description="privacy-loss parameter of a DP release, a number in [0.001, 100]")
    count_columns: list[StrictStr] | None = Field(None, description="suppress: count columns to protect")
    level: StrictStr = Field("state", description="public region list: state, county or a declared list")
    name: StrictStr | None = None
    share_with: list[StrictStr] = Field(default_factory=list)


class RegionListRequest(BaseModel):
    """Declare one of your ``regions`` datasets, or the regions of one of your project runs, a public region list
    (its ids, names, populations become public). Give ``dataset_id`` or ``run_id``."""

    name: StrictStr = Field(min_length=1, max_length=128)
    dataset_id: StrictInt | None = Field(None, ge=1, le=MAX_ID)
    run_id: StrictStr | None = Field(None, min_length=1, max_length=40, description="a succeeded project run")


class OrgBudgetRequest(BaseModel):
    epsilon: Annotated[Finite, Field(gt=0, le=1000)] = Field(
        description="the organisation's total epsilon over all its data")


class PoolRequest(BaseModel):
    dataset_ids: list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]] = Field(max_length=100)
    stockpile: Annotated[Finite, Field(ge=0, le=1e9)] = 1000.0
    replicates: StrictInt = Field(200, ge=1, le=2000)
    measure: StrictStr = Field("need", description="need (e.g. admissions) or supply (e.g. beds)")


def records_json(df: pd.DataFrame, limit: int | None = None) -> str:
    """The first ``limit`` rows (all by default) of ``df`` as JSON text: an array of objects (dates in ISO form,
    no value as null)."""
    if limit is not None:
        df = df.head(limit)
    return df.to_json(orient="records", date_format="iso", default_handler=str)


def records(df: pd.DataFrame, limit: int | None = None) -> list[dict]:
    """:func:`records_json` as Python objects."""
    return json.loads(records_json(df, limit))
