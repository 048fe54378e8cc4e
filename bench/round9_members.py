"""Round-9 harness (bench/selection-round9.md): members' back-tests on the seasons before 2023-24 (revised data).

Runs the pooled GBM (the default's settings) or the pooled AR with ``resid_regimes=G`` (both with ILINet and the
NHSN history), or ``flat_baseline`` (the round-3 reference), over 2021-22 or 2022-23 on the bundled data (NHSN
history before the bundled target file, then the target file; cut at R - 7), and writes the raw quantiles to
``OUTDIR/SEASON-MEMBER-G.parquet`` (``SEASON-flat-0.parquet`` for the baseline).

Run: ``python bench/round9_members.py SEASON MEMBER G OUTDIR``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from equicare.forecast import backtest, bundled_path, load_truth
from equicare.forecast.extras import bundled_extras
from equicare.forecast.models import PooledAR, PooledGBM
from equicare.forecast.models.ensemble import AUGMENTED_GBM

SEASONS = {"2021-22": ("2021-10-16", "2022-05-14"), "2022-23": ("2022-10-15", "2023-05-13")}


def old_truth() -> pd.DataFrame:
    """Scoring truth: the NHSN history before the bundled target file's first week, then the target file (the
    target file's locations only)."""
    target = load_truth(bundled_path("target-hospital-admissions.csv"))
    hist = bundled_extras().history
    hist = hist[(hist["date"] < target["date"].min()) & hist["location"].isin(target["location"].unique())]
    return pd.concat([hist, target], ignore_index=True)


def main() -> int:
    season, member, g, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    ex = bundled_extras()
    if member == "flat":
        model, g = "flat_baseline", 0
    elif member == "gbm":
        model = PooledGBM(augment=ex.augment, resid_regimes=g, **AUGMENTED_GBM)
    else:
        model = PooledAR(augment=ex.augment, resid_regimes=g)
    t0 = time.perf_counter()
    target = load_truth(bundled_path("target-hospital-admissions.csv"))
    fc = backtest(target, *SEASONS[season], model=model, history=ex.history)
    out.mkdir(parents=True, exist_ok=True)
    fc.to_parquet(out / f"{season}-{member}-{g}.parquet")
    print(f"{season} {member} G={g}: {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
