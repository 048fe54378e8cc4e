"""Round-4 selection (bench/selection-round4.md): candidates from the members' cached real-time back-tests.

Reads the files written by ``round4_members.py`` for one season, forms each candidate (GBM : AR weights, with or
without the nowcast, the round-3 spread or a spread refitted per horizon on the root scale, grid 0.6..1.55 with
95% coverage in [0.90, 0.97]) and prints its mean WIS ratio to the hub FluSight-baseline and its coverage.

Run: ``python bench/round4_select.py SEASON CACHEDIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.forecast import load_forecasts, load_population, load_truth, score
from equicare.forecast.models.ensemble import AUGMENTED_SPREAD, ROOT_OFFSET

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flusight"
FILES = {"2023-24": (SHARED / "target-hospital-admissions.csv", SHARED / "FluSight-baseline-2023-24.csv.gz"),
         "2024-25": (SHARED / "season-2024-25" / "target-hospital-admissions.csv",
                     SHARED / "season-2024-25" / "FluSight-baseline-2024-25.csv.gz")}
GRID = np.round(np.arange(0.6, 1.5501, 0.05), 2)
KEY = ["reference_date", "location", "horizon", "output_type_id"]


def combine(members: list[pd.DataFrame], weights: tuple[float, ...], spread: tuple[float, ...],
            pop: pd.Series) -> pd.DataFrame:
    """Weighted quantile average of the members, then the root-scale spread per horizon (as QuantileEnsemble)."""
    base = members[0].sort_values(KEY).reset_index(drop=True)
    w = np.asarray(weights, float) / sum(weights)
    vals = sum(wi * m.sort_values(KEY)["value"].to_numpy() for wi, m in zip(w, members))
    q = vals.reshape(-1, 23)
    scale = (pop.reindex(base["location"].to_numpy()[::23]).to_numpy() / 1e5)[:, None]
    s = np.asarray(spread)[base["horizon"].to_numpy()[::23]][:, None]
    z = (q / scale + ROOT_OFFSET) ** 0.25
    zm = z[:, 11:12]
    out = (np.maximum(zm + s * (z - zm), 0.0) ** 4 - ROOT_OFFSET) * scale
    out = np.sort(np.where(q <= 0, 0.0, np.maximum(out, 0.0)), axis=1)
    return base.assign(value=out.reshape(-1))


def main() -> int:
    season, cache = sys.argv[1], Path(sys.argv[2])
    truth_p, base_p = FILES[season]
    truth, hub_base = load_truth(truth_p), load_forecasts(base_p)
    pop = load_population()
    for nc in (0, 1):
        try:
            members = [pd.read_parquet(cache / f"{season}-{m}-{nc}.parquet") for m in ("gbm", "ar")]
        except FileNotFoundError:
            continue
        for weights in ((3, 1), (2, 1), (1, 1)):
            res = score(truth, combine(members, weights, AUGMENTED_SPREAD, pop), versus=hub_base)
            fitted = []
            for h in range(4):
                best = None
                mh = [m[m["horizon"] == h] for m in members]
                bh = hub_base[hub_base["horizon"] == h]
                for g in GRID:
                    sp = tuple(g if k == h else AUGMENTED_SPREAD[k] for k in range(4))
                    r = score(truth, combine(mh, weights, sp, pop), versus=bh)["by_horizon"][h]
                    inband = 0.90 <= r["coverage_95"] <= 0.97
                    dist = 0.0 if inband else min(abs(r["coverage_95"] - 0.90), abs(r["coverage_95"] - 0.97))
                    cand = (dist, r["wis_ratio"], g)
                    best = cand if best is None or cand < best else best
                fitted.append(float(best[2]))
            rf = score(truth, combine(members, weights, tuple(fitted), pop), versus=hub_base)
            for label, sp, r in (("round-3 spread", AUGMENTED_SPREAD, res), ("refitted spread", fitted, rf)):
                print(f"{season} nowcast={nc} GBM:AR={weights[0]}:{weights[1]} {label} "
                      f"{'/'.join(f'{x:.2f}' for x in sp)}: ratio {r['wis_ratio']:.4f} "
                      f"(h {' '.join(f'{v['wis_ratio']:.3f}' for v in r['by_horizon'].values())}) "
                      f"cov50 {r['coverage_50']:.3f} cov95 {r['coverage_95']:.3f} tasks {r['n_tasks']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
