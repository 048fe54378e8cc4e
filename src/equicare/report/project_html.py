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
import plotly.io as pio
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
          "regions", "demand_last_period", "supply_gap")


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
                text = f"{100 * x:.1f}%"
            elif col in _WHOLE or col.endswith("_capacity") or x.is_integer():
                text = f"{x:,.0f}"
            else:
                text = f"{x:,.2f}" if abs(x) >= 1 else f"{x:.3f}"
            return text[1:] if text.startswith("-") and not text.strip("-0.,%") else text  # never "-0"
        return str(v)

    body = pd.DataFrame({labels.get(c, indicator_label(c)): [cell(c, v) for v in df[c].tolist()] for c in df.columns})
    return body.to_html(index=False, escape=True, border=0, na_rep="–")


def _map(result: "ProjectResult", inp: "Inputs", gj: dict | None, values: dict, title: str, unit: str,
         element_id: str, names: dict | None = None, **kw) -> dict:
    """One map: the planner's geometry (or the us-atlas states/counties for a US FIPS project)."""
    proj = result.project
    names = names if names is not None else dict(zip(inp.regions["id"], inp.regions["name"]))
    points = gj is None or all(f["geometry"]["type"] == "Point" for f in gj["features"])
    if proj.regions.id_format == "us-fips" and points and values and all(len(str(i)) in (2, 5) for i in values):
        from equicare.report.maps import svg_choropleth

        level = "state" if all(len(str(i)) == 2 for i in values) else "county"
        svg = svg_choropleth(values, level, title="", unit=unit, names=names, element_id=element_id)
    else:
        svg = svg_region_map(gj, values, unit=unit, element_id=element_id, **kw)
    return {"title": title, "svg": svg}


def fan_chart(truth: pd.DataFrame, forecast: pd.DataFrame, names: dict, what: str, steps_before: int = 26) -> dict:
    """Observed series and forecast median with 50%/95% bands, one region at a time (a drop-down).

    Returns a Plotly figure as a plain ``{"data", "layout"}`` mapping (render with :func:`figure_json`):
    building validated ``graph_objects`` traces for 50+ regions costs seconds, the mapping milliseconds.
    """
    fc = forecast.assign(q=forecast["output_type_id"].astype(float).round(4),
                         d=pd.to_datetime(forecast["target_end_date"]).dt.strftime("%Y-%m-%d"))
    totals = truth.groupby("location")["value"].sum()
    locs = sorted(fc["location"].unique(), key=lambda x: (-float(totals.get(x, 0.0)), x))
    wide = fc.pivot_table(index=["location", "d"], columns="q", values="value").sort_index()
    by_fc = {loc: g.droplevel(0) for loc, g in wide.groupby(level=0)}
    last = pd.to_datetime(fc["target_end_date"]).max()  # the observed weeks up to the forecast's last target
    tail = truth[truth["date"] <= last].sort_values("date").groupby("location").tail(steps_before)
    by_truth = {loc: g for loc, g in tail.groupby("location")}
    data, per = [], 4
    for i, loc in enumerate(locs):
        f = by_fc[loc]
        t = by_truth.get(loc, tail.iloc[:0])
        vis = i == 0
        x = [str(d) for d in f.index]
        lo95, hi95 = f.get(0.025, f[f.columns[0]]), f.get(0.975, f[f.columns[-1]])
        lo50, hi50 = f.get(0.25, f[f.columns[0]]), f.get(0.75, f[f.columns[-1]])
        for lo, hi, col, label in ((lo95, hi95, "rgba(33,145,140,0.18)", "95% interval"),
                                   (lo50, hi50, "rgba(33,145,140,0.40)", "50% interval")):
            band = [float(v) for v in hi] + [float(v) for v in lo[::-1]]
            data.append({"type": "scatter", "x": x + x[::-1], "y": band,
                         "fill": "toself", "mode": "lines", "fillcolor": col, "line": {"width": 0}, "name": label,
                         "visible": vis, "hoverinfo": "skip"})
        data.append({"type": "scatter", "x": x, "y": [float(v) for v in f[0.5]], "mode": "lines+markers",
                     "name": "forecast median", "visible": vis, "line": {"color": "#21918c"}})
        data.append({"type": "scatter", "x": list(pd.to_datetime(t["date"]).dt.strftime("%Y-%m-%d")),
                     "y": [float(v) for v in t["value"]], "mode": "lines+markers", "name": "observed",
                     "visible": vis, "line": {"color": "#16425b"}})
    buttons = []
    for i, loc in enumerate(locs):
        vis = [False] * (per * len(locs))
        vis[i * per:(i + 1) * per] = [True] * per
        buttons.append({"label": str(names.get(loc, loc)), "method": "update",
                        "args": [{"visible": vis}, {"title": f"{what}: {names.get(loc, loc)}"}]})
    layout = {"title": {"text": f"{what}: {names.get(locs[0], locs[0])}" if locs else what},
              "template": pio.templates["plotly_white"].to_plotly_json(),
              "updatemenus": [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.18}],
              "margin": {"l": 60, "r": 20, "t": 70, "b": 40}, "legend": {"orientation": "h", "y": -0.15}}
    return {"data": data, "layout": layout}


