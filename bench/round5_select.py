"""Round-5 selection (bench/selection-round5.md): candidates from the members' cached real-time back-tests.

Reads, per season, the ``carry`` member back-tests (``round4_members.py``: ``SEASON-gbm-0.parquet``,
``SEASON-ar-0.parquet``) and the members' forecasts from imputed weeks (``round5_members.py``), forms every
candidate (missing weeks x GBM:AR weights x adaptive spread) exactly as ``equicare.forecast.run`` would (quantile
average, the default's root-scale spread, the missing-weeks rule, then the adaptive conformal factor learned from
the candidate's own earlier forecasts and the data published by R - 3), scores them against the final truth
(ratio to the hub FluSight-baseline) and applies the round's rule: fold A (select on 2023-24, report 2024-25),
fold B (the mirror), and the final choice on both seasons together.

Run: ``python bench/round5_select.py CACHEDIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.forecast import load_forecasts, load_population, load_truth, score, wis
from equicare.forecast.calibration import AdaptiveSpread, conformal_factor, conformity_scores
from equicare.forecast.gaps import recentre_root, widen_root
from equicare.forecast.models.ensemble import AUGMENTED_SPREAD, ROOT_OFFSET
from equicare.forecast.vintages import deadline, load_vintages

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flusight"
FILES = {"2023-24": (SHARED / "target-hospital-admissions.csv", SHARED / "FluSight-baseline-2023-24.csv.gz"),
         "2024-25": (SHARED / "season-2024-25" / "target-hospital-admissions.csv",
                     SHARED / "season-2024-25" / "FluSight-baseline-2024-25.csv.gz")}
KEY = ["reference_date", "location", "horizon"]
MW = ("carry", "model-sqrt", "model-carry")
WEIGHTS = ((3, 1), (1, 0), (2, 1), (1, 1), (1, 3))
ADAPTIVE = {"off": None, "4:both": AdaptiveSpread(4, (0.7, 2.5)), "8:both": AdaptiveSpread(8, (0.7, 2.5)),
            "4:widen": AdaptiveSpread(4, (1.0, 2.5)), "8:widen": AdaptiveSpread(8, (1.0, 2.5))}
STEP = 0.002


def wide(df: pd.DataFrame) -> pd.DataFrame:
    d = df.copy()
    d["reference_date"] = pd.to_datetime(d["reference_date"])
    d["output_type_id"] = d["output_type_id"].astype(float).round(4)
    return d.pivot_table(index=KEY, columns="output_type_id", values="value").sort_index()


class Season:
    """Everything one season's candidates need, as arrays over the member tasks (all locations incl. US)."""

    def __init__(self, season: str, cache: Path, vint, pop: pd.Series) -> None:
        self.season = season
        g, a = (wide(pd.read_parquet(cache / f"{season}-{m}-0.parquet")) for m in ("gbm", "ar"))
        self.idx = g.index.intersection(a.index)
        self.g, self.a = g.reindex(self.idx).to_numpy(), a.reindex(self.idx).to_numpy()
        ref = self.idx.get_level_values(0)
        loc = self.idx.get_level_values(1).to_numpy()
        self.h = self.idx.get_level_values(2).to_numpy()
        self.ref, self.loc = ref, loc
        self.scale = (pop.reindex(loc).to_numpy() / 1e5)
        self.target = ref + pd.to_timedelta(7 * self.h, unit="D")
        imp = pd.read_parquet(cache / f"{season}-imputed.parquet")
        ig = imp[imp["member"] == "gbm"].drop(columns=["member", "gap"])
        ia = imp[imp["member"] == "ar"].drop(columns=["member", "gap"])
        gap = imp[imp["member"] == "gbm"].drop_duplicates(KEY).assign(
            reference_date=lambda d: pd.to_datetime(d["reference_date"])).set_index(KEY)["gap"]
        wg, wa = wide(ig), wide(ia)
        self.fpos = self.idx.get_indexer(wg.index)
        assert (self.fpos >= 0).all()
        self.mg, self.ma = wg.to_numpy(), wa.reindex(wg.index).to_numpy()
        self.fgap = gap.reindex(wg.index).to_numpy()
        # values known at each reference date (published by R - 3), for the adaptive factor
        self.refs = sorted(set(ref))
        self.known = np.full(len(self.idx), np.nan)
        self.known_at: dict[pd.Timestamp, np.ndarray] = {}
        for r in self.refs:
            snap = vint.snapshot(deadline(r))
            s = snap[snap["date"] <= r - pd.Timedelta(weeks=1)].set_index(["date", "location"])["value"]
            y = s.reindex(pd.MultiIndex.from_arrays([self.target, loc])).to_numpy()
            self.known_at[r] = y
        self.ref_arr = ref.to_numpy()
        # scoring: state tasks against the final truth and the hub baseline
        truth_p, base_p = FILES[season]
        truth = load_truth(truth_p)
        wb = wide(load_forecasts(base_p))
        t = truth.set_index(["date", "location"])["value"]
        y = t.reindex(pd.MultiIndex.from_arrays([self.target, loc])).to_numpy()
        bq = wb.reindex(self.idx).to_numpy()
        self.score_mask = (loc != "US") & (self.h <= 3) & ~np.isnan(y) & ~np.isnan(bq).any(axis=1)
        self.y = y
        self.wbase = np.full(len(y), np.nan)
        m = self.score_mask
        self.wbase[m] = wis(y[m], bq[m])

    def spread(self, q: np.ndarray, h: np.ndarray, scale: np.ndarray) -> np.ndarray:
        s = np.asarray(AUGMENTED_SPREAD)[h][:, None]
        z = (q / scale[:, None] + ROOT_OFFSET) ** 0.25
        zm = z[:, 11:12]
        out = (np.maximum(zm + s * (z - zm), 0.0) ** 4 - ROOT_OFFSET) * scale[:, None]
        return np.sort(np.maximum(np.where(q <= 0.0, 0.0, np.maximum(out, 0.0)), 0.0), axis=1)

    def candidate(self, mw: str, weights: tuple[int, int], adaptive: AdaptiveSpread | None) -> np.ndarray:
        w = np.asarray(weights, float) / sum(weights)
        base = self.spread(w[0] * self.g + w[1] * self.a, self.h, self.scale)
        if mw != "carry":
            p = self.fpos
            vm = self.spread(w[0] * self.mg + w[1] * self.ma, self.h[p], self.scale[p])
            pop = self.scale[p] * 1e5
            if mw == "model-sqrt":
                f = np.sqrt((self.fgap + self.h[p] + 1.0) / (self.h[p] + 1.0))  # gaps.sqrt_factor per task
                base[p] = widen_root(vm[:, None, :], f[:, None], pop)[:, 0, :]
            else:
                base[p] = recentre_root(vm[:, None, :], base[p][:, None, :], pop)[:, 0, :]
        if adaptive is None:
            return base
        out = base.copy()
        for r in self.refs:
            lo = r - pd.Timedelta(weeks=adaptive.window)
            y = self.known_at[r]
            use = (self.ref_arr >= np.datetime64(lo)) & (self.ref_arr < np.datetime64(r)) & ~np.isnan(y)
            f = conformal_factor(conformity_scores(base[use], y[use], self.scale[use]), adaptive)
            rows = self.ref_arr == np.datetime64(r)
            if f != 1.0:
                out[rows] = widen_root(base[rows][:, None, :], np.full((rows.sum(), 1), f),
                                       self.scale[rows] * 1e5)[:, 0, :]
        return out

    def evaluate(self, q: np.ndarray) -> dict:
        m = self.score_mask
        y, qq, wb, h = self.y[m], q[m], self.wbase[m], self.h[m]
        wm = wis(y, qq)
        cov = (qq[:, 1] <= y) & (y <= qq[:, 21])
        res = {"ratio": wm.sum() / wb.sum(), "cov95": cov.mean(), "cov50": ((qq[:, 6] <= y) & (y <= qq[:, 16])).mean(),
               "n": int(m.sum()), "wis": wm.sum(), "wbase": wb.sum(), "ncov": int(cov.sum())}
        res["h"] = [wm[h == k].sum() / wb[h == k].sum() for k in range(4)]
        res["hcov"] = [cov[h == k].mean() for k in range(4)]
        return res

    def table(self, q: np.ndarray) -> pd.DataFrame:
        """The candidate as hub rows (for a check with equicare's score())."""
        from equicare.forecast.hub import QUANTILES
        n = len(self.idx)
        return pd.DataFrame({"reference_date": np.repeat(self.ref.strftime("%Y-%m-%d").to_numpy(), 23),
                             "horizon": np.repeat(self.h, 23), "target": "wk inc flu hosp",
                             "target_end_date": np.repeat(self.target.strftime("%Y-%m-%d").to_numpy(), 23),
                             "location": np.repeat(self.loc, 23), "output_type": "quantile",
                             "output_type_id": np.tile(np.asarray(QUANTILES), n), "value": q.reshape(-1)})


