"""Time of the data's canonical fingerprint and sketches (the budget key material of a DP release).

A facilities-like table (text id and name, a state code, whole-number beds, two coordinates, a weekly date)
of 50,000 and 1,000,000 rows: :func:`equicare.privacy.ledger.key_material` (the data key, the row sketch and
the content sketch, one pass over the columns) against the cell-by-cell definition it replaced (the reference
in ``tests/test_privacy_fingerprint.py``, equicare's implementation before it was vectorised), which wrote
every cell as text in Python: its three values (data key, row hashes, content hashes) for 50,000 rows and, for
a million, the data key alone unless ``--full`` (the rest would take minutes more). The values are compared.

A plain script: prints figures, never asserts on time. Run:
``PYTHONPATH=src .venv/bin/python bench/bench_fingerprint.py [--full] [--skip-reference]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from equicare.privacy.ledger import key_material

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def table(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": pd.array([f"f{i}" for i in range(n)], dtype="string"),
        "name": pd.array([f"Hospital {i % 5000}" for i in range(n)], dtype="string"),
        "region": pd.array(rng.choice([f"{i:02d}" for i in range(1, 57)], n), dtype="string"),
        "cap_beds": rng.integers(0, 500, n).astype(float),
        "lat": rng.normal(40, 5, n).round(6), "lon": rng.normal(-90, 10, n).round(6),
        "date": pd.Timestamp("2024-01-06") + pd.to_timedelta(rng.integers(0, 100, n) * 7, unit="D"),
    })


def main(full: bool, reference: bool) -> None:
    if reference:
        from test_privacy_fingerprint import ref_content_hashes, ref_fingerprint

    key_material(table(100))  # imports
    print("== budget key material (data key, row sketch, content sketch) of a facilities-like table")
    for n in (50_000, 1_000_000):
        df = table(n)
        t = time.perf_counter()
        km = key_material(df)
        t_new = time.perf_counter() - t
        line = f"{n:>9,} rows: key_material {t_new:6.2f} s"
        if reference:
            t = time.perf_counter()
            ref_key = ref_fingerprint(df)
            t_key = time.perf_counter() - t
            line += f" | cell-by-cell data key {t_key:6.2f} s"
            same = ref_key == km.data_key
            if n <= 50_000 or full:
                t = time.perf_counter()
                content = ref_content_hashes(df)
                t_content = time.perf_counter() - t
                # the row sketch re-hashes the rows as the data key did: its time is the data key's
                line += (f", with both sketches {2 * t_key + t_content:6.2f} s "
                         f"({(2 * t_key + t_content) / t_new:.0f}x)")
                same = same and [int(x) for x in np.unique(content)[:256]] == km.content
            else:
                line += f" ({t_key / t_new:.0f}x the whole key material)"
            line += f"; same values: {same}"
        print(line, flush=True)


if __name__ == "__main__":
    main("--full" in sys.argv, "--skip-reference" not in sys.argv)
