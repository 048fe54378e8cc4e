"""The package's one JSON sanitiser: NaN and infinities become null, numpy scalars and arrays plain Python.

Used for every JSON equicare writes or serves (scenario outputs, ``AllocationResult.to_dict``, the service),
so "undefined" is always ``null``, never ``NaN`` or ``Infinity``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def jsonable(obj: Any) -> Any:
    """JSON-safe copy of ``obj``: dicts (keys as text), lists, tuples and arrays as lists, non-finite floats as
    None, numpy scalars as Python numbers, anything else (timestamps, paths) as text."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    if hasattr(obj, "item"):
        return jsonable(obj.item())
    return str(obj)


def records(df: pd.DataFrame) -> list[dict]:
    """One JSON-safe dict per row of ``df``."""
    return [jsonable(r) for r in df.to_dict(orient="records")]


def number(v) -> float | None:
    """A float, or None when ``v`` is None, NaN or infinite."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def dumps_default(o: Any) -> Any:
    """``default=`` for :func:`json.dumps` (numpy values, non-finite floats -> null, the rest as text)."""
    return jsonable(o)
