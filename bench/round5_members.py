"""Round-5 harness (bench/selection-round5.md): the members' forecasts from imputed missing weeks, in real time.

For every reference date of a season whose real-time panel (data published by R - 3, cut at R - 7) has locations
with a gap of 1..2 weeks, fills the gap with the pooled AR's median (``equicare.forecast.gaps.impute_missing``,
as ``missing_weeks="model-*"`` does) and writes each member's raw quantiles (pooled GBM with the default's
settings and pooled AR, both with ILINet and the NHSN history; no spread) for the filled locations, with their gap.
The ``carry`` member back-tests come from ``round4_members.py``.

Run: ``python bench/round5_members.py SEASON OUTDIR`` (writes ``SEASON-imputed.parquet``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.forecast.extras import bundled_extras
from equicare.forecast.gaps import gaps, impute_missing
from equicare.forecast.hub import HORIZONS, quantile_table, saturdays
from equicare.forecast.models import PooledAR, PooledGBM
from equicare.forecast.models.ensemble import AUGMENTED_GBM
from equicare.forecast.truth import load_population, to_panel
from equicare.forecast.vintages import load_vintages

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flusight"
SEASONS = {"2023-24": ("2023-10-14", "2024-05-04"), "2024-25": ("2024-11-23", "2025-05-31")}


def main() -> int:
    season, out = sys.argv[1], Path(sys.argv[2])
    ex = bundled_extras()
    members = {"gbm": PooledGBM(augment=ex.augment, **AUGMENTED_GBM), "ar": PooledAR(augment=ex.augment)}
    imputer = PooledAR(augment=ex.augment)
    v = load_vintages(SHARED / "vintages" / "admissions-vintages.csv.gz")
    pop = load_population()
    rows = []
    t0, c0 = time.perf_counter(), time.process_time()
    for ref in saturdays(*SEASONS[season]):
        panel = to_panel(v.realtime(ref), ex.history, pop)
        cut = panel.cut(ref - pd.Timedelta(weeks=1))
        seen = ~np.isnan(cut.values).all(axis=0)
        cut = cut.select([loc for loc, s in zip(cut.locations, seen) if s])
        g = gaps(cut)
        if not ((g >= 1) & (g <= 2)).any():
            continue
        filled_panel, filled = impute_missing(cut, imputer)
        locs = [loc for loc, f in zip(cut.locations, filled) if f]
        print(f"{ref.date()}: {len(locs)} locations filled (gaps {sorted(set(g[filled].tolist()))})", flush=True)
        for name, m in members.items():
            vals = m.predict(filled_panel, [h + 1 for h in HORIZONS])[filled]
            t = quantile_table(ref, locs, HORIZONS, vals)
            t["member"] = name
            t["gap"] = np.repeat(g[filled], len(HORIZONS) * 23)
            rows.append(t)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    out.mkdir(parents=True, exist_ok=True)
    res = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    res.to_parquet(out / f"{season}-imputed.parquet")
    print(f"{season}: {secs:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
