"""Round-9 selection (bench/selection-round9.md): spread by growth regime, chosen on 2021-22 and 2022-23.

Reads the cached member back-tests (``bench/round9_members.py`` for 2021-22 / 2022-23 on revised data, with
``flat_baseline`` as the reference; ``bench/round8_members.py`` for the real-time seasons at deadline R - 2, and
at R - 3 for the figures beside), forms each candidate as the product would (3:1 quantile average of the pooled GBM
and AR with ``resid_regimes=G``, then the root-scale spread ``s_h * m_g`` with ``g`` the location's growth regime at
the origin, :func:`equicare.forecast.models.ensemble.growth_regimes` on the panel the forecast used), applies the
rule on the old seasons and the adoption test on the real-time ones.

Run: ``python bench/round9_select.py OLDCACHE RTCACHE [RT3CACHE]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from round6_select import FILES, KEY, dist, wide  # noqa: E402
from round9_members import SEASONS as OLD, old_truth  # noqa: E402

from equicare.forecast import bundled_path, load_forecasts, load_population, load_truth, to_panel, wis  # noqa: E402
from equicare.forecast.extras import bundled_extras  # noqa: E402
from equicare.forecast.hub import saturdays  # noqa: E402
from equicare.forecast.models.ensemble import AUGMENTED_SPREAD, ROOT_OFFSET, growth_regimes  # noqa: E402
from equicare.forecast.vintages import load_vintages  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flusight"
RT = {"2023-24": ("2023-10-14", "2024-05-04"), "2024-25": ("2024-11-23", "2025-05-31")}
MS = tuple(round(0.8 + 0.1 * i, 1) for i in range(9))  # 0.8 .. 1.6
GS = (1, 3)
R40 = {"2023-24": 0.6932, "2024-25": 0.6985}
STEP = 0.002


class Tasks:
    """One season's member quantiles on common tasks, the reference's WIS and each task's growth regime."""

    def __init__(self, cache: Path, season: str, y_frame: pd.DataFrame, base: pd.DataFrame,
                 regimes: dict, pop: pd.Series) -> None:
        ws = {n: wide(pd.read_parquet(cache / f"{season}-{n}.parquet")) for n in (f"{m}-{g}" for g in GS
                                                                                for m in ("gbm", "ar"))}
        idx = None
        for w in ws.values():
            idx = w.index if idx is None else idx.intersection(w.index)
        self.m = {n: w.reindex(idx).to_numpy() for n, w in ws.items()}
        ref = idx.get_level_values(0)
        self.loc = idx.get_level_values(1).to_numpy()
        self.h = idx.get_level_values(2).to_numpy()
        self.scale = pop.reindex(self.loc).to_numpy() / 1e5
        target = ref + pd.to_timedelta(7 * self.h, unit="D")
        t = y_frame.set_index(["date", "location"])["value"]
        self.y = t.reindex(pd.MultiIndex.from_arrays([target, self.loc])).to_numpy()
        bq = base.reindex(idx).to_numpy()
        self.g = np.array([regimes.get((r, l), 1) for r, l in zip(ref, self.loc)])
        self.mask = (self.loc != "US") & (self.h <= 3) & ~np.isnan(self.y) & ~np.isnan(bq).any(axis=1)
        self.wb = np.full(len(self.y), np.nan)
        self.wb[self.mask] = wis(self.y[self.mask], bq[self.mask])

    def config(self, G: int, mg: tuple[float, float, float]) -> np.ndarray:
        mix = 0.75 * self.m[f"gbm-{G}"] + 0.25 * self.m[f"ar-{G}"]
        s = (np.asarray(AUGMENTED_SPREAD)[self.h] * np.asarray(mg)[self.g])[:, None]
        sc = self.scale[:, None]
        z = (mix / sc + ROOT_OFFSET) ** 0.25
        zm = z[:, 11:12]
        out = (np.maximum(zm + s * (z - zm), 0.0) ** 4 - ROOT_OFFSET) * sc
        return np.where(mix <= 0.0, 0.0, np.maximum(out, 0.0))

    def stats(self, q: np.ndarray, sel: np.ndarray | None = None) -> tuple[float, int, int]:
        """(ratio, tasks, covered) on the scored tasks (of ``sel``)."""
        k = self.mask if sel is None else self.mask & sel
        wm = wis(self.y[k], q[k])
        cov = (q[k][:, 1] <= self.y[k]) & (self.y[k] <= q[k][:, 21])
        return float(wm.sum() / self.wb[k].sum()), int(k.sum()), int(cov.sum())


def regimes_for(panels) -> dict:
    out = {}
    for ref, panel in panels:
        g = growth_regimes(panel)
        out.update({(ref, loc): int(x) for loc, x in zip(panel.locations, g)})
    return out


