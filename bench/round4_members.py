"""Round-4 selection harness (bench/selection-round4.md): back-test the default's members in real time.

Runs one member (pooled GBM with the default's settings, or pooled AR; both with ILINet and the NHSN history) over
one season from the vintages, with or without the nowcast, and writes the raw quantiles (no spread) to a cache
file, so the candidates' weightings and spreads can be formed without re-running the models.

Run: ``python bench/round4_members.py SEASON MEMBER NOWCAST OUTDIR`` (e.g. ``2023-24 gbm 0 /tmp/r4``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from equicare.forecast import backtest
from equicare.forecast.extras import bundled_extras
from equicare.forecast.models import PooledAR, PooledGBM
from equicare.forecast.models.ensemble import AUGMENTED_GBM
from equicare.forecast.vintages import load_vintages

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flusight"
SEASONS = {"2023-24": ("2023-10-14", "2024-05-04"), "2024-25": ("2024-11-23", "2025-05-31")}


def main() -> int:
    season, member, nowcast, out = sys.argv[1], sys.argv[2], sys.argv[3] == "1", Path(sys.argv[4])
    ex = bundled_extras()
    model = PooledGBM(augment=ex.augment, **AUGMENTED_GBM) if member == "gbm" else PooledAR(augment=ex.augment)
    v = load_vintages(SHARED / "vintages" / "admissions-vintages.csv.gz")
    t0, c0 = time.perf_counter(), time.process_time()
    fc = backtest(None, *SEASONS[season], model=model, history=ex.history, vintages=v, nowcast=nowcast)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    out.mkdir(parents=True, exist_ok=True)
    fc.to_parquet(out / f"{season}-{member}-{int(nowcast)}.parquet")
    print(f"{season} {member} nowcast={int(nowcast)}: {secs:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
