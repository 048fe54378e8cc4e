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

from equicare.forecast import load_forecasts, load_population, load_truth, score, wis
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


def tasks(truth: pd.DataFrame, hub_base: pd.DataFrame, members: list[pd.DataFrame]) -> tuple:
    """Common tasks of the members and the hub baseline with an observation (states, horizons 0-3), as arrays:
    members' quantiles ``(n, 23)`` each, the baseline's WIS ``(n,)``, the observations, horizons, populations."""
    def wide(df: pd.DataFrame) -> pd.DataFrame:
        d = df[(df["location"] != "US") & df["horizon"].between(0, 3)].copy()
        d["reference_date"] = pd.to_datetime(d["reference_date"])
        d["output_type_id"] = d["output_type_id"].astype(float).round(4)
        return d.pivot_table(index=["reference_date", "location", "horizon"], columns="output_type_id",
                             values="value")
    ws = [wide(m) for m in members]
    wb = wide(hub_base)
    idx = ws[0].index.intersection(wb.index)
    for w in ws[1:]:
        idx = idx.intersection(w.index)
    t = truth.set_index(["date", "location"])["value"]
    end = idx.get_level_values(0) + pd.to_timedelta(7 * idx.get_level_values(2).to_numpy(), unit="D")
    y = t.reindex(pd.MultiIndex.from_arrays([end, idx.get_level_values(1)])).to_numpy()
    ok = ~np.isnan(y) & ~wb.reindex(idx).isna().any(axis=1).to_numpy()
    idx, y = idx[ok], y[ok]
    qs = [w.reindex(idx).to_numpy() for w in ws]
    wb_ = wis(y, wb.reindex(idx).to_numpy())
    return qs, wb_, y, idx.get_level_values(2).to_numpy(), idx.get_level_values(1).to_numpy()


def evaluate(qs, wbase, y, h, scale, weights, spread) -> dict:
    w = np.asarray(weights, float) / sum(weights)
    q = sum(wi * qi for wi, qi in zip(w, qs))
    s = np.asarray(spread)[h][:, None]
    z = (q / scale + ROOT_OFFSET) ** 0.25
    zm = z[:, 11:12]
    out = (np.maximum(zm + s * (z - zm), 0.0) ** 4 - ROOT_OFFSET) * scale
    out = np.sort(np.where(q <= 0, 0.0, np.maximum(out, 0.0)), axis=1)
    wm = wis(y, out)
    cov = (out[:, 1] <= y) & (y <= out[:, 21])
    res = {"ratio": wm.sum() / wbase.sum(), "cov95": cov.mean(), "n": len(y),
           "cov50": ((out[:, 6] <= y) & (y <= out[:, 16])).mean()}
    for k in range(4):
        m = h == k
        res[k] = (wm[m].sum() / wbase[m].sum(), cov[m].mean())
    return res


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
        qs, wbase, y, h, locs = tasks(truth, hub_base, members)
        scale = (pop.reindex(locs).to_numpy() / 1e5)[:, None]
        for weights in ((3, 1), (2, 1), (1, 1)):
            fitted = []
            for k in range(4):
                best = None
                for g in GRID:
                    sp = tuple(g if j == k else AUGMENTED_SPREAD[j] for j in range(4))
                    r, c = evaluate(qs, wbase, y, h, scale, weights, sp)[k]
                    dist = 0.0 if 0.90 <= c <= 0.97 else min(abs(c - 0.90), abs(c - 0.97))
                    cand = (dist, r, g)
                    best = cand if best is None or cand < best else best
                fitted.append(float(best[2]))
            for label, sp in (("round-3 spread", AUGMENTED_SPREAD), ("refitted spread", tuple(fitted))):
                r = evaluate(qs, wbase, y, h, scale, weights, sp)
                hz = " ".join(f"{r[k][0]:.3f}" for k in range(4))
                print(f"{season} nowcast={nc} GBM:AR={weights[0]}:{weights[1]} {label} "
                      f"{'/'.join(f'{x:.2f}' for x in sp)}: ratio {r['ratio']:.4f} (h {hz}) "
                      f"cov50 {r['cov50']:.3f} cov95 {r['cov95']:.3f} tasks {r['n']}", flush=True)
        if nc == 0:  # check of the fast scorer against equicare's score() on the reference candidate
            ref = score(truth, combine(members, (3, 1), AUGMENTED_SPREAD, pop), versus=hub_base)
            print(f"check with score(): R4-0 ratio {ref['wis_ratio']:.4f} cov95 {ref['coverage_95']:.3f} "
                  f"tasks {ref['n_tasks']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