def old_tasks(cache: Path, pop: pd.Series, ex) -> dict[str, Tasks]:
    """The old seasons (2021-22, 2022-23; revised data, ``flat_baseline`` as the reference) from ``cache``."""
    full = to_panel(load_truth(bundled_path("target-hospital-admissions.csv")), ex.history, pop)
    yold = old_truth()
    out = {}
    for s, (a, b) in OLD.items():
        regs = regimes_for((r, full.cut(r - pd.Timedelta(weeks=1))) for r in saturdays(a, b))
        out[s] = Tasks(cache, s, yold, wide(pd.read_parquet(cache / f"{s}-flat-0.parquet")), regs, pop)
    return out


def realtime_tasks(cache: Path, pop: pd.Series, ex, v) -> dict[str, Tasks]:
    """The real-time seasons (2023-24, 2024-25; the hub's FluSight-baseline as the reference) from ``cache``, with
    the growth regimes of the panels the vintages ``v`` give."""
    out = {}
    for s, (a, b) in RT.items():
        regs = regimes_for((r, to_panel(v.realtime(r), ex.history, pop).cut(r - pd.Timedelta(weeks=1)))
                           for r in saturdays(a, b))
        truth_p, base_p = FILES[s]
        out[s] = Tasks(cache, s, load_truth(truth_p), wide(load_forecasts(base_p)), regs, pop)
    return out


def main() -> int:
    old_cache, rt_cache = Path(sys.argv[1]), Path(sys.argv[2])
    rt3_cache = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    pop = load_population()
    ex = bundled_extras()
    old = old_tasks(old_cache, pop, ex)
    # step 1 and 2 on the old seasons
    chosen = {}
    for G in GS:
        mg = []
        for g in range(3):
            res = {}
            for m in MS:
                st = [old[s].stats(old[s].config(G, (m, m, m)), old[s].g == g) for s in old]
                res[m] = (float(np.mean([x[0] for x in st])), sum(x[2] for x in st) / sum(x[1] for x in st))
            inb = [m for m in res if dist(res[m][1]) == 0]
            best = min(inb, key=lambda m: res[m][0]) if inb else min(res, key=lambda m: (dist(res[m][1]), res[m][0]))
            print(f"G={G} regime {g}: " + "  ".join(f"{m}: {r:.4f}/{c:.3f}" for m, (r, c) in res.items()))
            mg.append(best)
        st = [old[s].stats(old[s].config(G, tuple(mg))) for s in old]
        chosen[G] = (tuple(mg), float(np.mean([x[0] for x in st])), sum(x[2] for x in st) / sum(x[1] for x in st))
        print(f"G={G}: m_g {mg}; old seasons " + ", ".join(f"{s} {x[0]:.4f} cov95 {x[2] / x[1]:.3f}"
                                                           for s, x in zip(old, st)) + f"; mean {chosen[G][1]:.4f}")
        r1 = [old[s].stats(old[s].config(G, (1.0, 1.0, 1.0))) for s in old]
        print(f"   (same G, no regime spread: " + ", ".join(f"{s} {x[0]:.4f} cov95 {x[2] / x[1]:.3f}"
                                                        for s, x in zip(old, r1)) + ")")
    G = 3 if chosen[3][1] <= chosen[1][1] - STEP else 1
    mg = chosen[G][0]
    print(f"candidate: G={G}, m_g (falling, flat, rising) = {mg}")
    # adoption on the real-time seasons
    for days, cache in ((2, rt_cache), (3, rt3_cache)):
        if cache is None:
            continue
        v = load_vintages(SHARED / "vintages" / "admissions-vintages.csv.gz", deadline_days=days)
        res = {}
        for s, t in realtime_tasks(cache, pop, ex, v).items():
            c = t.stats(t.config(G, mg))
            r0 = t.stats(t.config(1, (1.0, 1.0, 1.0)))
            share = [float(np.mean(t.g[t.mask] == g)) for g in range(3)]
            res[s] = (c[0], c[2] / c[1], r0[0], r0[2] / r0[1])
            print(f"R - {days} {s}: candidate {c[0]:.4f} cov95 {c[2] / c[1]:.3f}; R4-0 {r0[0]:.4f} cov95 "
                  f"{r0[2] / r0[1]:.3f}; regime shares {', '.join(f'{x:.2f}' for x in share)}")
        if days == 2:
            mean = float(np.mean([x[0] for x in res.values()]))
            a = mean <= np.mean(list(R40.values())) - 0.004
            b = all(res[s][0] <= R40[s] + STEP for s in res)
            c = all(dist(res[s][1]) == 0 or dist(res[s][1]) < dist(res[s][3]) for s in res)
            print(f"adoption (R - 2): mean {mean:.4f} against {np.mean(list(R40.values())):.4f}: (a) {a}, (b) {b}, "
                  f"(c) {c} -> {'ADOPT' if a and b and c else 'R4-0 stays'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
