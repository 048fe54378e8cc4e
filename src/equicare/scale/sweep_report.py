"""The sweep report: the frontier between cost and the worst-off region's share, and the table of points.

One self-contained HTML page (Plotly's JavaScript inlined from the installed package): cost on the x axis,
the minimum share of need met on the y axis, one line per combination of the grid's keys other than the
first (the first key, usually the budget, varies along each line).  Points that did not solve are listed
under the chart with their status and message, not drawn.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from equicare.report.html import table_html

if TYPE_CHECKING:
    from equicare.scale.sweep import Grid, SweepResult


def frontier_figure(table: pd.DataFrame, keys: list[str]) -> go.Figure:
    """Cost against minimum share, one line per value combination of ``keys[1:]`` (solved points only)."""
    ok = table[table["status"] == "optimal"]
    others = keys[1:]
    fig = go.Figure()
    groups = ok.groupby(others, sort=False, dropna=False) if others else [((), ok)]
    for vals, g in groups:
        vals = vals if isinstance(vals, tuple) else (vals,)
        label = ", ".join(f"{k} = {v}" for k, v in zip(others, vals)) or "all points"
        g = g.sort_values("cost")
        hover = [", ".join(f"{k} = {row[k]}" for k in keys) for _, row in g.iterrows()]
        fig.add_trace(go.Scatter(x=g["cost"], y=100 * g["min_share"], mode="lines+markers", name=label,
                                 text=hover, hovertemplate="%{text}<br>cost %{x:,.0f}<br>minimum share %{y:.1f}%"
                                                            "<extra></extra>"))
    fig.update_layout(xaxis_title="cost", yaxis_title="minimum share of need met (%)", template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 40, "b": 50}, legend={"title": {"text": ""}}, height=480)
    return fig


def write_sweep_report(res: "SweepResult", grid: "Grid", scenario_name: str, path: str | Path) -> Path:
    """Write the report page atomically (temporary file, then rename) and return its path."""
    t = res.table
    fig = frontier_figure(t, list(grid.keys))
    shown = t.drop(columns=["message"]).copy()
    shown["min_share"] = (100 * shown["min_share"]).round(2)
    shown = shown.rename(columns={"min_share": "minimum share met (%)", "covered": "need covered",
                                  "seconds": "solve seconds"})
    bad = t[t["status"] != "optimal"]
    bad_html = ""
    if len(bad):
        items = "".join(f"<li>{html.escape(', '.join(f'{k} = {r[k]}' for k in grid.keys))}: "
                        f"<b>{html.escape(str(r['status']))}</b> {html.escape(str(r['message']))}</li>"
                        for _, r in bad.iterrows())
        bad_html = f"<h2>Points without an answer ({len(bad)})</h2><ul>{items}</ul>"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sweep of {html.escape(scenario_name)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}}th{{background:#f4f4f4}}</style></head><body>
<h1>Sweep of {html.escape(scenario_name)}</h1>
<p>{len(t):,} points ({res.solved_now:,} solved in this run, {res.reused:,} kept from an earlier run;
{res.failed:,} without an optimal answer) on {html.escape(res.cluster)}, {res.seconds:,.1f} s.
Each line joins the points that share the values of {html.escape(', '.join(grid.keys[1:]) or 'no other key')};
along it, {html.escape(grid.keys[0])} varies.</p>
{fig.to_html(full_html=False, include_plotlyjs=True)}
{bad_html}
<h2>All points</h2>
{table_html(shown, float_format="{:,.4f}")}
</body></html>"""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, path)
    return path
