"""Benchmark for issue 17's privacy fixes: DP sums over more than 2^20 rows, and suppression checked
across two outputs of the same real data.

1. DP sum of 1,100,000 ones and mean of 1,500,000 ones per region (epsilon 1, bounds [0, 1]): the estimate,
   its error bound and the time, next to OpenDP's default ``then_sum`` (which keeps only 2^20 rows) as the
   peer figure.
2. Weekly influenza admissions per state (CDC NHSN via FluSight, 52 locations x the weeks bundled) stored
   as a dataset: the suppressed download (grouped by week), then a per-state suppressed release of the
   same data, checked against the download (:mod:`equicare.privacy.disclosure`): time of each step and the
   cells the check hid in addition to the release's own suppression.

A plain script: prints figures, never asserts on time. Run: ``.venv/bin/python bench/bench_privacy_outputs.py``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from equicare.data import load_table
from equicare.data.bundled import data_path
from equicare.privacy.dp import dp_release
from equicare.service.accounts import User
from equicare.service.exports import dataset_export
from equicare.service.releases import make_release
from equicare.store import Store

warnings.filterwarnings("ignore")


def large_sums() -> None:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    print("== 1. DP sums and means above 2^20 rows (epsilon 1, bounds [0, 1])")
    n1, n2 = 1_100_000, 1_500_000
    df = pd.DataFrame({"r": np.repeat(["01", "02"], [n1, n2]), "x": np.ones(n1 + n2)})
    dp_release(df.head(10), by="r", statistic="sum", column="x", bounds=(0, 1), epsilon=1.0, regions=["01", "02"])
    t0 = time.perf_counter()
    rel = dp_release(df, by="r", statistic="sum", column="x", bounds=(0, 1), epsilon=1.0, regions=["01", "02"])
    t_sum = time.perf_counter() - t0
    t0 = time.perf_counter()
    mean = dp_release(df, by="r", statistic="mean", column="x", bounds=(0, 1), epsilon=1.0, regions=["01", "02"])
    t_mean = time.perf_counter() - t0
    space = (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance())
    peer = space >> dp.t.then_clamp((0.0, 1.0)) >> dp.t.then_sum()
    est = rel.table.set_index("r")["estimate"]
    print(f"sum of {n1:,} ones: {est['01']:,.1f} +- {rel.error_bound:.1f} (OpenDP default then_sum: "
          f"{peer(np.ones(n1)):,.0f}); time for both regions {t_sum:.2f} s")
    m = mean.table.set_index("r")["estimate"]
    print(f"mean of {n2:,} ones: {m['02']:.5f} (default then_sum: {peer(np.ones(n2)) / n2:.3f}); time {t_mean:.2f} s")


def cross_output() -> None:
    print("== 2. weekly flu admissions per state: download, then a per-state suppressed release")
    adm = pd.read_csv(data_path("admissions"), dtype={"location": str})
    adm = adm[adm["location"] != "US"][["location", "date", "value"]].rename(columns={"location": "region"})
    with Store(":memory:") as st:
        t, rep = load_table(adm.reset_index(drop=True), "demand", name="admissions")
        ds = st.save_dataset("flu", "demand", t, source="bundled", fingerprint="b", report=rep.to_dict(), org="o")
        t0 = time.perf_counter()
        out, r = dataset_export(st, ds)
        t_dl = time.perf_counter() - t0
        print(f"download: {len(out):,} cells, {int(out['value_suppressed'].sum()):,} hidden; {t_dl:.2f} s")
        t0 = time.perf_counter()
        res = make_release(st, User("b", "o", "planner"), {"dataset_id": ds, "method": "suppress", "by": "region",
                                                          "count_columns": ["value"]})
        t_rel = time.perf_counter() - t0
        tab = st.get_dataset(res["id"])
        print(f"per-state release: {len(tab)} cells, {int(tab['value_suppressed'].sum())} hidden "
              f"({res['release']['added_by_cross_check']} by the cross-output check); {t_rel:.2f} s")
        t0 = time.perf_counter()
        dataset_export(st, ds)
        print(f"repeated download (recorded pattern): {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    large_sums()
    cross_output()
