"""Building blocks of the self-contained HTML pages: escaped tables, forecast fan charts, Lorenz curves and
figures as inline JSON (the project report, :mod:`equicare.report.project_html`, and the dashboard use them).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio


def table_html(df: pd.DataFrame, float_format: str = "{:,.3f}", max_rows: int | None = None) -> str:
    """An escaped HTML table with numbers right-aligned."""
    df = df.head(max_rows) if max_rows else df

    def fmt(v: object) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return "–"
        if isinstance(v, (float, np.floating)):
            return float_format.format(v) if not float(v).is_integer() else f"{int(v):,}"
        if isinstance(v, (int, np.integer)):
            return f"{int(v):,}"
        return str(v)

    formatters = {c: fmt for c in df.columns}
    html = df.to_html(index=False, escape=True, formatters=formatters, na_rep="–", border=0)
    return html


def fan_chart(truth: pd.DataFrame, forecast: pd.DataFrame, as_of: str, weeks_before: int = 20,
              weeks_after: int = 6) -> dict:
    """Fan chart per location (median, 50% and 95% bands, observations), one location shown at a time.

    Returns a Plotly figure as a plain ``{"data": [...], "layout": {...}}`` mapping (render it with
    ``plotly.io.to_html(fig, validate=False)`` or :func:`figure_json`): with one trace group per location, building
    validated ``graph_objects`` costs seconds, the mapping a few milliseconds.
    """
    ref = pd.Timestamp(as_of)
    t = truth[(truth["date"] >= ref - pd.Timedelta(weeks=weeks_before))
              & (truth["date"] <= ref + pd.Timedelta(weeks=weeks_after))]
    fc = forecast.copy()
    fc["q"] = fc["output_type_id"].astype(float)
    locs = sorted(fc["location"].unique(), key=lambda x: (x != "US", x))
    names = truth.drop_duplicates("location").set_index("location")["location_name"].to_dict()
    by_loc = dict(tuple(t.groupby("location")))
    wide = fc.pivot_table(index=["location", "target_end_date"], columns="q", values="value").sort_index()
    fc_by_loc = {loc: g.droplevel(0) for loc, g in wide.groupby(level=0)}
    last = (ref - pd.Timedelta(days=7)).strftime("%Y-%m-%d")

    def iso(values) -> list[str]:
        return list(pd.to_datetime(pd.Series(values)).dt.strftime("%Y-%m-%d"))

    data: list[dict] = []
    per = 5
    for i, loc in enumerate(locs):
        f = fc_by_loc[loc]
        x = iso(f.index)
        vis = i == 0
        for lo, hi, colour, label in [(0.025, 0.975, "rgba(33,145,140,0.18)", "95% interval"),
                                      (0.25, 0.75, "rgba(33,145,140,0.40)", "50% interval")]:
            data.append({"type": "scatter", "x": x + x[::-1], "y": list(f[hi]) + list(f[lo][::-1]),
                         "fill": "toself", "mode": "lines", "fillcolor": colour, "line": {"width": 0},
                         "name": label, "visible": vis, "hoverinfo": "skip"})
        data.append({"type": "scatter", "x": x, "y": list(f[0.5]), "mode": "lines+markers",
                     "name": "forecast median", "line": {"color": "#21918c"}, "visible": vis})
        tt = by_loc.get(loc, t.iloc[:0])
        data.append({"type": "scatter", "x": iso(tt["date"]), "y": [float(v) for v in tt["value"]],
                     "mode": "lines+markers", "name": "observed", "line": {"color": "#16425b"}, "visible": vis})
        top = float(max(tt["value"].max() if len(tt) else 0, f[0.975].max()))
        data.append({"type": "scatter", "x": [last, last], "y": [0, top], "mode": "lines", "name": "last data used",
                     "line": {"dash": "dot", "color": "#999"}, "visible": vis})
    buttons = []
    for i, loc in enumerate(locs):
        visible = [False] * (per * len(locs))
        visible[i * per:(i + 1) * per] = [True] * per
        buttons.append({"label": names.get(loc, loc), "method": "update",
                        "args": [{"visible": visible}, {"title": f"Weekly influenza admissions: {names.get(loc, loc)}"}]})
    layout = {"title": {"text": f"Weekly influenza admissions: {names.get(locs[0], locs[0])}"},
              "updatemenus": [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.15}],
              "yaxis": {"title": {"text": "admissions per week"}}, "margin": {"l": 60, "r": 20, "t": 60, "b": 40},
              "template": pio.templates["plotly_white"].to_plotly_json(), "legend": {"orientation": "h", "y": -0.15}}
    return {"data": data, "layout": layout}


def lorenz_chart(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> go.Figure:
    """Lorenz curves (population share vs. resource share) with the line of equality."""
    from equicare.analyze.inequality import gini, lorenz_curve

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="equality",
                             line={"dash": "dot", "color": "#999"}))
    colours = ["#16425b", "#21918c", "#90d743", "#443983"]
    for (label, (values, weights)), colour in zip(curves.items(), colours):
        p, L = lorenz_curve(values, weights)
        fig.add_trace(go.Scatter(x=p, y=L, mode="lines", line={"color": colour},
                                 name=f"{label} (Gini {gini(values, weights):.3f})"))
    fig.update_layout(xaxis_title="cumulative share of people (worst served first)",
                      yaxis_title="cumulative share of the resource", template="plotly_white",
                      margin={"l": 60, "r": 20, "t": 30, "b": 50}, legend={"x": 0.02, "y": 0.98})
    return fig


def figure_json(fig: go.Figure | dict) -> str:
    """A figure (``graph_objects`` or a plain mapping) as JSON safe to inline in a ``<script>``."""
    if isinstance(fig, dict):
        return pio.to_json(fig, validate=False).replace("</", "<\\/")
    return json.dumps(json.loads(fig.to_json())).replace("</", "<\\/")
