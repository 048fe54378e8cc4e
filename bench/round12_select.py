"""Round-12 selection (bench/selection-round12.md): asymmetric spread, re-selected on all four seasons.

Reads round 9's old-season caches (2021-22, 2022-23, revised data, with ``flat_baseline``) and round 8's real-time
caches at R - 2 (the default deadline's snapshots on these seasons), forms the current default as the product
does (``bench/round9_select.py``), then scales the two sides of each quantile function around the median on the
fourth-root scale by ``l`` (below) and ``u`` (above), as :func:`equicare.forecast.models.ensemble.skew_root` does,
and applies the rule (all four seasons) and the leave-one-season-out figures.

Run: ``python bench/round12_select.py OLDCACHE RTCACHE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import round9_select as r9  # noqa: E402
from round6_select import dist  # noqa: E402
from round9_members import SEASONS as OLD  # noqa: E402

from equicare.forecast import load_population  # noqa: E402
from equicare.forecast.extras import bundled_extras  # noqa: E402
from equicare.forecast.models.ensemble import AUGMENTED_REGIME_SPREAD, skew_root  # noqa: E402
from equicare.forecast.vintages import load_vintages  # noqa: E402

LS = tuple(round(0.80 + 0.05 * i, 2) for i in range(7))   # 0.80 .. 1.10
US = tuple(round(1.00 + 0.05 * i, 2) for i in range(11))  # 1.00 .. 1.50
CURRENT_RT = 0.6888
CURRENT_OLD = {"2021-22": 0.8693, "2022-23": 0.5798}


def main() -> int:
    old_cache, rt_cache = Path(sys.argv[1]), Path(sys.argv[2])
    r9.GS = (1,)
    pop = load_population()
    ex = bundled_extras()
    v = load_vintages(r9.SHARED / "vintages" / "admissions-vintages.csv.gz")
    tasks = {**r9.old_tasks(old_cache, pop, ex), **r9.realtime_tasks(rt_cache, pop, ex, v)}
    base = {s: t.config(1, AUGMENTED_REGIME_SPREAD) for s, t in tasks.items()}
    grid = {}
    for lo in LS:
        for up in US:
            grid[(lo, up)] = {s: (lambda st: (st[0], st[2] / st[1]))(t.stats(skew_root(base[s], t.scale, lo, up)))
                              for s, t in tasks.items()}

    def choose(seasons: list[str]) -> tuple[float, float]:
        def key(k):
            r = grid[k]
            worst = max(dist(r[s][1]) for s in seasons)
            return (worst, float(np.mean([r[s][0] for s in seasons])))
        return min(grid, key=key)

    for s in tasks:
        r = grid[(1.0, 1.0)][s]
        print(f"current default {s}: {r[0]:.4f} cov95 {r[1]:.3f}")
    allk = choose(list(tasks))
    r = grid[allk]
    print(f"step 1 on all four seasons: (l, u) = {allk}; " + "; ".join(f"{s} {r[s][0]:.4f} cov95 {r[s][1]:.3f}"
                                                                     for s in tasks))
    rts = list(r9.RT)
    mean_rt = float(np.mean([r[s][0] for s in rts]))
    a = all(dist(r[s][1]) == 0 for s in rts)
    b = mean_rt <= CURRENT_RT + 0.002
    c = all(r[s][0] <= CURRENT_OLD[s] + 0.005 for s in OLD)
    print(f"adoption: real-time mean {mean_rt:.4f} (current {CURRENT_RT}); (a) {a}, (b) {b}, (c) {c} -> "
          f"{'ADOPT' if a and b and c else 'the default stays'}")
    for held in rts:
        k = choose([s for s in tasks if s != held])
        print(f"LOSO, {held} held out: chosen on the other three (l, u) = {k}; {held}: {grid[k][held][0]:.4f} "
              f"cov95 {grid[k][held][1]:.3f} (current {grid[(1.0, 1.0)][held][0]:.4f} cov95 "
              f"{grid[(1.0, 1.0)][held][1]:.3f})")
    print("grid (l, u): " + "  ".join(f"{k}: " + "/".join(f"{grid[k][s][0]:.3f},{grid[k][s][1]:.3f}" for s in tasks)
                                      for k in grid if k[0] in (0.9, 1.0) and k[1] in (1.0, 1.1, 1.2, 1.3)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
