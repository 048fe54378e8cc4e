"""US choropleth maps as self-contained SVG, drawn from the bundled ``us-atlas`` TopoJSON.

The ``*-albers-10m.json`` files are already projected (Albers USA, 975 x 610), so drawing is only
decoding the quantised, delta-encoded arcs into SVG paths; nothing is fetched at run time.  Each region
carries a ``<title>`` tooltip and ``data-fips``/``data-value`` attributes so a page can script it.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache

import numpy as np

from equicare.data.bundled import data_path

# Colour-blind-safe sequential palette (viridis, 7 steps); grey for missing.
PALETTE = ["#440154", "#443983", "#31688e", "#21918c", "#35b779", "#90d743", "#fde725"]
MISSING = "#d9d9d9"


@lru_cache(maxsize=2)
def _topology(level: str) -> dict:
    key = {"state": "states_map", "county": "counties_map"}[level]
    return json.loads(data_path(key).read_text())


@lru_cache(maxsize=2)
def _paths(level: str) -> dict[str, tuple[str, str]]:
    """fips -> (name, SVG path data) for every state or county."""
    topo = _topology(level)
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        a = np.cumsum(np.asarray(arc, dtype=float), axis=0)
        arcs.append(np.column_stack([a[:, 0] * sx + tx, a[:, 1] * sy + ty]))

    def ring(idx: list[int]) -> str:
        pts = []
        for i in idx:
            seg = arcs[i] if i >= 0 else arcs[~i][::-1]
            pts.append(seg if not pts else seg[1:])
        xy = np.vstack(pts)
        return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + "Z"

    out: dict[str, tuple[str, str]] = {}
    obj = topo["objects"]["states" if level == "state" else "counties"]
    for geom in obj["geometries"]:
        polys = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
        d = "".join(ring(r) for poly in polys for r in poly)
        out[str(geom["id"])] = (geom.get("properties", {}).get("name", ""), d)
    return out


def _state_borders() -> str:
    return "".join(f'<path d="{d}"/>' for _, d in _paths("state").values())


def _bins(values: np.ndarray, k: int) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.array([0.0, 1.0])
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, k + 1)))
    return edges if edges.size > 1 else np.array([edges[0], edges[0] + 1])


def svg_choropleth(values_by_fips: dict[str, float], level: str = "state", title: str = "",
                   unit: str = "", fmt: str = "{:.2f}", names: dict[str, str] | None = None,
                   element_id: str | None = None) -> str:
    """An SVG choropleth of ``values_by_fips`` (2-digit state or 5-digit county FIPS -> value).

    Colours are quantile classes (7 viridis steps); missing values are grey.  Returns the SVG text,
    with a legend, ready to inline in a page.
    """
    paths = _paths(level)
    vals = np.array([v for v in values_by_fips.values() if v is not None], dtype=float)
    edges = _bins(vals, len(PALETTE))
    ncls = len(edges) - 1
    palette = [PALETTE[int(round(i * (len(PALETTE) - 1) / max(ncls - 1, 1)))] for i in range(ncls)]
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 975 660" role="img" class="equicare-map"'
             + (f' id="{html.escape(element_id)}"' if element_id else "")
             + f' aria-label="{html.escape(title)}">']
    if title:
        parts.append(f'<text x="10" y="22" font-size="16" font-family="sans-serif">{html.escape(title)}</text>')
    parts.append('<g stroke="#ffffff" stroke-width="0.3">' if level == "county" else
                 '<g stroke="#ffffff" stroke-width="0.8">')
    for fips, (name, d) in paths.items():
        v = values_by_fips.get(fips)
        has = v is not None and np.isfinite(v)
        if has:
            cls = min(int(np.searchsorted(edges, v, side="right")) - 1, ncls - 1)
            colour = palette[max(cls, 0)]
        else:
            colour = MISSING
        label = (names or {}).get(fips, name)
        shown = (fmt.format(v) + (f" {unit}" if unit else "")) if has else "no data"
        parts.append(f'<path d="{d}" fill="{colour}" data-fips="{fips}" data-value="{v if has else ""}">'
                     f'<title>{html.escape(str(label))} ({fips}): {html.escape(shown)}</title></path>')
    parts.append("</g>")
    if level == "county":
        parts.append(f'<g fill="none" stroke="#ffffff" stroke-width="1">{_state_borders()}</g>')
    # legend (ends 140 units before the right edge, so a wide last label is not clipped)
    parts.append('<g font-family="sans-serif" font-size="11">')
    for i in range(ncls):
        x = 500 + i * 55
        parts.append(f'<rect x="{x}" y="622" width="55" height="12" fill="{palette[i]}"/>')
        parts.append(f'<text x="{x}" y="648">{html.escape(fmt.format(edges[i]))}</text>')
    parts.append(f'<text x="{500 + ncls * 55}" y="648">{html.escape(fmt.format(edges[-1]))}</text>')
    parts.append(f'<rect x="410" y="622" width="20" height="12" fill="{MISSING}"/>'
                 f'<text x="434" y="632">no data</text>')
    if unit:
        parts.append(f'<text x="500" y="616">{html.escape(unit)}</text>')
    parts.append("</g></svg>")
    return "".join(parts)
