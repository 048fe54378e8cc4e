"""Shortage areas: regions whose access score or provider ratio falls below a threshold.

A planner's first question after computing access (:mod:`equicare.analyze.access`) or a
provider-to-population ratio is *where* care is short and *how many people* live there. This
module answers it with a ranked table, worst first, with the population affected and, for ratios,
the supply that would lift each region to the threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.errors import EquicareError

__all__ = ["provider_ratio", "shortage_areas", "shortage_summary"]


def provider_ratio(supply, population, per: float = 1000.0) -> np.ndarray:
    """Providers (or beds) per ``per`` people: ``per * supply / population`` (NaN where population is 0)."""
    s = np.asarray(supply, float)
    p = np.asarray(population, float)
    if s.shape != p.shape:
        raise EquicareError("supply and population must have the same length")
    if np.any(s < 0) or np.any(p < 0):
        raise EquicareError("supply and population must not be negative")
    out = np.full(s.shape, np.nan)
    np.divide(per * s, p, out=out, where=p > 0)
    return out


def shortage_areas(ids, score, population, threshold: float, *, names=None, relative_to_mean: bool = False,
                   higher_is_better: bool = True, per: float | None = None,
                   include_missing: bool = True) -> pd.DataFrame:
    """Regions below (or, for costs, above) a threshold, ranked worst first, with people affected.

    Parameters
    ----------
    ids : array_like
        Region ids.
    score : array_like
        Access score or provider ratio per region (NaN = no provider in reach, counted as 0 for
        a higher-is-better score, also in the mean of ``relative_to_mean``, and as infinitely far
        for a lower-is-better cost, when ``include_missing``). Regions without people are left out.
    population : array_like
        People per region (the population affected).
    threshold : float
        The line: a region is short when ``score < threshold`` (``score > threshold`` when
        ``higher_is_better=False``, e.g. for travel time to the nearest hospital).
    names : array_like, optional
        Region names to carry into the table.
    relative_to_mean : bool
        If True the line is ``threshold`` times the population-weighted mean score (e.g. 0.5 =
        "less than half the average person's access").
    per : float, optional
        When ``score`` is a ratio per ``per`` people (e.g. beds per 1,000), adds
        ``supply_gap = (line - score) * population / per``: the supply that would bring the region
        to the line.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank, id, [name], score, line, gap, population, cumulative_population,
        share_of_population, [supply_gap]``; ``gap`` is how far below (above) the line the region
        is, the table is sorted by ``gap`` (largest first), and ``share_of_population`` is the
        cumulative share of the whole population living in the regions so far.
    """
    ids = np.asarray(ids)
    s = np.asarray(score, float)
    p = np.asarray(population, float)
    if not (ids.shape == s.shape == p.shape) or s.ndim != 1:
        raise EquicareError("ids, score and population must be 1-D and of the same length")
    if np.any(~np.isfinite(p)) or np.any(p < 0):
        raise EquicareError("population must be known and not negative in every region")
    total = p.sum()
    if total <= 0:
        raise EquicareError("the total population is 0")
    filled = s.copy()
    missing = ~np.isfinite(filled)
    if include_missing:
        filled[missing] = 0.0 if higher_is_better else np.inf
    line = float(threshold)
    if relative_to_mean:
        ok = np.isfinite(filled)
        line = float(threshold) * float(np.sum(p[ok] * filled[ok]) / p[ok].sum())
    gap = (line - filled) if higher_is_better else (filled - line)
    short = ((np.isfinite(gap) & (gap > 0)) | (include_missing & missing)) & (p > 0)
    idx = np.flatnonzero(short)
    order = idx[np.lexsort((-p[idx], -np.where(np.isfinite(gap[idx]), gap[idx], np.inf)))]
    out = pd.DataFrame({"rank": np.arange(1, order.size + 1), "id": ids[order]})
    if names is not None:
        out["name"] = np.asarray(names)[order]
    out["score"] = s[order]
    out["line"] = line
    out["gap"] = gap[order]
    out["population"] = p[order]
    out["cumulative_population"] = np.cumsum(p[order])
    out["share_of_population"] = out["cumulative_population"] / total
    if per is not None:
        base = np.where(np.isfinite(s[order]), s[order], 0.0)
        out["supply_gap"] = np.maximum(line - base, 0.0) * p[order] / per if higher_is_better else np.nan
    return out


def shortage_summary(table: pd.DataFrame, population_total: float) -> dict:
    """Headline numbers for a shortage table: regions, people affected, share of all people, supply gap."""
    people = float(table["population"].sum()) if len(table) else 0.0
    out = {"regions": int(len(table)), "people": people,
           "share_of_population": people / population_total if population_total > 0 else float("nan")}
    if "supply_gap" in table.columns:
        out["supply_gap"] = float(np.nansum(table["supply_gap"]))
    return out