def dist(c: float) -> float:
    return 0.0 if 0.90 <= c <= 0.97 else min(abs(c - 0.90), abs(c - 0.97))


def pick(res: dict, ref: object, coverage_fix: bool = False) -> object:
    """The round's criterion: lowest ratio with cov95 in band (else nearest the band); replaces ``ref`` only if
    lower by >= 0.002; with ``coverage_fix``, also when ``ref`` is out of band and a candidate is nearer with a
    ratio at most 0.002 higher."""
    inband = [k for k in res if dist(res[k]["cov95"]) == 0]
    best = min(inband, key=lambda k: res[k]["ratio"]) if inband else min(
        res, key=lambda k: (dist(res[k]["cov95"]), res[k]["ratio"]))
    r0 = res[ref]
    if best != ref and res[best]["ratio"] <= r0["ratio"] - STEP:
        return best
    if coverage_fix and dist(r0["cov95"]) > 0:
        ok = [k for k in res if k != ref and dist(res[k]["cov95"]) < dist(r0["cov95"])
              and res[k]["ratio"] <= r0["ratio"] + STEP]
        if ok:
            return min(ok, key=lambda k: (dist(res[k]["cov95"]), res[k]["ratio"]))
    return ref


def pooled(rs: list[dict]) -> dict:
    """Both seasons together: mean of the ratios; coverage over all tasks."""
    return {"ratio": float(np.mean([r["ratio"] for r in rs])), "cov95": sum(r["ncov"] for r in rs) / sum(r["n"] for r in rs)}


