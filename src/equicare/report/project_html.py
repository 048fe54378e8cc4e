"""The self-contained HTML report of a project run: maps of the planner's own regions, access, inequality,
the forecast with its scores, the allocation with explanations, the shared summary and the cleaning report.

Tables use labels and units a planner reads (no raw column names, ``True/False`` or ``<NA>``; beds as whole
numbers); forecast scores say which baseline they are relative to.  Plotly's JavaScript is inlined and maps
are inline SVG, so the page opens offline.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from plotly.offline import get_plotlyjs

from equicare import __version__
from equicare.report.html import figure_json, lorenz_chart
from equicare.report.maps_geo import svg_region_map

if TYPE_CHECKING:  # pragma: no cover
    from equicare.project.ingest import Inputs
    from equicare.project.run import ProjectResult

_env = Environment(loader=PackageLoader("equicare.report", "templates"), autoescape=select_autoescape(["html", "j2"]))


#: Column labels of the report's tables (``{r}`` is the allocated resource).
LABELS = {
    "region": "region id", "name": "region", "resource": "resource", "need": "need", "allocated": "allocated",
    "share_met": "share of need met", "explanation": "why", "cap": "most it can staff", "binding": "limits reached",
    "population": "population", "n_facilities": "facilities", "peak_admissions": "forecast peak (planning quantile)",
    "median_peak_admissions": "forecast peak (median)", "flu_icu_patients": "extra ICU patients at the peak",
    "peak_icu_occupancy": "occupancy at the peak", "need_median_scenario": "need if the median comes true",
    "usual_occupancy": "usual occupancy", "model": "model", "wis": "mean WIS", "ae_median": "mean abs. error of median",
    "coverage_50": "50% interval coverage", "coverage_95": "95% interval coverage", "n_tasks": "forecasts scored",
    "wis_ratio_vs_baseline": "WIS relative to baseline", "baseline": "baseline", "indicator": "indicator",
    "measure_label": "measure", "estimate": "estimate", "lowerci": "95% CI low", "upperci": "95% CI high",
    "regions": "regions", "note": "note", "file": "file", "step": "step", "column": "column", "count": "rows",
    "detail": "detail", "demand_last_period": "demand, last period",
}
_PCT = ("share_met", "peak_icu_occupancy", "usual_occupancy", "coverage_50", "coverage_95")
_WHOLE = ("need", "allocated", "cap", "need_median_scenario", "population", "n_facilities", "count", "n_tasks",
          "regions", "demand_last_period")


def readable(df: pd.DataFrame, labels: dict[str, str] | None = None) -> str:
    """An escaped HTML table with planner labels: percentages, whole units, yes/no, and "–" for no value."""
    labels = {**LABELS, **(labels or {})}

    def cell(col: str, v: object) -> str:
        if v is None or v is pd.NA or (isinstance(v, float) and not np.isfinite(v)):
            return "–"
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        if isinstance(v, (int, float, np.integer, np.floating)):
            x = float(v)
            if col in _PCT:
                return f"{100 * x:.1f}%"
            if col in _WHOLE or col.endswith("_capacity") or x.is_integer():
                return f"{x:,.0f}"
            return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.3f}"
        return str(v)

    body = pd.DataFrame({labels.get(c, c.replace("_", " ")): [cell(c, v) for v in df[c].tolist()] for c in df.columns})
    return body.to_html(index=False, escape=True, border=0, na_rep="–")


def _map(result: "ProjectResult", inp: "Inputs", gj: dict, values: dict, title: str, unit: str, element_id: str,
         **kw) -> dict:
    """One map: the planner's geometry (or the us-atlas states/counties for a US FIPS project)."""
    proj = result.project
    names = dict(zip(inp.regions["id"], inp.regions["name"]))
    if proj.regions.id_format == "us-fips" and inp.layer is None and all(len(str(i)) in (2, 5) for i in values):
        from equicare.report.maps import svg_choropleth

        level = "state" if all(len(str(i)) == 2 for i in values) else "county"
        svg = svg_choropleth(values, level, title="", unit=unit, names=names, element_id=element_id)
    else:
        svg = svg_region_map(gj, values, unit=unit, element_id=element_id, **kw)
    return {"title": title, "svg": svg}


def fan_chart(truth: pd.DataFrame, forecast: pd.DataFrame, names: dict, what: str, steps_before: int = 26) -> go.Figure:
    """Observed series and forecast median with 50%/95% bands, one region at a time (a drop-down)."""
    fc = forecast.assign(q=forecast["output_type_id"].astype(float).round(4),
                         d=pd.to_datetime(forecast["target_end_date"]))
    locs = sorted(fc["location"].unique(), key=lambda x: (-truth[truth["location"] == x]["value"].sum(), x))
    fig, per = go.Figure(), 4
    for i, loc in enumerate(locs):
        f = fc[fc["location"] == loc].pivot_table(index="d", columns="q", values="value").sort_index()
        t = truth[truth["location"] == loc].sort_values("date").tail(steps_before)
        vis = i == 0
        x = list(f.index)
        lo95, hi95 = f.get(0.025, f[f.columns[0]]), f.get(0.975, f[f.columns[-1]])
        lo50, hi50 = f.get(0.25, f[f.columns[0]]), f.get(0.75, f[f.columns[-1]])
        for lo, hi, col, label in ((lo95, hi95, "rgba(33,145,140,0.18)", "95% interval"),
                                   (lo50, hi50, "rgba(33,145,140,0.40)", "50% interval")):
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(hi) + list(lo[::-1]), fill="toself", mode="lines",
                                     fillcolor=col, line={"width": 0}, name=label, visible=vis, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=f[0.5], mode="lines+markers", name="forecast median", visible=vis,
                                 line={"color": "#21918c"}))
        fig.add_trace(go.Scatter(x=t["date"], y=t["value"], mode="lines+markers", name="observed", visible=vis,
                                 line={"color": "#16425b"}))
    buttons = []
    for i, loc in enumerate(locs):
        vis = [False] * (per * len(locs))
        vis[i * per:(i + 1) * per] = [True] * per
        buttons.append({"label": str(names.get(loc, loc)), "method": "update",
                        "args": [{"visible": vis}, {"title": f"{what}: {names.get(loc, loc)}"}]})
    fig.update_layout(title=f"{what}: {names.get(locs[0], locs[0])}" if locs else what, template="plotly_white",
                      updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.18}],
                      margin={"l": 60, "r": 20, "t": 70, "b": 40}, legend={"orientation": "h", "y": -0.15})
    return fig


