"""Benchmark: small-cell suppression and differentially private releases on the bundled real US data.

1. Suppression of weekly influenza admissions per state (CDC NHSN via FluSight, every week, grouped by
   week so that each national weekly total is protected) and of hospitals per county (grouped by
   state): time, cells hidden by the primary and complementary rules, share of the total count hidden.
   The reference point is the primary rule alone, a vectorised pandas mask, which is what a naive
   export would do. Its ratio is the price of protecting the totals.
2. OpenDP releases of hospitals and staffed beds per state (privacy unit: one hospital): time, noise
   scale, 95% error bound and the empirical coverage of that bound over repeated releases. The bound
   is checked against the true per-state values, and the noise scale against a plain numpy Laplace draw
   of the same scale. The numpy draw is not a safe DP implementation (floating-point attacks), only a
   yardstick for speed and accuracy.
3. The effect of the noise on a pooled allocation: a stockpile of 1,000 units is shared by leximin in
   proportion to DP counts of hospitals per state, for several epsilons. The bootstrap measures the
   share of the stockpile that the noise moves between states.

A plain script: it prints figures and never asserts on time. Run: ``.venv/bin/python bench/bench_privacy.py``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from equicare.data.bundled import data_path, load_bundled
from equicare.privacy.dp import dp_release
from equicare.privacy.suppress import suppress_small_cells

warnings.filterwarnings("ignore")


def best(fn, repeat: int = 3):
    t, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def suppression() -> None:
    print("== 1. small-cell suppression (threshold 11)")
    adm = pd.read_csv(data_path("admissions"), dtype={"location": str})
    adm = adm[adm["location"] != "US"][["date", "location", "value"]].reset_index(drop=True)
    data = load_bundled()
    hosp = data.facilities.groupby(["state", "region"]).size().rename("hospitals").reset_index()
    for label, df, col, group in [("flu admissions, state x week", adm, "value", "date"),
                                  ("hospitals per county", hosp, "hospitals", "state")]:
        t_full, (out, rep) = best(lambda: suppress_small_cells(df, col, group_column=group, total_row=True))
        t_naive, mask = best(lambda: df[col].between(1, 10))
        body = out[~out["is_total"]]
        hidden_share = df.loc[body[f"{col}_suppressed"].to_numpy(), col].sum() / df[col].sum()
        print(f"{label:<32} {len(df):>6} cells  primary {rep.n_primary:>5}  complementary {rep.n_complementary:>4}  "
              f"count hidden {100 * hidden_share:5.2f}%  time {1000 * t_full:7.1f} ms  "
              f"(primary-only mask {1000 * t_naive:5.2f} ms, ratio {t_full / t_naive:6.0f}x)")


def dp_releases() -> None:
    print("== 2. OpenDP releases per state (privacy unit: one hospital)")
    data = load_bundled()
    fac = data.facilities.assign(state=data.facilities["state"].astype(str))
    regions = data.states["id"].astype(str).tolist()
    true_n = fac.groupby("state").size().reindex(regions, fill_value=0).to_numpy(float)
    beds = fac["cap_beds"].fillna(0).clip(0, 1000)
    true_b = fac.assign(b=beds).groupby("state")["b"].sum().reindex(regions, fill_value=0).to_numpy(float)
    rng = np.random.default_rng(0)
    for stat, kwargs, truth in [("count", {}, true_n),
                                ("sum", {"column": "cap_beds", "bounds": (0.0, 1000.0)}, true_b)]:
        eps = 0.5
        t, rel = best(lambda: dp_release(fac, by="state", statistic=stat, epsilon=eps, regions=regions, **kwargs))
        b = list(rel.scale.values())[0]
        t_np, _ = best(lambda: truth + rng.laplace(0, b, size=len(truth)))
        errs = np.concatenate([
            np.abs(dp_release(fac, by="state", statistic=stat, epsilon=eps, regions=regions, **kwargs)
                   .table["estimate"].to_numpy() - truth) for _ in range(40)])
        print(f"{stat:<6} epsilon {eps}: {len(fac):,} rows x {len(regions)} states  scale {b:9.3f}  "
              f"95% bound {rel.error_bound:9.2f}  empirical coverage {np.mean(errs < rel.error_bound):.3f}  "
              f"mean |error| {errs.mean():8.2f} (E|Laplace| = {b:.2f})  time {1000 * t:6.1f} ms "
              f"(numpy Laplace {1000 * t_np:.3f} ms)")


def pooled_noise() -> None:
    print("== 3. effect of DP noise on a leximin allocation of 1,000 units by hospitals per state")
    from equicare.optimize import allocate_stockpile

    data = load_bundled()
    regions = data.states["id"].astype(str).tolist()
    fac = data.facilities.assign(state=data.facilities["state"].astype(str))
    true_n = fac.groupby("state").size().reindex(regions, fill_value=0).to_numpy(float)
    base = allocate_stockpile(regions, true_n, 1000.0).table.set_index("region").loc[regions, "allocated"].to_numpy()
    for eps in (0.05, 0.1, 0.5, 1.0):
        moved = []
        for _ in range(30):
            noisy = dp_release(fac, by="state", statistic="count", epsilon=eps, regions=regions).table
            need = np.maximum(noisy["estimate"].to_numpy(float), 0)
            a = allocate_stockpile(regions, need, 1000.0).table.set_index("region").loc[regions, "allocated"].to_numpy()
            moved.append(np.abs(a - base).sum() / 2)
        print(f"epsilon {eps:<5} units moved vs the noiseless allocation: mean {np.mean(moved):6.1f} of 1000 "
              f"({np.mean(moved) / 10:.2f}%), max {np.max(moved):6.1f}")


if __name__ == "__main__":
    suppression()
    dp_releases()
    pooled_noise()
