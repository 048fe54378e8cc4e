"""Benchmark: equicare's one tabular reader (``read_table``) vs ``pandas.read_csv``, same file, same process.

A synthetic long cost table (``origin,destination,cost``; text ids with leading zeros, 3-decimal costs) of
``N`` rows, written as a comma file with ``.`` decimals and as a ``;`` file with ``,`` decimals in
Windows-1252. ``read_table`` checks every row's field count, detects delimiter, decimal mark and encoding and
keeps row numbers; ``pandas.read_csv`` is given the delimiter, decimal mark and encoding and does none of the
checks. Prints wall-clock seconds (best of ``REPEAT``) and the ratio. A plain script: it never asserts on time.
Run: ``.venv/bin/python bench/bench_readers.py [--quick]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.data.readers import read_table

REPEAT = 3


def best(fn) -> float:
    times = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    n = 200_000 if "--quick" in sys.argv else 2_000_000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"origin": [f"{i:05d}" for i in rng.integers(1, 99999, n)],
                       "destination": [f"H{i:04d}" for i in rng.integers(1, 6000, n)],
                       "cost": np.round(rng.gamma(2.0, 20.0, n), 3)})
    with tempfile.TemporaryDirectory() as d:
        comma, semi = Path(d) / "comma.csv", Path(d) / "semi.csv"
        df.to_csv(comma, index=False)
        df.to_csv(semi, index=False, sep=";", decimal=",", encoding="cp1252")
        print(f"{n:,} rows ({comma.stat().st_size / 1e6:.1f} MB)")
        print(f"{'file':<26} {'read_table s':>12} {'read_csv s':>11} {'ratio':>6}")
        for name, path, kw in (("comma, utf-8", comma, {}),
                               ("semicolon, decimal comma", semi, {"sep": ";", "decimal": ",",
                                                                    "encoding": "cp1252"})):
            ours = best(lambda: read_table(path, text=("origin", "destination")))
            ref = best(lambda: pd.read_csv(path, dtype={"origin": str, "destination": str}, **kw))
            a = read_table(path, text=("origin", "destination"))
            b = pd.read_csv(path, dtype={"origin": str, "destination": str}, **kw)
            same = a["origin"].equals(b["origin"].astype(a["origin"].dtype)) and np.allclose(a["cost"], b["cost"])
            print(f"{name:<26} {ours:>12.2f} {ref:>11.2f} {ours / ref:>6.2f}  same values: {same}")


if __name__ == "__main__":
    main()