def fmt(r: dict) -> str:
    return (f"ratio {r['ratio']:.4f} (h {' '.join(f'{x:.3f}' for x in r['h'])}) cov50 {r['cov50']:.3f} "
            f"cov95 {r['cov95']:.3f} (h {' '.join(f'{x:.3f}' for x in r['hcov'])}) tasks {r['n']}")


def main() -> int:
    cache = Path(sys.argv[1])
    vint = load_vintages(SHARED / "vintages" / "admissions-vintages.csv.gz")
    pop = load_population()
    S = {s: Season(s, cache, vint, pop) for s in FILES}
    memo: dict = {}

    def run(season: str, cfg: tuple) -> dict:
        if (season, cfg) not in memo:
            memo[(season, cfg)] = S[season].evaluate(S[season].candidate(cfg[0], cfg[1], ADAPTIVE[cfg[2]]))
        return memo[(season, cfg)]

    ref = ("carry", (3, 1), "off")
    for s in S:  # check of the fast path against equicare's score() on the reference candidate
        truth_p, base_p = FILES[s]
        chk = score(load_truth(truth_p), S[s].table(S[s].candidate(*ref[:2], None)), versus=load_forecasts(base_p))
        print(f"{s} check: R4-0 via score() {chk['wis_ratio']:.4f} cov95 {chk['coverage_95']:.3f}; "
              f"fast {run(s, ref)['ratio']:.4f} {run(s, ref)['cov95']:.3f}", flush=True)
    # every candidate, every season (printed in full for the log)
    for s in S:
        for mw in MW:
            for w in WEIGHTS:
                for ad in ADAPTIVE:
                    print(f"{s} {mw:<11} GBM:AR {w[0]}:{w[1]} adaptive {ad:<7} {fmt(run(s, (mw, w, ad)))}", flush=True)

    def select(seasons: list[str]) -> tuple:
        def res_of(cfg):
            rs = [run(s, cfg) for s in seasons]
            return rs[0] if len(rs) == 1 else pooled(rs)
        mw = pick({m: res_of((m, (3, 1), "off")) for m in MW}, "carry")
        w = pick({x: res_of((mw, x, "off")) for x in WEIGHTS}, (3, 1))
        ad = pick({a: res_of((mw, w, a)) for a in ADAPTIVE}, "off", coverage_fix=True)
        return (mw, w, ad)

    print("\n== rule")
    for name, sel, held in (("fold A", ["2023-24"], "2024-25"), ("fold B", ["2024-25"], "2023-24")):
        cfg = select(sel)
        print(f"{name}: selected on {sel[0]}: {cfg}; held out {held}: {fmt(run(held, cfg))}; "
              f"R4-0 there: {fmt(run(held, ref))}", flush=True)
    loso = [run("2024-25", select(["2023-24"])), run("2023-24", select(["2024-25"]))]
    base = [run("2024-25", ref), run("2023-24", ref)]
    print(f"combined LOSO score {np.mean([r['ratio'] for r in loso]):.4f} against R4-0 "
          f"{np.mean([r['ratio'] for r in base]):.4f}")
    ok = (np.mean([r["ratio"] for r in loso]) <= np.mean([r["ratio"] for r in base]) - 0.004
          and all(l["ratio"] <= b["ratio"] + STEP for l, b in zip(loso, base))
          and all(dist(l["cov95"]) == 0 or dist(l["cov95"]) < dist(b["cov95"]) for l, b in zip(loso, base)))
    final = select(["2023-24", "2024-25"])
    print(f"final (both seasons): {final}; 2023-24 {fmt(run('2023-24', final))}; 2024-25 {fmt(run('2024-25', final))}")
    print(f"adoption rule: {'ADOPT ' + str(final) if ok else 'R4-0 stays'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
