"""Round-6 selection (bench/selection-round6.md): candidates from the members' cached real-time back-tests.

Reads, per season, the cached ``carry`` member back-tests of the pooled GBM and pooled AR (round 5, same code) and
of the new ``pooled_gbqr`` (``round6_members.py``), forms every candidate exactly as
:class:`~equicare.forecast.models.QuantileEnsemble` would (members' quantiles averaged with per-horizon weights
``(1 - u_h) (3/4 GBM + 1/4 AR) + u_h GBQR``, then the root-scale spread ``s_h m_h``), scores it against the final
truth (ratio to the hub FluSight-baseline) and applies the round's rule: W (one weight u), H (per-horizon u_h),
S (per-horizon spread multipliers), per fold (A: select on 2023-24, B: on 2024-25) and on both seasons together.

Run: ``python bench/round6_select.py CACHEDIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.forecast import load_forecasts, load_population, load_truth, score, wis
from equicare.forecast.hub import QUANTILES
from equicare.forecast.models.ensemble import AUGMENTED_SPREAD, ROOT_OFFSET

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flusight"
FILES = {"2023-24": (SHARED / "target-hospital-admissions.csv", SHARED / "FluSight-baseline-2023-24.csv.gz"),
         "2024-25": (SHARED / "season-2024-25" / "target-hospital-admissions.csv",
                     SHARED / "season-2024-25" / "FluSight-baseline-2024-25.csv.gz")}
KEY = ["reference_date", "location", "horizon"]
U = (0.0, 0.25, 0.5, 0.75, 1.0)
M = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4)
STEP = 0.002
R40 = ((0.0,) * 4, (1.0,) * 4)  # R4-0: no GBQR, multipliers 1


def wide(df: pd.DataFrame) -> pd.DataFrame:
    d = df.copy()
    d["reference_date"] = pd.to_datetime(d["reference_date"])
    d["output_type_id"] = d["output_type_id"].astype(float).round(4)
    return d.pivot_table(index=KEY, columns="output_type_id", values="value").sort_index()


def dist(c: float) -> float:
    return 0.0 if 0.90 <= c <= 0.97 else min(abs(c - 0.90), abs(c - 0.97))


class Season:
    """One season's member runs as arrays over their common tasks (``self.m[name]``, tasks x 23 quantiles),
    and its scoring against the final truth; ``members`` are the cache files' names after the season
    (``CACHE/SEASON-NAME.parquet``).  Round 7 reuses it with its own members."""

    members = ("gbm-0", "ar-0", "gbqr-0")

    def __init__(self, season: str, cache: Path, pop: pd.Series) -> None:
        ws = [wide(pd.read_parquet(cache / f"{season}-{m}.parquet")) for m in self.members]
        idx = ws[0].index
        for w in ws[1:]:
            idx = idx.intersection(w.index)
        self.idx = idx
        self.m = {n: w.reindex(idx).to_numpy() for n, w in zip(self.members, ws)}
        ref = idx.get_level_values(0)
        self.loc = idx.get_level_values(1).to_numpy()
        self.h = idx.get_level_values(2).to_numpy()
        self.scale = pop.reindex(self.loc).to_numpy() / 1e5
        self.target = ref + pd.to_timedelta(7 * self.h, unit="D")
        self.ref = ref
        truth_p, base_p = FILES[season]
        t = load_truth(truth_p).set_index(["date", "location"])["value"]
        y = t.reindex(pd.MultiIndex.from_arrays([self.target, self.loc])).to_numpy()
        bq = wide(load_forecasts(base_p)).reindex(idx).to_numpy()
        self.mask = (self.loc != "US") & (self.h <= 3) & ~np.isnan(y) & ~np.isnan(bq).any(axis=1)
        self.y = y
        self.wbase = np.full(len(y), np.nan)
        self.wbase[self.mask] = wis(y[self.mask], bq[self.mask])

    def candidate(self, u: tuple[float, ...], m: tuple[float, ...]) -> np.ndarray:
        uh = np.asarray(u)[self.h][:, None]
        mix = (1 - uh) * (0.75 * self.m["gbm-0"] + 0.25 * self.m["ar-0"]) + uh * self.m["gbqr-0"]
        return self.spread(mix, m)

    def spread(self, mix: np.ndarray, m: tuple[float, ...]) -> np.ndarray:
        """The ensemble's root-scale spread times the per-step multipliers ``m`` around the median."""
        s = (np.asarray(AUGMENTED_SPREAD) * np.asarray(m))[self.h][:, None]
        sc = self.scale[:, None]
        z = (mix / sc + ROOT_OFFSET) ** 0.25
        zm = z[:, 11:12]
        out = (np.maximum(zm + s * (z - zm), 0.0) ** 4 - ROOT_OFFSET) * sc
        return np.where(mix <= 0.0, 0.0, np.maximum(out, 0.0))

    def evaluate(self, q: np.ndarray) -> dict:
        k = self.mask
        y, qq, wb, h = self.y[k], q[k], self.wbase[k], self.h[k]
        wm = wis(y, qq)
        cov = (qq[:, 1] <= y) & (y <= qq[:, 21])
        return {"ratio": wm.sum() / wb.sum(), "cov95": cov.mean(), "cov50": ((qq[:, 6] <= y) & (y <= qq[:, 16])).mean(),
                "n": int(k.sum()), "ncov": int(cov.sum()),
                "h": [wm[h == j].sum() / wb[h == j].sum() for j in range(4)],
                "hn": [int((h == j).sum()) for j in range(4)], "hncov": [int(cov[h == j].sum()) for j in range(4)],
                "hcov": [cov[h == j].mean() for j in range(4)]}

    def table(self, q: np.ndarray) -> pd.DataFrame:
        n = len(self.idx)
        return pd.DataFrame({"reference_date": np.repeat(self.ref.strftime("%Y-%m-%d").to_numpy(), 23),
                             "horizon": np.repeat(self.h, 23), "target": "wk inc flu hosp",
                             "target_end_date": np.repeat(self.target.strftime("%Y-%m-%d").to_numpy(), 23),
                             "location": np.repeat(self.loc, 23), "output_type": "quantile",
                             "output_type_id": np.tile(np.asarray(QUANTILES), n), "value": q.reshape(-1)})


