"""Extra training seasons from ILINet: state influenza-like-illness series turned into pseudo admission rates.

NHSN influenza admissions exist only since 2020, and the first two of those seasons had almost no flu; a
pooled model trained on them has seen one or two real epidemics.  ILINet (CDC outpatient influenza-like
illness surveillance) has state series since the 2010/11 season.  Following the idea of the UMass
``flusion`` model, their epidemic curves are added as extra training series for the pooled models (never
as inputs at forecast time).  The state's share of visits for influenza-like illness, ``ILI%``, has a
non-influenza floor; the pseudo rate is

.. math:: \\tilde r_t = c \\cdot \\max(\\mathrm{ILI}_t - b, 0),

with ``b`` the state's 20th percentile of ILI% over the seasons used and ``c`` a scale (admissions per
100,000 per percentage point of excess ILI, chosen on the 2022-23 validation season).  Only seasons before
the COVID-19 pandemic (weeks before ``before``, default 2020-07-01) are used, so the extra data predate any
season forecast here.

References
----------
Ray, E. L. et al. (2025), "Flusion: Integrating multiple data sources for accurate influenza predictions",
Epidemics 50: 100810.  CDC FluView ILINet, https://gis.cdc.gov/grasp/fluview/fluportaldashboard.html
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.data.readers import read_table, sheet_row
from equicare.errors import EquicareError, Problem, ValidationError
from equicare.forecast.truth import Panel

REQUIRED = ("region", "week_start", "unweighted_ili")


def load_ilinet(path: str | Path | Sequence[str | Path], scale: float = 1.0, before: str = "2020-07-01",
                min_coverage: float = 0.8) -> Panel:
    """Pseudo admission rates per 100,000 from ILINet extracts (``ilinet_state.csv``, ``ilinet_hhs.csv``).

    Parameters
    ----------
    path
        CSV with at least ``region, week_start, unweighted_ili`` (one row per region and week; ``week_start``
        the Sunday starting the epidemiological week), or several such files (e.g. the state extract, from
        2010/11, and the HHS-region extract, from 1997/98): each is converted on its own (its own floors
        ``b``) and the series are joined on the union of their weeks.
    scale
        ``c`` above.
    before
        Only weeks starting before this date are kept.
    min_coverage
        Keep a region only if it has a value for at least this share of the weeks of its file.

    Returns
    -------
    Panel
        Columns are regions (named ``ili:<region>``, e.g. ``ili:Alabama``, ``ili:Region 1``), rows
        consecutive week-ending Saturdays (NaN before a region's first week), population ``1e5`` so that
        values are rates per 100,000.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths:
        raise EquicareError("no ILINet file given")
    parts = [_pseudo_rates(Path(p), scale, before, min_coverage) for p in paths]
    dup = sorted(set.intersection(*[set(p.columns) for p in parts])) if len(parts) > 1 else []
    if dup:
        raise EquicareError(f"ILINet region(s) {', '.join(map(str, dup[:5]))} appear in more than one file")
    wide = pd.concat(parts, axis=1, sort=True)
    wide = wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq="7D"))
    return Panel(pd.DatetimeIndex(wide.index), tuple(f"ili:{c}" for c in wide.columns),
                 wide.to_numpy(dtype=float), np.full(wide.shape[1], 1e5))


def _pseudo_rates(path: Path, scale: float, before: str, min_coverage: float) -> pd.DataFrame:
    """Week-by-region pseudo rates of one ILINet extract (see :func:`load_ilinet`)."""
    if not path.is_file():
        raise EquicareError(f"ILINet file not found: {path}")
    df = read_table(path, label=path.name, text=("region", "week_start"))
    absent = [c for c in REQUIRED if c not in df.columns]
    if absent:
        raise ValidationError([Problem(path.name, None, c, "required column is missing") for c in absent])
    start = pd.to_datetime(df["week_start"], format="%Y-%m-%d", errors="coerce")
    bad = np.flatnonzero(start.isna().to_numpy())
    if bad.size:
        raise ValidationError([Problem(path.name, sheet_row(df, i), "week_start", "not a YYYY-MM-DD date",
                                       df["week_start"].iloc[i]) for i in bad[:20]])
    df = df.assign(date=start + pd.Timedelta(days=6),
                   ili=pd.to_numeric(df["unweighted_ili"], errors="coerce"))
    df = df[start < pd.Timestamp(before)]
    wide = df.pivot_table(index="date", columns="region", values="ili", aggfunc="first").sort_index()
    if wide.empty:
        raise EquicareError(f"no ILINet weeks before {before} in {path.name}")
    wide = wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq="7D"))
    wide = wide.loc[:, wide.notna().mean() >= min_coverage]
    floor = wide.quantile(0.2)
    return np.maximum(wide - floor, 0.0) * scale
