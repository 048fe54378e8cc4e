"""Round-6 harness (bench/selection-round6.md): the new member's real-time back-test of one season.

Runs ``pooled_gbqr`` (with ILINet and the NHSN history, its round-6 settings) over one season from the vintages
(missing weeks ``carry``, no nowcast) and writes the raw quantiles to ``OUTDIR/SEASON-gbqr-0.parquet``, next to
round 5's cached ``SEASON-gbm-0`` / ``SEASON-ar-0`` member runs, so the candidates can be formed without re-running.

Run: ``python bench/round6_members.py SEASON OUTDIR``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from equicare.forecast import backtest
from equicare.forecast.extras import bundled_extras
from equicare.forecast.models import PooledGBQR
from equicare.forecast.vintages import load_vintages

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flusight"
SEASONS = {"2023-24": ("2023-10-14", "2024-05-04"), "2024-25": ("2024-11-23", "2025-05-31")}


def main() -> int:
    season, out = sys.argv[1], Path(sys.argv[2])
    ex = bundled_extras()
    v = load_vintages(SHARED / "vintages" / "admissions-vintages.csv.gz")
    t0, c0 = time.perf_counter(), time.process_time()
    fc = backtest(None, *SEASONS[season], model=PooledGBQR(augment=ex.augment), history=ex.history, vintages=v)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    out.mkdir(parents=True, exist_ok=True)
    fc.to_parquet(out / f"{season}-gbqr-0.parquet")
    print(f"{season} gbqr: {secs:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