def pooled(rs: list[dict]) -> dict:
    """Several seasons together: mean of the ratios (overall and per horizon); coverage over all tasks."""
    if len(rs) == 1:
        return rs[0]
    return {"ratio": float(np.mean([r["ratio"] for r in rs])),
            "cov95": sum(r["ncov"] for r in rs) / sum(r["n"] for r in rs),
            "h": [float(np.mean([r["h"][j] for r in rs])) for j in range(4)],
            "hcov": [sum(r["hncov"][j] for r in rs) / sum(r["hn"][j] for r in rs) for j in range(4)]}


def fmt(r: dict) -> str:
    return (f"ratio {r['ratio']:.4f} (h {' '.join(f'{x:.3f}' for x in r['h'])}) cov50 {r['cov50']:.3f} "
            f"cov95 {r['cov95']:.3f} (h {' '.join(f'{x:.3f}' for x in r['hcov'])})")


def best_of(res: dict, j: int | None) -> object:
    """Lowest ratio (horizon j's, or the season's) among keys whose coverage (horizon j's) is in the band; else the
    nearest the band, then the lowest ratio."""
    def c(k): return res[k]["cov95"] if j is None else res[k]["hcov"][j]
    def r(k): return res[k]["ratio"] if j is None else res[k]["h"][j]
    inb = [k for k in res if dist(c(k)) == 0]
    return min(inb, key=r) if inb else min(res, key=lambda k: (dist(c(k)), r(k)))


