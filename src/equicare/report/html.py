"""The self-contained HTML report: maps, forecast fan charts, allocation with explanations, cleaning report.

Everything is inlined (Plotly's JavaScript from the installed ``plotly`` package, SVG maps from the bundled
``us-atlas`` geometry), so the page opens offline.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from jinja2 import Environment, PackageLoader, select_autoescape
from plotly.offline import get_plotlyjs

from equicare import __version__
from equicare.report.maps import svg_choropleth

if TYPE_CHECKING:  # pragma: no cover
    from equicare.pipeline import DemoParams, DemoResult

_env = Environment(loader=PackageLoader("equicare.report", "templates"), autoescape=select_autoescape(["html", "j2"]))


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


def _fmt_pct(x: float) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def write_demo_report(result: "DemoResult", ftables: dict, params: "DemoParams", path: str | Path) -> Path:
    """Render the demo report to ``path`` (written to a temporary file first, then renamed)."""
    tables, s = result.tables, result.summary
    state, county = tables["state_rates"], tables["county_rates"]
    alloc = tables["allocation"]
    names = dict(zip(state["id"], state["name"]))
    state_map = svg_choropleth(dict(zip(state["id"], state["cap_beds_per_1000"])), "state",
                               title="Staffed beds per 1,000 people", unit="beds per 1,000", names=names,
                               element_id="state-beds-map")
    county_map = svg_choropleth(dict(zip(county["id"], county["access_2sfca"])), "county",
                                title="2SFCA access: beds per 1,000 people within reach", unit="beds per 1,000",
                                names=dict(zip(county["id"], county["name"])), element_id="county-access-map")
    cards = [
        ("Gini of beds per 1,000 (counties, pop.-weighted)", f"{s['gini_beds_per_1000_counties']:.3f}"),
        ("Gini of beds per 1,000 (states, pop.-weighted)", f"{s['gini_beds_per_1000_states']:.3f}"),
        ("States short of ICU beds", f"{s['states_with_need']}"),
        ("ICU beds needed / stockpile", f"{s['total_need']:,.0f} / {s['stockpile']:,}"),
        ("Need if the median forecast comes true; share met",
         f"{s.get('total_need_median_scenario', float('nan')):,.0f}; "
         f"{_fmt_pct(s.get('share_of_need_met_median_scenario', float('nan')))}"),
        ("Minimum share of need met", _fmt_pct(s["min_share"])),
        ("Counties with no hospital", f"{s['counties_without_hospital']:,}"),
    ]
    inequality = [(k.replace("_", " "), f"{v:.4f}") for k, v in s.items() if k.startswith("gini_")]
    sp, cov = s.get("stock_shadow_price"), s.get("stock_marginal_coverage")
    shadow_note = ""
    if sp is not None:
        shadow_note += (f"Shadow price of the stockpile: one more bed raises the minimum share of need met by "
                        f"{100 * sp:.3f} percentage points")
        shadow_note += f" and covers {cov:.2f} more bed of need." if cov is not None else "."
    acols = [c for c in ["name", "need", "need_median_scenario", "cap", "allocated", "share_met", "binding",
                         "explanation"] if c in alloc]
    show = alloc[acols].sort_values(["need"], ascending=False)
    fig = fan_chart(ftables["truth"], ftables["forecast"], params.as_of)
    lorenz = lorenz_chart({
        "beds per 1,000, counties": (county["cap_beds_per_1000"], county["population"]),
        "2SFCA access, counties": (county["access_2sfca"], county["population"]),
        "beds per 1,000, states": (state["cap_beds_per_1000"], state["population"]),
    })
    sh = s.get("shortage", {})
    short = tables["shortage_areas"]
    shortage_note = (f"{sh.get('regions', 0):,} counties, home to {sh.get('people', 0):,.0f} people "
                     f"({100 * sh.get('share_of_population', 0):.1f}% of the population), have 2SFCA access below "
                     f"{params.shortage_fraction:g} times the national mean ({sh.get('line') or 0:.2f} beds per 1,000 "
                     f"within {params.catchment_km:g} km); bringing them to that line would take "
                     f"{sh.get('supply_gap', 0):,.0f} staffed beds. {s.get('hospitals_with_unknown_beds', 0):,} hospitals "
                     f"with no bed count in the source count as 0 beds, so check a county with 0 access against "
                     f"local knowledge. The 50 with the largest gap:")
    short_show = short[[c for c in ["rank", "name", "score", "gap", "population", "supply_gap"] if c in short]]
    env = _env.get_template("report.html.j2")
    html = env.render(
        title="Surge ICU beds for a severe influenza season",
        run_id=result.run_id, version=__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), params=params, cards=cards,
        state_map=state_map, county_map=county_map, inequality=inequality,
        plotly_js=get_plotlyjs(), forecast_fig=figure_json(fig), lorenz_fig=figure_json(lorenz), shortage_note=shortage_note,
        inequality_table=table_html(tables["inequality"]),
        shortage_table=table_html(short_show, max_rows=50),
        scores_table=table_html(tables["forecast_scores"]),
        allocation_table=table_html(show), shadow_note=shadow_note,
        shared_table=table_html(tables["shared_state_summary"]),
        stats_table=table_html(tables["descriptive_stats"]),
        cleaning_table=table_html(tables["cleaning_report"]),
    )
    path = Path(path)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
