"""Round-11 selection (bench/selection-round11.md): a linear opinion pool of the members.

Reads the cached member back-tests (round 9's old seasons 2021-22 / 2022-23 on revised data with
``flat_baseline``; round 8's real-time seasons at R - 2, which on these seasons are the default deadline's
snapshots), forms L0 / L1 (the pool of the pooled GBM and AR, weights 3 : 1, then today's root-scale spread times
the growth-regime multipliers, times ``m`` for L1), applies the rule on the old seasons and the adoption test.

Run: ``python bench/round11_select.py OLDCACHE RTCACHE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import round9_select as r9  # noqa: E402
from round10_select import STEP, adoption  # noqa: E402
from round6_select import dist  # noqa: E402

from equicare.forecast import load_population  # noqa: E402
from equicare.forecast.extras import bundled_extras  # noqa: E402
from equicare.forecast.models.base import Q  # noqa: E402
from equicare.forecast.models.ensemble import (AUGMENTED_REGIME_SPREAD, AUGMENTED_SPREAD, ROOT_OFFSET,  # noqa: E402
                                               linear_pool)
from equicare.forecast.vintages import load_vintages  # noqa: E402

MS = tuple(round(0.70 + 0.05 * i, 2) for i in range(9))  # 0.70 .. 1.10


def spread(t: r9.Tasks, base: np.ndarray, m: float) -> np.ndarray:
    s = (np.asarray(AUGMENTED_SPREAD)[t.h] * np.asarray(AUGMENTED_REGIME_SPREAD)[t.g] * m)[:, None]
    sc = t.scale[:, None]
    z = (base / sc + ROOT_OFFSET) ** 0.25
    zm = z[:, len(Q) // 2][:, None]
    out = (np.maximum(zm + s * (z - zm), 0.0) ** 4 - ROOT_OFFSET) * sc
    return np.where(base <= 0.0, 0.0, np.maximum(out, 0.0))


def pool(t: r9.Tasks) -> np.ndarray:
    g = np.sort(np.maximum(t.m["gbm-1"], 0.0), axis=1)
    a = np.sort(np.maximum(t.m["ar-1"], 0.0), axis=1)
    return linear_pool(np.stack([g, a]), np.array([0.75, 0.25]))


def main() -> int:
    old_cache, rt_cache = Path(sys.argv[1]), Path(sys.argv[2])
    r9.GS = (1,)
    pop = load_population()
    ex = bundled_extras()
    old = r9.old_tasks(old_cache, pop, ex)
    pools = {s: pool(t) for s, t in old.items()}

    def old_stats(m: float) -> tuple[float, float]:
        st = [old[s].stats(spread(old[s], pools[s], m)) for s in old]
        return float(np.mean([x[0] for x in st])), sum(x[2] for x in st) / sum(x[1] for x in st)

    cur = [old[s].stats(old[s].config(1, AUGMENTED_REGIME_SPREAD)) for s in old]
    print("old seasons, current default: " + ", ".join(f"{s} {x[0]:.4f} cov95 {x[2] / x[1]:.3f}"
                                                       for s, x in zip(old, cur)))
    res = {m: old_stats(m) for m in MS}
    print("L1 on the old seasons (mean ratio / pooled cov95): "
          + "  ".join(f"{m}: {r:.4f}/{c:.3f}" for m, (r, c) in res.items()))
    inb = [m for m in res if dist(res[m][1]) == 0]
    m1 = min(inb, key=lambda m: res[m][0]) if inb else min(res, key=lambda m: (dist(res[m][1]), res[m][0]))
    l0 = res[1.0]
    m = m1 if res[m1][0] <= l0[0] - STEP else 1.0
    print(f"L0 {l0[0]:.4f} cov95 {l0[1]:.3f}; L1 m = {m1}: {res[m1][0]:.4f} cov95 {res[m1][1]:.3f} -> candidate "
          f"{'L1, m = ' + str(m) if m != 1.0 else 'L0'}")
    v = load_vintages(r9.SHARED / "vintages" / "admissions-vintages.csv.gz")
    out = {}
    for s, t in r9.realtime_tasks(rt_cache, pop, ex, v).items():
        c0 = t.stats(t.config(1, AUGMENTED_REGIME_SPREAD))
        c1 = t.stats(spread(t, pool(t), m))
        out[s] = (c1[0], c1[2] / c1[1], c0[0], c0[2] / c0[1])
        print(f"{s}: current {c0[0]:.4f} cov95 {c0[2] / c0[1]:.3f}; candidate {c1[0]:.4f} cov95 {c1[2] / c1[1]:.3f}")
    print(adoption(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
