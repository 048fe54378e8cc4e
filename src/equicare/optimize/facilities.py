"""Placing a region's new units at its facilities, best-rated first (CMS hospital star ratings).

The allocation model decides how many units each region gets (fairness is a matter between regions);
within a region the units go to facilities.  Each facility ``f`` takes at most ``cap_fr`` units of type
``r`` (e.g. 20% of its staffed ICU beds: what it can staff), and the region's absorption cap is the sum
of its facilities' caps, so every unit the model places has a facility to go to.  Within the region,

.. math::

    \\max \\sum_f q_f\\, y_{fr} \\quad \\text{s.t.} \\quad \\sum_f y_{fr} = x_{ir},\\; 0 \\le y_{fr} \\le cap_{fr}

is a fractional knapsack with unit weights, solved exactly by filling facilities in decreasing quality
``q_f`` (ties: larger cap, then facility id; unrated facilities last).  This is how equicare "prefers
higher-quality facilities": the region-level shares, and so the fairness of the answer, are unchanged,
and every unit that can go to a better-rated facility does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from equicare.errors import EquicareError

FACILITY_COLUMNS = ("facility", "region", "name", "quality")


def bundled_hospitals(level: str = "state") -> pd.DataFrame:
    """US hospitals from the bundled data: ``facility, region, name, quality, icu_beds, beds``.

    ``quality`` is the CMS overall hospital star rating (1-5; blank where CMS publishes none);
    ``region`` is the state abbreviation (``level="state"``) or the 5-digit county FIPS code
    (``level="county"``).  Only hospitals with staffed beds are listed.
    """
    from equicare.data.bundled import data_path, load_bundled

    if level not in ("state", "county"):
        raise EquicareError(f"hospitals: level must be 'state' or 'county', not {level!r}")
    f = load_bundled().facilities
    f = f[(f["cap_beds"].fillna(0) > 0) | (f["cap_icu_beds"].fillna(0) > 0)]
    if level == "state":
        loc = pd.read_csv(data_path("flusight/locations.csv"), dtype={"location": str})
        abbr = dict(zip(loc["location"], loc["abbreviation"]))
        region = f["state"].astype(str).map(abbr)
    else:
        region = f["region"].astype(str)
    out = pd.DataFrame({"facility": f["id"].astype(str).to_numpy(), "region": region.to_numpy(),
                        "name": f["name"].astype(str).to_numpy(), "quality": f["quality"].to_numpy(float),
                        "icu_beds": f["cap_icu_beds"].fillna(0).to_numpy(float),
                        "beds": f["cap_beds"].fillna(0).to_numpy(float)})
    return out[out["region"].notna()].reset_index(drop=True)


def facility_caps(fac: pd.DataFrame, resources: list[str], caps: dict[str, tuple[str, float]]) -> np.ndarray:
    """Units of each resource each facility can take: ``ratio * fac[column]`` (inf where no cap is set).

    Parameters
    ----------
    fac : DataFrame
        Facilities (``facility, region, name, quality`` and numeric cap columns).
    resources : list of str
        Resource names (columns of the result).
    caps : dict
        ``resource -> (column, ratio)``.
    """
    out = np.full((len(fac), len(resources)), np.inf)
    for rname, (col, ratio) in caps.items():
        if rname not in resources:
            raise EquicareError(f"facilities.caps: {rname!r} is not one of the resources ({', '.join(resources)})")
        if col not in fac.columns:
            raise EquicareError(f"facilities.caps.{rname}: the facilities table has no column {col!r}")
        v = pd.to_numeric(fac[col], errors="coerce").to_numpy(float)
        if np.any(~np.isfinite(v) | (v < 0)):
            k = int(np.flatnonzero(~np.isfinite(v) | (v < 0))[0])
            raise EquicareError(f"facilities.caps.{rname}: column {col!r} must be a non-negative number "
                                f"(row {k + 1}: {fac[col].iloc[k]!r})")
        if not ratio >= 0:
            raise EquicareError(f"facilities.caps.{rname}: ratio must be >= 0, not {ratio!r}")
        out[:, resources.index(rname)] = np.floor(ratio * v + 1e-9)
    return out


def region_caps(fac: pd.DataFrame, fcaps: np.ndarray, regions: list[str]) -> np.ndarray:
    """Sum of the facility caps in each region, shape (n, m); 0 for a region without facilities."""
    idx = {g: k for k, g in enumerate(regions)}
    k = fac["region"].astype(str).map(idx)
    ok = k.notna().to_numpy()
    out = np.zeros((len(regions), fcaps.shape[1]))
    np.add.at(out, k[ok].astype(int).to_numpy(), fcaps[ok])
    return out


def place_at_facilities(x: np.ndarray, regions: list[str], resources: list[str], fac: pd.DataFrame,
                        fcaps: np.ndarray) -> pd.DataFrame:
    """Split each region's new units over its facilities, best-rated first (see the module docstring).

    Returns one row per facility and resource that receives units: ``region, facility, name, quality,
    resource, allocated, cap, rank`` (``rank`` 1 = first choice in its region).  Units a region receives
    beyond its facilities' caps (possible only if the caps were not used as region caps) are listed
    with ``facility`` empty.
    """
    q = pd.to_numeric(fac["quality"], errors="coerce").to_numpy(float)
    rows = []
    by_region = fac.assign(_q=np.nan_to_num(q, nan=-np.inf), _pos=np.arange(len(fac))).groupby(
        fac["region"].astype(str))
    groups = {g: d for g, d in by_region}
    for i, g in enumerate(regions):
        d = groups.get(str(g))
        for r, rname in enumerate(resources):
            left = float(x[i, r])
            if left <= 1e-9:
                continue
            if d is not None:
                cap = fcaps[d["_pos"].to_numpy(), r]
                order = np.lexsort((d["facility"].astype(str).to_numpy(), -cap, -d["_q"].to_numpy()))
                for rank, k in enumerate(order, start=1):
                    if left <= 1e-9:
                        break
                    take = min(left, cap[k])
                    if take <= 0:
                        continue
                    row = d.iloc[k]
                    rows.append({"region": g, "facility": row["facility"], "name": row.get("name", ""),
                                 "quality": q[int(row["_pos"])], "resource": rname, "allocated": take,
                                 "cap": cap[k], "rank": rank})
                    left -= take
            if left > 1e-9:
                rows.append({"region": g, "facility": "", "name": "(no facility with room)", "quality": np.nan,
                             "resource": rname, "allocated": left, "cap": np.nan, "rank": np.nan})
    return pd.DataFrame(rows, columns=["region", "facility", "name", "quality", "resource", "allocated", "cap",
                                       "rank"])
