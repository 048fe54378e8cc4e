"""Round-7 harness (bench/selection-round7.md): a revision-aware member's real-time back-test of one season.

Runs the pooled GBM (the default's settings) or the pooled AR, both with ILINet and the NHSN history, trained on
the data as published (:mod:`equicare.forecast.models.revision`), over one season from the vintages (missing weeks
``carry``, no nowcast) and writes the raw quantiles to ``OUTDIR/SEASON-MEMBER-rev.parquet``, next to round 5's
cached ``SEASON-MEMBER-0`` runs of the same members trained on the revised panel.

Run: ``python bench/round7_members.py SEASON {gbm,ar} OUTDIR``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from equicare.forecast import backtest
from equicare.forecast.extras import bundled_extras
from equicare.forecast.models.ensemble import AUGMENTED_GBM
from equicare.forecast.models.revision import PublishedAR, PublishedGBM
from equicare.forecast.vintages import load_vintages

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flusight"
SEASONS = {"2023-24": ("2023-10-14", "2024-05-04"), "2024-25": ("2024-11-23", "2025-05-31")}


def main() -> int:
    season, member, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    ex = bundled_extras()
    v = load_vintages(SHARED / "vintages" / "admissions-vintages.csv.gz")
    model = (PublishedGBM(vintages=v, augment=ex.augment, **AUGMENTED_GBM) if member == "gbm"
             else PublishedAR(vintages=v, augment=ex.augment))
    t0, c0 = time.perf_counter(), time.process_time()
    fc = backtest(None, *SEASONS[season], model=model, history=ex.history, vintages=v)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    out.mkdir(parents=True, exist_ok=True)
    fc.to_parquet(out / f"{season}-{member}-rev.parquet")
    print(f"{season} {member} rev: {secs:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