def indicator_label(column: str) -> str:
    """``beds_per_1000_65plus`` -> ``beds per 1,000 aged 65+``; ``2sfca_beds_per_1000`` -> ``2SFCA access: beds
    per 1,000``."""
    text = str(column).replace("_per_1000_65plus", " per 1,000 aged 65+").replace("_per_1000", " per 1,000")
    head, _, rest = text.partition("_")
    if head in ("fca", "2sfca", "e2sfca", "3sfca", "gravity", "raam", "nearest") and rest:
        text = f"{head.upper() if 'fca' in head else head} access: {rest}"
    return text.replace("_", " ")


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


def _gini(ineq: pd.DataFrame, level: str, indicator: str) -> float | None:
    row = ineq[(ineq["level"] == level) & (ineq["indicator"] == indicator) & (ineq["measure"] == "gini")]
    return float(row["estimate"].iloc[0]) if len(row) and np.isfinite(row["estimate"].iloc[0]) else None


def _shortage_note(p, s: dict, sub: bool) -> str:
    sh = s["shortage"]
    what = "small areas" if sub else "regions"
    unknown = sum((s.get("facilities_with_unknown_capacity") or {}).values())
    reach = f" within {p.access.max_km:g} km" if p.access.max_km is not None else ""
    return (f"{sh.get('regions', 0):,} {what}, home to {sh.get('people', 0):,.0f} people "
            f"({100 * sh.get('share_of_population', 0):.1f}% of the population), have access below "
            f"{sh['fraction']:g} times the population-weighted mean ({sh.get('line') or 0:.2f} per 1,000{reach}); "
            f"bringing them to that line would take {sh.get('supply_gap', 0):,.0f} more units. "
            + (f"{unknown:,} facility capacity values are unknown and count as 0, so check an area with no access "
               f"against local knowledge. " if unknown else "") + "The 50 with the largest gap:")


