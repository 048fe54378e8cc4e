"""Descriptive statistics and per-capita rates by region.

Capacity is summed from facilities to their region (county) and up to the parent (state); rates are
per 1,000 people and per 1,000 people aged 65 and over.  A region with no facility has zero capacity;
a region with unknown 65+ population has a missing 65+ rate (never a guessed one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def capacity_by_region(facilities: pd.DataFrame, regions: pd.DataFrame, region_col: str = "region",
                       columns: list[str] | None = None) -> pd.DataFrame:
    """Sum facility capacity columns (``cap_*`` by default) into every region of ``regions``.

    Regions without facilities get 0; missing facility values count as 0 in the sum and the number of
    facilities with a missing value is given in ``n_missing_<col>``.
    """
    columns = columns or [c for c in facilities.columns if c.startswith("cap_")]
    g = facilities.groupby(region_col)
    sums = g[columns].sum(min_count=0)
    miss = g[columns].apply(lambda d: d.isna().sum()).add_prefix("n_missing_")
    out = regions[["id"]].merge(sums, left_on="id", right_index=True, how="left")
    out = out.merge(miss, left_on="id", right_index=True, how="left")
    out["n_facilities"] = out["id"].map(g.size()).fillna(0).astype(int)
    return out.fillna({c: 0 for c in out.columns if c != "id"})


def per_capita(regions: pd.DataFrame, capacity: pd.DataFrame, columns: list[str],
               per: float = 1000.0) -> pd.DataFrame:
    """Rates per ``per`` people and per ``per`` people aged 65+ for each capacity column.

    Adds ``<col>_per_1000`` and ``<col>_per_1000_65plus`` (``per`` = 1000), and ``note``: why a rate is empty
    (no or unknown population, no or unknown people aged 65+) and how many facilities' unknown values were
    counted as 0 (``n_missing_<col>`` of :func:`capacity_by_region`); empty where every rate applies in full.
    """
    df = regions.merge(capacity, on="id", how="left")
    tag = f"{per:g}"
    with np.errstate(divide="ignore", invalid="ignore"):
        for c in columns:
            df[f"{c}_per_{tag}"] = np.where(df["population"] > 0, df[c] / df["population"] * per, np.nan)
            if "pop_65plus" in df:
                df[f"{c}_per_{tag}_65plus"] = np.where(df["pop_65plus"] > 0, df[c] / df["pop_65plus"] * per,
                                                       np.nan)
    parts: list[list[str]] = [[] for _ in range(len(df))]
    for col, who in (("population", "people"), ("pop_65plus", "people aged 65+")):
        if col in df:
            v = df[col].to_numpy(float)
            for i in np.flatnonzero(~(v > 0)):
                parts[i].append(f"{'no' if v[i] == 0 else 'unknown number of'} {who}: the rates per {per:g} "
                                f"{'aged 65+ ' if col == 'pop_65plus' else ''}do not apply")
    for c in columns:
        if f"n_missing_{c}" in df:
            k = df[f"n_missing_{c}"].fillna(0).to_numpy(int)
            for i in np.flatnonzero(k > 0):
                parts[i].append(f"{c}: {k[i]} facilit{'y' if k[i] == 1 else 'ies'} with an unknown value counted "
                                "as 0")
    df["note"] = ["; ".join(p) for p in parts]
    return df


def describe(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Count, missing, mean, sd, min, quartiles, max, and the population-weighted mean where possible.

    A statistic that does not apply is empty and the row's ``note`` says why (no value at all; one value has no
    sd; no known population to weight by); ``missing`` counts the empty cells of the column."""
    rows = []
    for c in columns:
        x = df[c].astype(float)
        q = x.quantile([0.25, 0.5, 0.75])
        row = {"column": c, "count": int(x.notna().sum()), "missing": int(x.isna().sum()), "mean": x.mean(),
               "sd": x.std(), "min": x.min(), "p25": q.iloc[0], "median": q.iloc[1], "p75": q.iloc[2],
               "max": x.max()}
        if "population" in df:
            ok = x.notna() & df["population"].notna()
            w = df.loc[ok, "population"].astype(float)
            row["weighted_mean"] = float(np.average(x[ok], weights=w)) if w.sum() > 0 else np.nan
        n = row["count"]
        row["note"] = ("no value: every statistic is undefined" if n == 0 else
                       "one value: the sd is undefined" if n == 1 else "")
        if n and "population" in df and not np.isfinite(row["weighted_mean"]):
            row["note"] = "; ".join(filter(None, [row["note"], "no known population with a value: the weighted mean "
                                                               "is undefined"]))
        rows.append(row)
    out = pd.DataFrame(rows)
    return out[[c for c in out.columns if c != "note"] + ["note"]] if len(out) else out
