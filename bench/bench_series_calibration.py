"""Calibration and WIS of the any-series forecast models on simulated count series (issue #13).

Run: ``PYTHONPATH=src python bench/bench_series_calibration.py [--quick]``.  Prints, per series kind and
frequency, the 50 % / 90 % interval coverage over the back-test's held-out steps and the mean WIS ratio to the
flat baseline, for the any-series default (``ensemble`` = count ensemble), its damped trend, and the flu
models that were the default before (``QuantileEnsemble()``, ``DampedTrend()`` on the fourth-root scale).
Bounded: 20 regions, 24 reference dates, horizons 0-3.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from equicare.forecast.models import DampedTrend, QuantileEnsemble
from equicare.forecast.series import CountSeries, backtest_counts, score_counts

STEPS = {"daily": 300, "weekly": 156, "monthly": 72}


def simulate(kind: str, freq: str, L: int = 20, seed: int = 0) -> CountSeries:
    """``kind``: poisson5, nb5 (mean 5, size 2), poisson200, trend (5 -> 20 + Poisson), season (x(1 + 0.5 sin))."""
    T = STEPS[freq]
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-03", periods=T, freq={"daily": "D", "weekly": "7D", "monthly": "MS"}[freq])
    t = np.arange(T)[:, None]
    period = {"daily": 7, "weekly": 52, "monthly": 12}[freq]
    if kind == "poisson5":
        y = rng.poisson(5.0, (T, L))
    elif kind == "nb5":
        y = rng.negative_binomial(2, 2 / (2 + 5.0), (T, L))
    elif kind == "poisson200":
        y = rng.poisson(200.0, (T, L))
    elif kind == "trend":
        y = rng.poisson(5.0 + 15.0 * t / T * np.ones((1, L)))
    elif kind == "season":
        y = rng.poisson(10.0 * (1 + 0.5 * np.sin(2 * np.pi * t / period)) * np.ones((1, L)))
    else:
        raise ValueError(kind)
    f = pd.DataFrame({"date": np.repeat(dates, L), "location": np.tile([f"R{j:02d}" for j in range(L)], T),
                      "value": y.reshape(-1).astype(float)})
    return CountSeries(f.sort_values(["location", "date"]).reset_index(drop=True), freq)


def coverage(s: CountSeries, fc: pd.DataFrame, lo: float, hi: float) -> float:
    """Share of held-out targets inside the central interval ``[q_lo, q_hi]``."""
    t = s.frame.assign(target_end_date=s.frame["date"].dt.strftime("%Y-%m-%d"))
    t = t[["location", "target_end_date", "value"]]
    w = fc[fc["output_type_id"].isin([lo, hi])].pivot_table(
        index=["reference_date", "horizon", "location", "target_end_date"], columns="output_type_id",
        values="value").reset_index()
    m = w.merge(t.rename(columns={"value": "y"}), on=["location", "target_end_date"])
    return float(((m[lo] <= m["y"]) & (m["y"] <= m[hi])).mean())


def main(quick: bool = False) -> None:
    models = {"ensemble": "ensemble", "damped_trend": "damped_trend",
              "flu QuantileEnsemble (before)": QuantileEnsemble(), "flu DampedTrend (before)": DampedTrend()}
    if quick:
        models = {k: v for k, v in models.items() if "flu Q" not in k}
    print("| kind | freq | model | cov50 | cov90 | WIS ratio vs flat | s |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("poisson5", "nb5", "poisson200", "trend", "season"):
        for freq in ("daily", "weekly", "monthly"):
            s = simulate(kind, freq)
            base = score_counts(s, backtest_counts(s, 24, "flat_baseline"))["wis"]
            for name, m in models.items():
                t0 = time.time()
                fc = backtest_counts(s, 24, m)
                wis = score_counts(s, fc)["wis"]
                print(f"| {kind} | {freq} | {name} | {coverage(s, fc, 0.25, 0.75):.3f} | "
                      f"{coverage(s, fc, 0.05, 0.95):.3f} | {wis / base:.3f} | {time.time() - t0:.1f} |", flush=True)


if __name__ == "__main__":
    main("--quick" in sys.argv)
