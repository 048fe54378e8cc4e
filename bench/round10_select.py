"""Round-10 test (bench/selection-round10.md): forecasts scaled by the vintages' lag-1 revision factor.

Reads round 8's cached member back-tests at the default deadline (``bench/round8_members.py SEASON MEMBER 1 2
CACHE``: on these seasons the snapshots at R - 2 equal the default's, R - 3 with late releases up to a day after),
forms the current default as the product does (3:1 quantile average of the pooled GBM and AR, root-scale spread
times the growth-regime multipliers, as ``bench/round9_select.py``), and R10-1: the same with every quantile
multiplied by ``nowcast_factors(v, v.deadline(R))[0]`` of its reference date R; applies the adoption test.

Run: ``python bench/round10_select.py CACHE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import round9_select as r9  # noqa: E402
from round6_select import dist, wide  # noqa: E402

from equicare.forecast import load_population  # noqa: E402
from equicare.forecast.extras import bundled_extras  # noqa: E402
from equicare.forecast.hub import saturdays  # noqa: E402
from equicare.forecast.models.ensemble import AUGMENTED_REGIME_SPREAD  # noqa: E402
from equicare.forecast.vintages import load_vintages, nowcast_factors  # noqa: E402

CURRENT = {"2023-24": 0.6890, "2024-25": 0.6886}
STEP = 0.002


def adoption(res: dict[str, tuple[float, float, float, float]]) -> str:
    """The adoption test of rounds 10 and 11 on ``{season: (ratio, cov95, current ratio, current cov95)}``:
    (a) the mean ratio lower than the current default's by >= 0.004, (b) no season worse by more than
    :data:`STEP`, (c) each season's 95 % coverage in [0.90, 0.97] or not further from it than the current's."""
    mean = float(np.mean([x[0] for x in res.values()]))
    a = mean <= np.mean(list(CURRENT.values())) - 0.004
    b = all(res[s][0] <= CURRENT[s] + STEP for s in res)
    c = all(dist(res[s][1]) == 0 or dist(res[s][1]) <= dist(res[s][3]) for s in res)
    return (f"adoption: mean {mean:.4f} against {np.mean(list(CURRENT.values())):.4f}: (a) {a}, (b) {b}, (c) {c} "
            f"-> {'ADOPT' if a and b and c else 'the default stays'}")


def main() -> int:
    cache = Path(sys.argv[1])
    r9.GS = (1,)
    pop = load_population()
    ex = bundled_extras()
    v = load_vintages(r9.SHARED / "vintages" / "admissions-vintages.csv.gz")
    res = {}
    for s, t in r9.realtime_tasks(cache, pop, ex, v).items():
        refs = list(saturdays(*r9.RT[s]))
        f = {r: float(nowcast_factors(v, v.deadline(r))[0]) for r in refs}
        idx = wide(pd.read_parquet(cache / f"{s}-gbm-1.parquet")).index
        for n in ("ar-1",):
            idx = idx.intersection(wide(pd.read_parquet(cache / f"{s}-{n}.parquet")).index)
        ref = idx.get_level_values(0)
        fac = np.array([f[pd.Timestamp(r)] for r in ref])[:, None]
        q0 = t.config(1, AUGMENTED_REGIME_SPREAD)
        c0, c1 = t.stats(q0), t.stats(q0 * fac)
        res[s] = (c1[0], c1[2] / c1[1], c0[0], c0[2] / c0[1])
        print(f"{s}: factors {min(f.values()):.3f} .. {max(f.values()):.3f} (mean {np.mean(list(f.values())):.3f}); "
              f"current {c0[0]:.4f} cov95 {c0[2] / c0[1]:.3f}; R10-1 {c1[0]:.4f} cov95 {c1[2] / c1[1]:.3f}")
    print(adoption(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
