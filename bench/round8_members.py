"""Round-8 harness (bench/selection-round8.md): one member's real-time back-test with ``resid_regimes=G``.

Runs the pooled GBM (the default's settings) or the pooled AR, both with ILINet and the NHSN history, over one
season from the vintages with the given deadline (days before R; 2 = the data the hub's teams had), and writes the
raw quantiles (no spread) to ``OUTDIR/SEASON-MEMBER-G.parquet`` for ``bench/round8_select.py``.

Run: ``python bench/round8_members.py SEASON MEMBER G DEADLINE OUTDIR`` (e.g. ``2024-25 gbm 3 2 /tmp/r8``).
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
    season, member, g, days, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
    ex = bundled_extras()
    model = (PooledGBM(augment=ex.augment, resid_regimes=g, **AUGMENTED_GBM) if member == "gbm"
             else PooledAR(augment=ex.augment, resid_regimes=g))
    v = load_vintages(SHARED / "vintages" / "admissions-vintages.csv.gz", deadline_days=days)
    t0 = time.perf_counter()
    fc = backtest(None, *SEASONS[season], model=model, history=ex.history, vintages=v)
    out.mkdir(parents=True, exist_ok=True)
    fc.to_parquet(out / f"{season}-{member}-{g}.parquet")
    print(f"{season} {member} G={g} deadline R-{days}: {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
