"""SVG maps of the planner's own geometry: choropleths of polygons, proportional symbols of points.

The map is fitted to the layer's extent (an equirectangular projection scaled by the cosine of the mid
latitude, so shapes are not stretched away from the equator), every shape has the region's own name and
value on hover (``<title>``), the title is HTML above the drawing and the legend is drawn below it inside the
SVG's own box, so neither is covered or clipped.  Outliers by the robust z-score (|z| > 3.5, Iglewicz &
Hoaglin 1993; e.g. a tiny population giving 183 beds per 1,000) are drawn hatched and listed in the legend
rather than stretching the colour scale; regions with no value are grey and say so.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np

#: Sequential palette (viridis, 5 classes), light to dark reversed so more is darker.
PALETTE = ("#fde725", "#5ec962", "#21918c", "#3b528b", "#440154")
NO_DATA = "#d9d9d9"
OUTLIER_Z = 3.5


def robust_outliers(values: np.ndarray, z: float = OUTLIER_Z) -> np.ndarray:
    """True where ``|0.6745 (x - median) / MAD| > z`` (NaN never an outlier; MAD 0 gives no outliers)."""
    v = np.asarray(values, float)
    ok = np.isfinite(v)
    out = np.zeros(v.shape, bool)
    if ok.sum() < 4:
        return out
    med = np.median(v[ok])
    mad = np.median(np.abs(v[ok] - med))
    if mad == 0:
        return out
    out[ok] = np.abs(0.6745 * (v[ok] - med) / mad) > z
    return out


def _breaks(v: np.ndarray, k: int) -> np.ndarray:
    """Quantile class breaks (distinct), ``len <= k + 1``."""
    qs = np.unique(np.quantile(v, np.linspace(0, 1, k + 1)))
    return qs if len(qs) > 1 else np.array([qs[0], qs[0] + 1e-9])


def _fmt(x: float, unit: str = "") -> str:
    if x is None or not np.isfinite(x):
        return "no value"
    if unit == "%":
        return f"{100 * x:.0f}%"
    s = f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}" if abs(x) >= 1 else f"{x:.3f}"
    return f"{s} {unit}".strip()


class _Projector:
    """lon/lat to SVG x/y fitted to ``bounds`` inside ``width`` x ``height`` with a margin."""

    def __init__(self, bounds: Sequence[float], width: float, height: float, margin: float = 8.0) -> None:
        x0, y0, x1, y1 = bounds
        self.k = np.cos(np.radians((y0 + y1) / 2.0))
        w = max((x1 - x0) * self.k, 1e-9)
        h = max(y1 - y0, 1e-9)
        self.s = min((width - 2 * margin) / w, (height - 2 * margin) / h)
        self.x0, self.y1 = x0, y1
        self.ox = margin + ((width - 2 * margin) - w * self.s) / 2.0
        self.oy = margin + ((height - 2 * margin) - h * self.s) / 2.0

    def __call__(self, lon, lat):
        x = self.ox + (np.asarray(lon) - self.x0) * self.k * self.s
        y = self.oy + (self.y1 - np.asarray(lat)) * self.s
        return x, y


def _ring_path(coords, proj: _Projector) -> str:
    a = np.asarray(coords, float)
    x, y = proj(a[:, 0], a[:, 1])
    pts = " ".join(f"{u:.1f},{v:.1f}" for u, v in zip(x, y))
    return f"M{pts}Z"


def _polygon_path(geom: Mapping, proj: _Projector) -> str:
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    return "".join(_ring_path(ring, proj) for poly in polys for ring in poly)


def _bounds(features: list[dict]) -> list[float]:
    xs, ys = [], []

    def walk(c):
        if isinstance(c[0], (int, float)):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for cc in c:
                walk(cc)

    for f in features:
        walk(f["geometry"]["coordinates"])
    return [min(xs), min(ys), max(xs), max(ys)]


def _legend(breaks: np.ndarray, colours: Sequence[str], unit: str, y: float, width: float,
            n_out: int, n_missing: int, missing_label: str = "no value") -> tuple[str, float]:
    """Legend rows below the map; returns the SVG and the height used (a class whose ends print the same, e.g.
    ``100%``, is shown once, not as ``100% – 100%``)."""
    parts, row = [], 0
    lo_unit = "%" if unit == "%" else ""

    def label(lo: float, hi: float) -> str:
        a, b = _fmt(lo, lo_unit), _fmt(hi, unit)
        return b if a == b or f"{a} {unit}".strip() == b else f"{a} – {b}"

    items = [(colours[i], label(breaks[i], breaks[i + 1])) for i in range(len(breaks) - 1)]
    if n_out:
        items.append(("url(#equicare-hatch)", f"outlier ({n_out}), not on the scale"))
    if n_missing:
        items.append((NO_DATA, f"{missing_label} ({n_missing})"))
    per_row = max(1, int(width // 190))
    for i, (fill, label) in enumerate(items):
        r, c = divmod(i, per_row)
        row = r
        x = 10 + c * 190
        yy = y + 6 + r * 20
        parts.append(f'<rect x="{x}" y="{yy}" width="14" height="12" fill="{fill}" stroke="#666" stroke-width=".5"/>'
                     f'<text x="{x + 19}" y="{yy + 10}" font-size="11" fill="#333">{html.escape(label)}</text>')
    return "".join(parts), 12 + (row + 1) * 20


_HATCH = ('<defs><pattern id="equicare-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
          'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
          '<line x1="0" y1="0" x2="0" y2="6" stroke="#b2182b" stroke-width="2.5"/></pattern></defs>')


def svg_region_map(geojson: Mapping, values: Mapping[str, float], *, unit: str = "", element_id: str = "map",
                   width: int = 760, height: int = 520, sizes: Mapping[str, float] | None = None,
                   breaks: Sequence[float] | None = None, flag_outliers: bool = True, percent: bool = False,
                   missing_label: str = "no value") -> str:
    """A choropleth (polygons) or proportional-symbol map (points) of ``values`` by feature ``id``.

    Parameters
    ----------
    geojson : a FeatureCollection in WGS84 whose features have ``id`` and ``name`` properties.
    values : value per id (NaN or absent: "no value").
    sizes : for point layers, the quantity the symbol's area is proportional to (default ``values``).
    breaks : fixed class breaks (default: quantiles of the values that are not outliers).
    flag_outliers : hatch robust-z outliers instead of colouring them (off for bounded values such as shares).
    percent : show values as percentages.
    missing_label : what a region without a value means, in the legend and on hover (e.g. ``no need``).

    Returns the ``<svg>`` element; each shape has ``data-id``, ``data-name`` and a ``<title>`` with the name and
    value; outliers carry ``data-outlier="1"``.
    """
    feats = list(geojson["features"])
    proj = _Projector(_bounds(feats), width, height)
    ids = [str(f["properties"]["id"]) for f in feats]
    v = np.array([float(values.get(i, np.nan)) if values.get(i) is not None else np.nan for i in ids])
    out = robust_outliers(v) if flag_outliers else np.zeros(len(v), bool)
    ok = np.isfinite(v) & ~out
    if breaks is not None:
        breaks = np.asarray(breaks, float)
    else:
        breaks = _breaks(v[ok], len(PALETTE)) if ok.any() else np.array([0.0, 1.0])
    colours = PALETTE[-(len(breaks) - 1):] if len(breaks) - 1 < len(PALETTE) else PALETTE
    shapes = []
    is_point = all(f["geometry"]["type"] == "Point" for f in feats)
    if is_point:
        sz = np.array([float((sizes or values).get(i, np.nan) or np.nan) for i in ids])
        top = np.nanmax(sz) if np.isfinite(sz).any() else 1.0
        radius = 3 + 22 * np.sqrt(np.clip(np.nan_to_num(sz) / (top or 1.0), 0, 1))
        order = np.argsort(-radius)  # big first, so small symbols stay on top
    else:
        order = np.arange(len(feats))
    for k in order:
        f = feats[k]
        name = str(f["properties"].get("name") or ids[k])
        if out[k]:
            fill, flag = "url(#equicare-hatch)", " (outlier: off the colour scale)"
        elif np.isfinite(v[k]):
            c = min(int(np.searchsorted(breaks, v[k], side="right")) - 1, len(colours) - 1)
            fill, flag = colours[max(c, 0)], ""
        else:
            fill, flag = NO_DATA, ""
        tip = html.escape(f"{name}: {_fmt(v[k], '%' if percent else unit) if np.isfinite(v[k]) else missing_label}"
                          f"{flag}")
        attrs = (f'data-id="{html.escape(ids[k])}" data-name="{html.escape(name)}" data-outlier="{int(out[k])}" '
                 f'fill="{fill}"')
        if is_point:
            x, y = proj(*f["geometry"]["coordinates"][:2])
            shapes.append(f'<circle class="region" cx="{float(x):.1f}" cy="{float(y):.1f}" r="{radius[k]:.1f}" '
                          f'{attrs} fill-opacity=".8" stroke="#333" stroke-width=".6"><title>{tip}</title></circle>')
        else:
            shapes.append(f'<path class="region" d="{_polygon_path(f["geometry"], proj)}" {attrs} stroke="#fff" '
                          f'stroke-width=".6" fill-rule="evenodd"><title>{tip}</title></path>')
    unit = "%" if percent else unit
    legend, lh = _legend(breaks, colours, unit, height, width, int(out.sum()), int((~np.isfinite(v)).sum()),
                          missing_label)
    total_h = height + lh
    return (f'<svg id="{html.escape(element_id)}" class="equicare-map" viewBox="0 0 {width} {total_h}" '
            f'width="100%" style="max-width:{width}px" role="img" xmlns="http://www.w3.org/2000/svg">{_HATCH}'
            f'<g class="shapes">{"".join(shapes)}</g><g class="legend">{legend}</g></svg>')