def _access_label(p, column: str) -> str:
    """A planner's title for the access map, e.g. "Access (2SFCA): beds per 1,000 people within 30 km"."""
    a = p.access
    supply = column.split("_", 1)[1].rsplit("_per_1000", 1)[0].rsplit("_km", 1)[0].replace("_", " ")
    reach = f" within {a.max_km:g} km" if a.max_km is not None else ""
    if column.endswith("_km"):
        return f"Distance to the nearest facility with {supply} (km)"
    if column.endswith("_per_1000"):
        return f"Access ({a.method.upper()}): {supply} per 1,000 people{reach}"
    return f"Access ({a.method}): {supply}{reach}"


def _pct(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def write_project_report(result: "ProjectResult", inp: "Inputs", path: str | Path) -> Path:
    """Render the report of a project run to ``path`` (a temporary file renamed, never half written)."""
    p, t, s = result.project, result.tables, result.summary
    gj = result.geojson
    acc = t["access"]
    maps, cards = [], [("Regions", f"{len(inp.regions):,}")]
    if inp.facilities is not None:
        cards.append(("Facilities", f"{len(inp.facilities):,}"))
        for c in p.facilities.capacity:
            maps.append(_map(result, inp, gj, dict(zip(acc["region"], acc[f"{c}_per_1000"])),
                             f"{c.replace('_', ' ')} per 1,000 people", "per 1,000", f"map-{c}-per-1000"))
    if p.access is not None and s.get("access_measure"):
        m = s["access_measure"]
        label = _access_label(p, m)
        maps.append(_map(result, inp, gj, dict(zip(acc["region"], acc[m])), label,
                         "per 1,000" if m.endswith("1000") else "km" if m.endswith("_km") else "", "map-access"))
        cards.append(("People with no facility in reach", f"{s.get('population_without_access', 0):,.0f}"))
    alloc = t.get("allocation")
    if alloc is not None:
        cards += [("Regions short of " + p.allocate.resource.replace("_", " "), f"{s['regions_with_need']:,}"),
                  ("Need / stock", f"{s['total_need']:,.0f} / {s['stockpile']:,}"),
                  ("Minimum share of need met", _pct(s["min_share"]))]
        maps.append(_map(result, inp, gj, dict(zip(alloc["region"], alloc["share_met"].where(alloc["need"] > 0))),
                         "Share of need met by the allocation (grey: no need)", "", "map-share-met",
                         breaks=[0, 0.25, 0.5, 0.75, 0.999, 1.0], flag_outliers=False, percent=True))
    names = dict(zip(inp.regions["id"], inp.regions["name"]))
    forecast_fig = scores_note = None
    if "forecast" in t and inp.demand is not None:
        what = f"{inp.demand.name} per {dict(daily='day', weekly='week', monthly='month')[inp.demand.freq]}"
        forecast_fig = figure_json(fan_chart(inp.demand.truth(), t["forecast"], names, what))
        scores_note = (f"Scored on the last reference dates whose targets are observed, each forecast using only "
                       f"data before its reference date. WIS relative to baseline is the mean weighted interval "
                       f"score divided by that of the baseline model '{s.get('forecast_baseline')}' on the same "
                       f"forecasts (below 1: better than the baseline).")
    lorenz = None
    if inp.facilities is not None and inp.regions["population"].notna().all():
        c = p.facilities.capacity[0]
        lorenz = figure_json(lorenz_chart({f"{c.replace('_', ' ')} per 1,000": (acc[f"{c}_per_1000"].fillna(0),
                                                                                   acc["population"])}))
    acols = [c for c in ["name", "need", "need_median_scenario", "cap", "allocated", "share_met", "binding",
                         "explanation"] if alloc is not None and c in alloc]
    access_cols = [c for c in acc.columns if c != "region"]
    ineq = t["inequality"][["indicator", "measure_label", "estimate", "lowerci", "upperci", "regions", "note"]]
    ineq = ineq.assign(indicator=ineq["indicator"].str.replace("_", " "))
    html = _env.get_template("project.html.j2").render(
        title=p.name, run_id=result.run_id, version=__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), cards=cards, maps=maps,
        plotly_js=get_plotlyjs(), forecast_fig=forecast_fig, scores_note=scores_note, lorenz_fig=lorenz,
        scores_table=readable(t["forecast_scores"]) if "forecast_scores" in t and len(t["forecast_scores"]) else None,
        access_table=readable(acc[access_cols].sort_values(access_cols[-1])),
        inequality_table=readable(ineq),
        allocation_table=readable(alloc[acols].sort_values("need", ascending=False)) if alloc is not None else None,
        resource=p.allocate.resource.replace("_", " ") if p.allocate else "",
        shared_table=readable(t["shared_summary"]) if "shared_summary" in t else None,
        cleaning_table=readable(t["cleaning_report"]), warnings=s.get("warnings", []),
        stages=p.stages(),
    )
    path = Path(path)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
