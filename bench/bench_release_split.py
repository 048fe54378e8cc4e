"""Where a DP release's time goes in the service: the web process's part (checks before, charge and store after)
against the worker's part (the first fingerprint of the data and the OpenDP computation), on a million rows.

A facilities-like table of ``N`` rows over the 52 bundled US states (state codes as text, a numeric column) is
stored; then a first DP sum release (the data's budget key is not known yet: the worker fingerprints every row)
and a second (the key is known: only the region and value columns go to the worker) are timed step by step,
in this process, with the same functions the service calls (:func:`equicare.service.releases.plan_release`,
:func:`~equicare.service.releases.dp_job`, :func:`~equicare.service.releases.finish_release`), plus the time to
pickle the worker's arguments (what crossing to a worker process costs). The peer figure is the whole release
computed in one step as before (:func:`equicare.service.releases.make_release`, everything in the web process).

A plain script: prints figures, never asserts on time. Run:
``PYTHONPATH=src .venv/bin/python bench/bench_release_split.py [N]`` (default 1,000,000 rows).
"""

from __future__ import annotations

import pickle
import sys
import time
import warnings

import numpy as np
import pandas as pd

from equicare.service.accounts import User
from equicare.service.region_lists import public_regions
from equicare.service.releases import dp_job, finish_release, make_release, plan_release
from equicare.store import Store

warnings.filterwarnings("ignore")


def main(n: int) -> None:
    rng = np.random.default_rng(7)
    states = public_regions("state")["id"].astype(str).to_numpy()
    user = User("bench", "north", "planner")
    with Store(":memory:") as st:
        warm = pd.DataFrame({"id": ["w1", "w2", "w3"], "region": states[[0, 0, 1]], "cap_beds": [1.0, 2.0, 3.0]})
        w = st.save_dataset("warm-up", "facilities", warm, source="bench", fingerprint="w", org="north")
        make_release(st, user, {"dataset_id": w, "method": "dp", "by": "region", "epsilon": 0.1})  # imports, JIT
        ids = []
        for k in range(2):
            df = pd.DataFrame({"id": [f"f{k}_{i}" for i in range(n)], "region": rng.choice(states, n),
                               "cap_beds": rng.integers(0, 500, n).astype(float)})
            ids.append(st.save_dataset(f"rows {k}", "facilities", df, source="bench", fingerprint=f"b{k}", org="north"))
        req = {"method": "dp", "by": "region", "statistic": "sum", "column": "cap_beds", "bounds": [0, 500],
               "epsilon": 0.1}
        print(f"== DP sum of {n:,} rows over {len(states)} states, epsilon 0.1")
        for label in ("first release (key not known)", "second release (key known)"):
            t = time.perf_counter()
            plan = plan_release(st, user, {**req, "dataset_id": ids[0]})
            t_plan = time.perf_counter() - t
            args = plan.dp_args()
            t = time.perf_counter()
            blob = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
            t_pickle = time.perf_counter() - t
            t = time.perf_counter()
            rel, material = dp_job(*args)
            t_job = time.perf_counter() - t
            t = time.perf_counter()
            finish_release(st, user, plan, rel, material)
            t_finish = time.perf_counter() - t
            print(f"{label}: web process {t_plan + t_finish:.2f} s (checks {t_plan:.2f} s, charge and store "
                  f"{t_finish:.2f} s); worker {t_job:.2f} s; arguments {len(blob) / 1e6:.1f} MB, pickled in "
                  f"{t_pickle:.2f} s")
        t = time.perf_counter()
        make_release(st, user, {**req, "dataset_id": ids[1]})
        print(f"peer: the whole first release in one process (before: all in the web process) "
              f"{time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