def main() -> int:
    cache = Path(sys.argv[1])
    pop = load_population()
    S = {s: Season(s, cache, pop) for s in FILES}
    memo: dict = {}

    def run(season: str, cfg: tuple) -> dict:
        if (season, cfg) not in memo:
            memo[(season, cfg)] = S[season].evaluate(S[season].candidate(*cfg))
        return memo[(season, cfg)]

    for s in S:  # the fast path against equicare's score() on R4-0 and on the GBQR alone
        truth_p, base_p = FILES[s]
        for cfg in (R40, ((1.0,) * 4, (1.0,) * 4)):
            chk = score(load_truth(truth_p), S[s].table(S[s].candidate(*cfg)), versus=load_forecasts(base_p))
            print(f"{s} check {cfg[0][0]}: score() {chk['wis_ratio']:.4f} cov95 {chk['coverage_95']:.3f}; "
                  f"fast {run(s, cfg)['ratio']:.4f} {run(s, cfg)['cov95']:.3f}", flush=True)
        raw = S[s].evaluate(S[s].m["gbqr-0"])
        print(f"{s} pooled_gbqr alone, no spread: {fmt(raw)}")
    for s in S:
        for u in U:
            print(f"{s} W u={u:<4} m=1    {fmt(run(s, ((u,) * 4, (1.0,) * 4)))}", flush=True)
        for u in U:
            for m in M:
                r = run(s, ((u,) * 4, (m,) * 4))
                print(f"{s} grid u={u:<4} m={m:<3}  ratio {r['ratio']:.4f} (h {' '.join(f'{x:.3f}' for x in r['h'])}) "
                      f"cov95 {r['cov95']:.3f} (h {' '.join(f'{x:.3f}' for x in r['hcov'])})")

    def res_of(seasons: list[str], cfg: tuple) -> dict:
        return pooled([run(s, cfg) for s in seasons])

    def select(seasons: list[str], log: bool = False) -> tuple:
        one = (1.0,) * 4
        # W: one weight for all horizons
        resW = {u: res_of(seasons, ((u,) * 4, one)) for u in U}
        best = best_of(resW, None)
        r0, rb = resW[0.0], resW[best]
        uW = 0.0
        if best != 0.0 and rb["ratio"] <= r0["ratio"] - STEP:
            uW = best
        elif dist(r0["cov95"]) > 0:
            ok = [k for k in resW if k != 0.0 and dist(resW[k]["cov95"]) < dist(r0["cov95"])
                  and resW[k]["ratio"] <= r0["ratio"] + STEP]
            if ok:
                uW = min(ok, key=lambda k: (dist(resW[k]["cov95"]), resW[k]["ratio"]))
        w = (uW,) * 4
        # H: per-horizon weights
        uH = tuple(best_of({u: resW[u] for u in U}, j) for j in range(4))
        rW, rH = res_of(seasons, (w, one)), res_of(seasons, (uH, one))
        if rH["ratio"] <= rW["ratio"] - STEP and dist(rH["cov95"]) <= dist(rW["cov95"]):
            w = uH
        # S: per-horizon spread multipliers with the chosen weights
        resS = {m: res_of(seasons, (w, (m,) * 4)) for m in M}
        mH = tuple(best_of(resS, j) for j in range(4))
        r1, rS = res_of(seasons, (w, one)), res_of(seasons, (w, mH))
        m = one
        if rS["ratio"] <= r1["ratio"] - STEP and (dist(rS["cov95"]) == 0 or dist(rS["cov95"]) < dist(r1["cov95"])):
            m = mH
        elif dist(r1["cov95"]) > 0 and dist(rS["cov95"]) < dist(r1["cov95"]) and rS["ratio"] <= r1["ratio"] + STEP:
            m = mH
        if log:
            print(f"  {'+'.join(seasons)}: W u={uW} (u=0 {r0['ratio']:.4f}/{r0['cov95']:.3f}, best {best} "
                  f"{rb['ratio']:.4f}/{rb['cov95']:.3f}); H u_h={uH} {rH['ratio']:.4f}/{rH['cov95']:.3f} vs "
                  f"{rW['ratio']:.4f}/{rW['cov95']:.3f} -> {w}; S m_h={mH} {rS['ratio']:.4f}/{rS['cov95']:.3f} vs "
                  f"{r1['ratio']:.4f}/{r1['cov95']:.3f} -> {m}")
        return (w, m)

    print("\n== rule")
    loso, base = [], []
    for name, sel, held in (("fold A", ["2023-24"], "2024-25"), ("fold B", ["2024-25"], "2023-24")):
        cfg = select(sel, log=True)
        loso.append(run(held, cfg))
        base.append(run(held, R40))
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
