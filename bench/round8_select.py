"""Round-8 selection (bench/selection-round8.md): residual quantiles by growth regime, on the hub teams' data.

Reads, per season and G in {1, 2, 3}, the cached real-time member back-tests (deadline R - 2) of the pooled GBM and
pooled AR with ``resid_regimes=G`` (``CACHE/SEASON-gbm-G.parquet``, ``CACHE/SEASON-ar-G.parquet``, written by
``bench/round8_members.py``), forms each candidate as the product does (3:1 quantile average, then the root-scale
spread per horizon times one multiplier m), scores it with the round-6 harness and applies the round's rule per
fold (A: select on 2023-24, B: on 2024-25) and on both seasons together.

Run: ``python bench/round8_select.py CACHEDIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from equicare.forecast import load_population

sys.path.insert(0, str(Path(__file__).resolve().parent))
from round6_select import STEP, Season, dist, fmt, pooled  # noqa: E402

GS = (1, 2, 3)
MS = (0.9, 1.0, 1.1, 1.2, 1.3)
R40 = {"2023-24": 0.6932, "2024-25": 0.6985}  # R4-0 on the same data (bench/selection-round8.md)


class Regimes(Season):
    members = tuple(f"{m}-{g}" for g in GS for m in ("gbm", "ar"))

    def config(self, g: int, m: float) -> np.ndarray:
        return self.spread(0.75 * self.m[f"gbm-{g}"] + 0.25 * self.m[f"ar-{g}"], (m,) * 4)


def pick(res: dict, default: object) -> object:
    """The rule's step: the lowest ratio in the band (else nearest, then lowest); it replaces ``default`` only if
    lower by >= STEP, or if the default's coverage is outside the band and its is inside or nearer with a ratio at
    most STEP higher."""
    inb = [k for k in res if dist(res[k]["cov95"]) == 0]
    best = min(inb, key=lambda k: res[k]["ratio"]) if inb else min(res, key=lambda k: (dist(res[k]["cov95"]),
                                                                                          res[k]["ratio"]))
    d, b = res[default], res[best]
    if b["ratio"] <= d["ratio"] - STEP:
        return best
    if dist(d["cov95"]) > 0 and dist(b["cov95"]) < dist(d["cov95"]) and b["ratio"] <= d["ratio"] + STEP:
        return best
    return default


def select(S: dict, seasons: list[str]) -> tuple[int, float]:
    def on(g, m):
        return pooled([S[s].evaluate(S[s].config(g, m)) for s in seasons])

    g = pick({g: on(g, 1.0) for g in GS}, 1)
    m = pick({m: on(g, m) for m in MS}, 1.0)
    return g, m


def main() -> int:
    cache = Path(sys.argv[1])
    pop = load_population()
    S = {s: Regimes(s, cache, pop) for s in ("2023-24", "2024-25")}
    for s in S:
        for g in GS:
            for m in MS:
                print(f"{s} G={g} m={m}: {fmt(S[s].evaluate(S[s].config(g, m)))}")
    held = {}
    for fold, (sel, test) in {"A": ("2023-24", "2024-25"), "B": ("2024-25", "2023-24")}.items():
        g, m = select(S, [sel])
        r = S[test].evaluate(S[test].config(g, m))
        held[test] = r
        print(f"fold {fold}: selected on {sel}: G={g} m={m}; held-out {test}: {fmt(r)} (R4-0 {R40[test]:.4f})")
    loso = float(np.mean([r["ratio"] for r in held.values()]))
    g, m = select(S, list(S))
    both = pooled([S[s].evaluate(S[s].config(g, m)) for s in S])
    print(f"on both seasons: G={g} m={m}: mean ratio {both['ratio']:.4f}, cov95 {both['cov95']:.3f}")
    base = float(np.mean(list(R40.values())))
    r40_cov = {s: S[s].evaluate(S[s].config(1, 1.0))["cov95"] for s in S}
    a = loso <= base - 0.004
    b = all(held[s]["ratio"] <= R40[s] + STEP for s in held)
    c = all(dist(held[s]["cov95"]) == 0 or dist(held[s]["cov95"]) < dist(r40_cov[s]) for s in held)
    print(f"combined LOSO {loso:.4f} against R4-0 {base:.4f}: (a) {a}, (b) {b}, (c) {c} -> "
          f"{'ADOPT G=%d m=%s' % (g, m) if a and b and c else 'R4-0 stays'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
