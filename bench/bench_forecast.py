"""Forecast benchmark: mean WIS ratio to the FluSight-baseline on the 2023-24 season (issue 4).

Backtests every equicare model on

* the validation season 2022-23 (reference dates 2022-10-15 .. 2023-05-13), where settings were chosen;
  the hub's baseline forecasts for that season are not in the shared data, so the ratio is to equicare's
  own implementation of the same baseline method (``flat_baseline``); the default also on 2021-22, the second
  validation season of the third selection round (truth from the NHSN history), and
* the test season 2023-24 (reference dates 2023-10-14 .. 2024-05-04), scored against the hub's own
  FluSight-baseline forecasts on the tasks both made (states, DC and PR; horizons 0-3), next to the hub
  ensemble scored the same way (the issue's reference figure 0.74; goal: at most 0.70 with 95% coverage
  in [0.90, 0.97]).

Training data: the hub target file plus the 2020-2023 NHSN admissions in ``history/``, both cut at
``reference date - 7 days`` for every forecast; the pooled models (and the ensemble's pooled member) also
train on ILINet pseudo-rates (:mod:`equicare.forecast.ilinet`): the state extract (2010/11-2019/20) and the
HHS-region extract (1997/98-2019/20).
The default ``ensemble`` is, with ILINet, the quantile average of the pooled GBM (50-tree squared-error median,
intervals from quantile-objective LightGBM models at 5 levels; weight 3) and the pooled AR (weight 1), with
per-horizon spread factors 0.8/0.85/0.9/0.9 on the fourth-root scale, chosen on 2021-22 and 2022-23 together (see
docs/forecast.md and bench/selection-round3.md).
Finally the default ensemble is run as the product runs it, from the bundled files only: with the bundled copies
of the NHSN history and the ILINet extracts (the default of the command line, the demo and the service) and
without them (``--no-extras``).
Prints the wall time and the process CPU time of each season backtest (the machine is shared, so wall time
varies with other jobs).

Run: ``.venv/bin/python bench/bench_forecast.py [--models a,b] [--no-history] [--no-ilinet]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from equicare.forecast import MODELS, backtest, bundled_path, load_forecasts, load_truth, score
from equicare.forecast.extras import bundled_extras
from equicare.forecast.ilinet import load_ilinet
from equicare.forecast.models import PooledAR, PooledGBM, QuantileEnsemble

AUGMENTABLE = (PooledAR, PooledGBM, QuantileEnsemble)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flusight"
ILINET_FILES = ("ilinet_state.csv", "ilinet_hhs.csv")
SEASONS = {"2022-23": ("2022-10-15", "2023-05-13"), "2023-24": ("2023-10-14", "2024-05-04")}
VALIDATION_2021 = ("2021-10-16", "2022-05-14")


def line(label: str, r: dict, secs: float | None, cpu: float | None = None) -> str:
    t = f"{secs:7.1f}" if secs is not None else "      -"
    t += f" {cpu:6.1f}" if cpu is not None else "      -"
    hz = " ".join(f"{v['wis_ratio']:.3f}" for v in r["by_horizon"].values())
    return (f"{label:<16} {r['wis_ratio']:>6.3f}  {hz}  {r['coverage_50']:>5.3f} {r['coverage_95']:>5.3f}"
            f" {r['wis']:>7.2f} {r['n_tasks']:>6d} {t}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    ap.add_argument("--no-history", action="store_true", help="train on the hub target file only")
    ap.add_argument("--no-ilinet", action="store_true", help="no ILINet pseudo-rates for the pooled models")
    args = ap.parse_args()
    if not SHARED.is_dir():
        print(f"shared data not found at {SHARED}", file=sys.stderr)
        return 1
    truth = load_truth(SHARED / "target-hospital-admissions.csv")
    history = None if args.no_history else load_truth(SHARED / "history" / "hhs-flu-admissions-2020-2023.csv")
    hub_base = load_forecasts(SHARED / "FluSight-baseline-2023-24.csv.gz")
    hub_ens = load_forecasts(SHARED / "FluSight-ensemble-2023-24.csv.gz")
    ili = None if args.no_ilinet else load_ilinet([SHARED / "history" / f for f in ILINET_FILES])
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    def build(name: str):
        cls = MODELS[name]
        return cls(augment=ili) if issubclass(cls, AUGMENTABLE) and ili is not None else cls()

    print(f"training data: hub target file{'' if history is None else ' + NHSN history 2020-2023'}"
          f"{'' if ili is None else ' (+ ILINet state 2010-2020 and HHS-region 1997-2020 pseudo-rates for pooled models)'}; "
          "every forecast uses data dated <= reference date - 7 days")
    head = (f"{'model':<16} {'ratio':>6}  {'h0    h1    h2    h3':<23}  {'cov50':>5} {'cov95':>5} "
            f"{'WIS':>7} {'tasks':>6} {'secs':>7} {'cpu s':>6}")
    summary = {}
    for season, (start, end) in SEASONS.items():
        test = season == "2023-24"
        print(f"\n== {season} ({'test' if test else 'validation'} season; reference dates {start} .. {end}); "
              f"mean WIS ratio to {'the hub FluSight-baseline' if test else 'flat_baseline (hub baseline method)'}")
        print(head)
        ref = hub_base
        if not test:  # the hub method from the target file alone: within 1% of the hub's baseline in 2023-24
            ref = backtest(truth, start, end, model="flat_baseline")
        for name in models:
            t0, c0 = time.perf_counter(), time.process_time()
            fc = backtest(truth, start, end, model=build(name), history=history)
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
            r = score(truth, fc, versus=ref)
            summary[(season, name)] = (r, secs, cpu)
            print(line(name, r, secs, cpu), flush=True)
        if test:
            r = score(truth, hub_ens, versus=hub_base)
            print(line("hub ensemble", r, None))
    if "ensemble" in models and history is not None:
        # the second validation season of the third selection round: little flu; truth from the NHSN history
        import pandas as pd

        start, end = VALIDATION_2021
        full = pd.concat([truth, history[~history["date"].isin(set(truth["date"]))]], ignore_index=True)
        full = full[full["location"] != "78"]
        t0, c0 = time.perf_counter(), time.process_time()
        fc = backtest(truth, start, end, model=build("ensemble"), history=history)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        r = score(full, fc, versus=backtest(full, start, end, model="flat_baseline"))
        summary[("2021-22", "ensemble")] = (r, secs, cpu)
        print(f"\n== 2021-22 (second validation season; reference dates {start} .. {end}; truth from the NHSN history); "
              "mean WIS ratio to flat_baseline")
        print(head)
        print(line("ensemble", r, secs, cpu))
    if "ensemble" in models:
        print("\n== product setting: `equicare backtest` with the default model, from the bundled files only "
              "(with its bundled extras, the default, and with --no-extras)")
        print(head)
        product_truth = load_truth(bundled_path("target-hospital-admissions.csv"))
        for label, use in (("ensemble", True), ("--no-extras", False)):
            t0, c0 = time.perf_counter(), time.process_time()
            fc = backtest(product_truth, *SEASONS["2023-24"], **bundled_extras(use).kwargs())
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(line(label, score(truth, fc, versus=hub_base), secs, cpu), flush=True)
    if ("2022-23", "ensemble") in summary:
        r, secs, cpu = summary[("2022-23", "ensemble")]
        print(f"\nequicare default (ensemble), 2022-23 validation: mean WIS ratio {r['wis_ratio']:.3f} vs flat_baseline, "
              f"coverage 50% {r['coverage_50']:.3f} / 95% {r['coverage_95']:.3f}, season backtest {secs:.1f} s "
              f"({cpu:.1f} s CPU)")
        if ("2021-22", "ensemble") in summary:
            r21 = summary[("2021-22", "ensemble")][0]
            print(f"2021-22 validation: ratio {r21['wis_ratio']:.3f}, 95% coverage {r21['coverage_95']:.3f}; "
                  f"selection score (mean of the two validation ratios) {(r['wis_ratio'] + r21['wis_ratio']) / 2:.4f}")
    if ("2023-24", "ensemble") in summary:
        r, secs, cpu = summary[("2023-24", "ensemble")]
        print("coverage by horizon (50% / 95%): "
              + " ".join(f"h{h} {v['coverage_50']:.3f}/{v['coverage_95']:.3f}" for h, v in r["by_horizon"].items()))
        ok_cov = 0.90 <= r["coverage_95"] <= 0.97
        print(f"\nequicare default (ensemble), 2023-24: mean WIS ratio {r['wis_ratio']:.3f} vs FluSight-baseline "
              f"(hub ensemble 0.74; goal <= 0.70: {'met' if r['wis_ratio'] <= 0.70 else 'NOT met'}), "
              f"95% coverage {r['coverage_95']:.3f} ({'in' if ok_cov else 'outside'} [0.90, 0.97]), "
              f"50% coverage {r['coverage_50']:.3f}, season backtest {secs:.1f} s wall, {cpu:.1f} s CPU (budget 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
