"""Round-7 selection (bench/selection-round7.md): revision-aware members, from the members' cached back-tests.

Reads, per season, round 5's cached real-time ``carry`` back-tests of the pooled GBM and pooled AR trained on the
revised panel (``SEASON-{gbm,ar}-0``) and the same members trained on the data as published (``round7_members.py``,
``SEASON-{gbm,ar}-rev``); forms V0 (neither, R4-0), V1 (both), V2 (GBM only), V3 (AR only) exactly as the default
ensemble does (3/4 GBM + 1/4 AR, then the root-scale spread ``s_h m_h``), scores them against the final truth with
round 6's scorer and applies the round's rule (V, then per-horizon spread S) per fold and on both seasons together.

Run: ``python bench/round7_select.py CACHEDIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.forecast import load_forecasts, load_population, load_truth, score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from round6_select import FILES, M, STEP, best_of, dist, fmt, pooled  # noqa: E402
from round6_select import Season as Round6Season  # noqa: E402

VS = {"V0": (0, 0), "V1": (1, 1), "V2": (1, 0), "V3": (0, 1)}  # (GBM published?, AR published?)
ONE = (1.0,) * 4


class Season(Round6Season):
    """One season's four member runs over the common tasks (round 6's arrays, scoring and table)."""

    members = ("gbm-0", "ar-0", "gbm-rev", "ar-rev")

    def candidate(self, v: str, m: tuple[float, ...]) -> np.ndarray:
        g_pub, a_pub = VS[v]
        mix = 0.75 * self.m["gbm-rev" if g_pub else "gbm-0"] + 0.25 * self.m["ar-rev" if a_pub else "ar-0"]
        return self.spread(mix, m)


def main() -> int:
    cache = Path(sys.argv[1])
    pop = load_population()
    S = {s: Season(s, cache, pop) for s in FILES}
    memo: dict = {}

    def run(season: str, cfg: tuple) -> dict:
        if (season, cfg) not in memo:
            memo[(season, cfg)] = S[season].evaluate(S[season].candidate(*cfg))
        return memo[(season, cfg)]

    for s in S:  # the fast path against equicare's score() on R4-0 and on V1
        truth_p, base_p = FILES[s]
        for v in ("V0", "V1"):
            chk = score(load_truth(truth_p), S[s].table(S[s].candidate(v, ONE)), versus=load_forecasts(base_p))
            print(f"{s} check {v}: score() {chk['wis_ratio']:.4f} cov95 {chk['coverage_95']:.3f}; "
                  f"fast {run(s, (v, ONE))['ratio']:.4f} {run(s, (v, ONE))['cov95']:.3f}", flush=True)
    for s in S:
        for v in VS:
            print(f"{s} {v} m=1   {fmt(run(s, (v, ONE)))}", flush=True)
        for v in VS:
            for m in M:
                r = run(s, (v, (m,) * 4))
                print(f"{s} grid {v} m={m:<3}  ratio {r['ratio']:.4f} (h {' '.join(f'{x:.3f}' for x in r['h'])}) "
                      f"cov95 {r['cov95']:.3f} (h {' '.join(f'{x:.3f}' for x in r['hcov'])})")

    def res_of(seasons: list[str], cfg: tuple) -> dict:
        return pooled([run(s, cfg) for s in seasons])

    def select(seasons: list[str], log: bool = False) -> tuple:
        resV = {v: res_of(seasons, (v, ONE)) for v in VS}
        best = best_of(resV, None)
        r0, rb = resV["V0"], resV[best]
        v = "V0"
        if best != "V0" and rb["ratio"] <= r0["ratio"] - STEP:
            v = best
        elif dist(r0["cov95"]) > 0:
            ok = [k for k in resV if k != "V0" and dist(resV[k]["cov95"]) < dist(r0["cov95"])
                  and resV[k]["ratio"] <= r0["ratio"] + STEP]
            if ok:
                v = min(ok, key=lambda k: (dist(resV[k]["cov95"]), resV[k]["ratio"]))
        resS = {m: res_of(seasons, (v, (m,) * 4)) for m in M}
        mH = tuple(best_of(resS, j) for j in range(4))
        r1, rS = res_of(seasons, (v, ONE)), res_of(seasons, (v, mH))
        m = ONE
        if rS["ratio"] <= r1["ratio"] - STEP and (dist(rS["cov95"]) == 0 or dist(rS["cov95"]) < dist(r1["cov95"])):
            m = mH
        elif dist(r1["cov95"]) > 0 and dist(rS["cov95"]) < dist(r1["cov95"]) and rS["ratio"] <= r1["ratio"] + STEP:
            m = mH
        if log:
            print(f"  {'+'.join(seasons)}: V {v} (V0 {r0['ratio']:.4f}/{r0['cov95']:.3f}, best {best} "
                  f"{rb['ratio']:.4f}/{rb['cov95']:.3f}); S m_h={mH} {rS['ratio']:.4f}/{rS['cov95']:.3f} vs "
                  f"{r1['ratio']:.4f}/{r1['cov95']:.3f} -> {m}")
        return (v, m)

    print("\n== rule")
    loso, base = [], []
    for name, sel, held in (("fold A", ["2023-24"], "2024-25"), ("fold B", ["2024-25"], "2023-24")):
        cfg = select(sel, log=True)
        loso.append(run(held, cfg))
        base.append(run(held, ("V0", ONE)))
        print(f"{name}: selected on {sel[0]}: {cfg}; held out {held}: {fmt(loso[-1])}; R4-0 there: {fmt(base[-1])}",
              flush=True)
    lm, bm = np.mean([r["ratio"] for r in loso]), np.mean([r["ratio"] for r in base])
    print(f"combined LOSO score {lm:.4f} against R4-0 {bm:.4f}")
    ok = (lm <= bm - 0.004 and all(l["ratio"] <= b["ratio"] + STEP for l, b in zip(loso, base))
          and all(dist(l["cov95"]) == 0 or dist(l["cov95"]) < dist(b["cov95"]) for l, b in zip(loso, base)))
    final = select(["2023-24", "2024-25"], log=True)
    print(f"final (both seasons): {final}; 2023-24 {fmt(run('2023-24', final))}; 2024-25 {fmt(run('2024-25', final))}")
    print(f"adoption rule: {'ADOPT ' + str(final) if ok else 'R4-0 stays'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
