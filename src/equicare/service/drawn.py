"""Drawn page parts (maps, charts, tables) kept in memory by the web process, which never draws them itself.

A finished run's results never change, so what a worker drew from them (a run page's maps, the dashboard's
US map: :func:`us_map_job`, the fan chart: :func:`fan_chart_job`, the sweep frontier) is kept under the run's
id and reused, the least recently used dropped first once the parts kept pass ``max_chars`` characters
together.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import pandas as pd

__all__ = ["DrawnCache", "fan_chart_job", "us_map_job"]


def fan_chart_job(truth: pd.DataFrame, forecast: pd.DataFrame, as_of: str, div_id: str) -> str:
    """The forecast page's fan chart (:func:`equicare.report.html.fan_chart`) as Plotly HTML without a CSP nonce,
    in a worker process (one trace group per location: tenths of a second for the 50 states)."""
    import plotly.io as pio

    from equicare.report.html import fan_chart

    for df, cols in ((forecast, ["target_end_date", "reference_date"]), (truth, ["date"])):
        for c in cols:
            if c in df.columns:
                df[c] = pd.to_datetime(df[c])
    return pio.to_html(fan_chart(truth, forecast, as_of), validate=False, full_html=False, include_plotlyjs=False,
                       div_id=div_id)


def us_map_job(values: dict[str, float], level: str, title: str, unit: str, names: dict[str, str],
               element_id: str) -> str:
    """:func:`equicare.report.maps.svg_choropleth` of ``values`` by state or county FIPS code, in a worker process
    (thousands of county outlines written as SVG)."""
    from equicare.report.maps import svg_choropleth

    return svg_choropleth(values, level=level, title=title, unit=unit, names=names, element_id=element_id)


class DrawnCache:
    """Drawn parts by key (a run id, or a run id and what was drawn), at most ``max_chars`` characters in all
    (the last one put is always kept); safe to use from several threads."""

    def __init__(self, max_chars: int = 64 * 1024 * 1024) -> None:
        self.max_chars = int(max_chars)
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        """Keep ``value`` (``size``: its characters) under ``key``; the least recently used go beyond the bound."""
        with self._lock:
            self._items[key] = (value, int(size))
            self._items.move_to_end(key)
            while len(self._items) > 1 and sum(n for _, n in self._items.values()) > self.max_chars:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