def write_project_report(result: "ProjectResult", inp: "Inputs", path: str | Path) -> Path:
    """Render the report of a project run to ``path`` (a temporary file renamed, never half written).

    Sections: summary cards, maps (capacity per 1,000 by region; access on the finest level; share of need
    met), capacity and access by region, inequality (Lorenz curves, measures by level), shortage areas,
    descriptive statistics, the forecast with its back-test scores, the allocation with explanations and the
    stock's shadow price, the shareable summary and the cleaning report.
    """
    from equicare.project.geo import regions_geojson

    p, t, s = result.project, result.tables, result.summary
    gj = result.geojson
    acc, sub = t["access"], t.get("subregion_access")
    ineq_all = t["inequality"]
    sub_gj = sub_names = None
    if sub is not None:
        sub_names = dict(zip(inp.subregions["id"], inp.subregions["name"]))
        sub_gj = regions_geojson(inp.subregions, inp.sublayer)
    maps, cards = [], [("Regions", f"{len(inp.regions):,}")]
    if sub is not None:
        cards.append(("Small areas", f"{len(sub):,}"))
    if inp.facilities is not None:
        cards.append(("Facilities", f"{len(inp.facilities):,}"))
        for c in p.facilities.capacity:
            maps.append(_map(result, inp, gj, dict(zip(acc["region"], acc[f"{c}_per_1000"])),
                             f"{c.replace('_', ' ')} per 1,000 people", "per 1,000", f"map-{c}-per-1000"))
        c0 = f"{p.facilities.capacity[0]}_per_1000"
        for level, label in (("small area", "small areas"), ("region", "regions")):
            g = _gini(ineq_all, level, c0)
            if g is not None:
                cards.append((f"Gini of {c0.replace('_per_1000', '').replace('_', ' ')} per 1,000 ({label}, "
                              "pop.-weighted)", f"{g:.3f}"))
        if sub is not None:
            cards.append(("Small areas with no facility", f"{s.get('subregions_without_facility', 0):,}"))
    if p.access is not None and s.get("access_measure"):
        m = s["access_measure"]
        label = _access_label(p, m) + (" (small areas)" if sub is not None else "")
        unit = "per 1,000" if m.endswith("1000") else "km" if m.endswith("_km") else ""
        if sub is not None:
            maps.append(_map(result, inp, sub_gj, dict(zip(sub["subregion"], sub[m])), label, unit, "map-access",
                             names=sub_names))
        else:
            maps.append(_map(result, inp, gj, dict(zip(acc["region"], acc[m])), label, unit, "map-access"))
        cards.append(("People with no facility in reach", f"{s.get('population_without_access', 0):,.0f}"))
    alloc = t.get("allocation")
    shadow_note = scenario = ""
    if alloc is not None:
        al = p.allocate
        scenario = (f"Scenario: stock {al.stock:,.0f} {al.resource.replace('_', ' ')}"
                    + (f"; as of {s.get('as_of')}, severity ×{al.severity:g}, forecast quantile "
                       f"{al.scenario_quantile:g}, {100 * al.icu_fraction:g}% of counted patients need the resource "
                       f"for {al.icu_los_days:g} days, "
                       f"target occupancy {100 * al.target_occupancy:g}%" if al.need == "forecast_surge" else
                       f"; need from the column {al.need!r}")
                    + f"; a region adds at most {100 * al.surge_cap_ratio:g}% of its capacity; rule {al.objective}.")
        cards += [("Regions short of " + p.allocate.resource.replace("_", " "), f"{s['regions_with_need']:,}"),
                  ("Need / stock", f"{s['total_need']:,.0f} / {s['stockpile']:,}")]
        if p.allocate.need == "forecast_surge":
            cards.append(("Need if the median forecast comes true; share met",
                          f"{s.get('total_need_median_scenario', float('nan')):,.0f}; "
                          f"{_pct(s.get('share_of_need_met_median_scenario', float('nan')))}"))
        cards.append(("Minimum share of need met", _pct(s["min_share"])))
        given = s.get("total_allocated")
        left = s["stockpile"] - given if given is not None else 0.0
        if given is not None:
            cards.append(("Allocated / stock", f"{given:,.0f} / {s['stockpile']:,}"))
        maps.append(_map(result, inp, gj, dict(zip(alloc["region"], alloc["share_met"].where(alloc["need"] > 0))),
                         "Share of need met by the allocation (grey: no need)", "", "map-share-met",
                         breaks=[0, 0.25, 0.5, 0.75, 0.999, 1.0], flag_outliers=False, percent=True,
                         missing_label="no need"))
        sp, cov = s.get("stock_shadow_price"), s.get("stock_marginal_coverage")
        if left >= 0.5:  # the stock does not bind: say why rather than a shadow price of 0
            shadow_note = (f"{left:,.0f} of the {s['stockpile']:,} units are not placed: every region has its need "
                           "met or has reached the most it can staff (its absorption cap), so more stock would not "
                           "raise any share of need met" + (" (or the Gini cap binds)." if "max_gini" in s else "."))
        elif sp is not None:
            shadow_note = (f"Shadow price of the stock: one more unit raises the minimum share of need met by "
                           f"{100 * sp:.3f} percentage points"
                           + (f" and covers {cov:.2f} more unit of need." if cov is not None else "."))
    names = dict(zip(inp.regions["id"], inp.regions["name"]))
    forecast_fig = scores_note = None
    if "forecast" in t and inp.demand is not None:
        step = dict(daily='day', weekly='week', monthly='month')[inp.demand.freq]
        what = f"{str(inp.demand.name).replace('_', ' ').capitalize()} per {step}"
        forecast_fig = figure_json(fan_chart(inp.demand.truth(), t["forecast"], names, what))
        scores_note = (f"Scored on the last reference dates whose targets are observed, each forecast using only "
                       f"data before its reference date. WIS relative to baseline is the mean weighted interval "
                       f"score divided by that of the baseline model '{s.get('forecast_baseline')}' on the same "
                       f"forecasts (below 1: better than the baseline).")
    lorenz = None
    if inp.facilities is not None and acc["population"].notna().any():  # regions of unknown population left out
        c = p.facilities.capacity[0]
        curves = {}
        if sub is not None:
            ok = sub["population"].notna()
            curves[f"{c.replace('_', ' ')} per 1,000, small areas"] = (sub.loc[ok, f"{c}_per_1000"].fillna(0),
                                                                        sub.loc[ok, "population"])
            if s.get("access_measure"):
                curves["access, small areas"] = (sub.loc[ok, s["access_measure"]].fillna(0), sub.loc[ok, "population"])
        known = acc["population"].notna()
        curves[f"{c.replace('_', ' ')} per 1,000, regions"] = (acc.loc[known, f"{c}_per_1000"].fillna(0),
                                                                acc.loc[known, "population"])
        lorenz = figure_json(lorenz_chart(curves))
    acols = [c for c in ["name", "need", "need_median_scenario", "cap", "allocated", "share_met", "binding",
                         "explanation", "note"] if alloc is not None and c in alloc]
    access_cols = [c for c in acc.columns if c != "region"]
    ineq = ineq_all[["level", "indicator", "measure_label", "estimate", "lowerci", "upperci", "regions", "note"]]
    ineq = ineq.assign(indicator=ineq["indicator"].map(indicator_label))
    short = t.get("shortage_areas")
    shortage_table = shortage_note = None
    if short is not None and "shortage" in s:
        shortage_note = _shortage_note(p, s, sub is not None)
        cols = [c for c in ["rank", "name", "score", "gap", "population", "supply_gap"] if c in short]
        shortage_table = readable(short[cols].head(50), {"score": "access per 1,000", "gap": "below the line by",
                                                          "supply_gap": "units to reach the line"})
    stats = t.get("descriptive_stats")
    html = _env.get_template("project.html.j2").render(
        title=p.name, run_id=result.run_id, version=__version__,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), cards=cards, maps=maps,
        plotly_js=get_plotlyjs(), forecast_fig=forecast_fig, scores_note=scores_note, lorenz_fig=lorenz,
        scores_table=readable(t["forecast_scores"]) if "forecast_scores" in t and len(t["forecast_scores"]) else None,
        access_table=readable(acc[access_cols].sort_values(access_cols[-1])),
        inequality_table=readable(ineq), shortage_note=shortage_note, shortage_table=shortage_table,
        stats_table=readable(stats.assign(column=stats["column"].map(indicator_label)), {"column": "indicator"})
        if stats is not None and len(stats) else None,
        allocation_table=readable(alloc[acols].sort_values("need", ascending=False)) if alloc is not None else None,
        shadow_note=shadow_note, resource=p.allocate.resource.replace("_", " ") if p.allocate else "",
        shared_table=readable(t["shared_summary"]) if "shared_summary" in t else None,
        cleaning_table=readable(t["cleaning_report"]), warnings=s.get("warnings", []),
        forecast_notes=s.get("forecast_notes", []), no_facilities=inp.facilities is None,
        stages=p.stages(), small_areas=sub is not None, scenario=scenario,
    )
    path = Path(path)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
