"""The drawn parts of a project run's page -- its maps, allocation, forecast and scores tables -- from a worker.

Drawing a run's maps means parsing every region's geometry and writing it as SVG: seconds for thousands of
detailed polygons, so the web process never does it. The worker that ran the project draws them at the end of
the run (:func:`render_project_page`) and leaves them in the project's folder (:func:`page_path`, JSON named
after the run; an uploaded file name never starts with a dot, so it cannot clash with an input); the page then
only reads that file (:func:`read_page`). For a run without that file (finished before it existed) the service
draws them in a pool worker on the first view (:func:`page_job`) and keeps them in memory
(:class:`equicare.service.drawn.DrawnCache`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["PAGE_TABLES", "ProjectPage", "forecast_summary", "page_job", "page_path", "read_page",
           "render_project_page", "write_page"]
PAGE_TABLES = ("region_shapes", "access", "allocation", "forecast", "forecast_scores")
"""The run results the page is drawn from."""


@dataclass
class ProjectPage:
    """A project run page's drawn parts: ``maps`` as ``(title, svg)`` pairs and escaped HTML tables (or None)."""

    maps: list[tuple[str, str]] = field(default_factory=list)
    allocation: str | None = None
    forecast: str | None = None
    scores: str | None = None

    def size(self) -> int:
        """Characters held (to bound how many pages are kept in memory)."""
        return sum(len(t) + len(s) for t, s in self.maps) + sum(
            len(x or "") for x in (self.allocation, self.forecast, self.scores))


def forecast_summary(fc: pd.DataFrame) -> pd.DataFrame:
    """Median and 90% interval of the forecast at each horizon, per region (first 40 regions)."""
    fc = fc.assign(q=pd.to_numeric(fc["output_type_id"]).round(3), location=fc["location"].astype(str))
    w = fc[fc["q"].isin([0.05, 0.5, 0.95])].pivot_table(index=["location", "target_end_date"], columns="q",
                                                         values="value").reset_index()
    w.columns = ["region", "week ending", "5% quantile", "median", "95% quantile"][: len(w.columns)]
    return w.head(160)


def render_project_page(tables: Mapping[str, pd.DataFrame]) -> ProjectPage:
    """Draw the page's parts from a succeeded run's results (``tables``: name -> table; absent ones are skipped).

    Maps: the access rate per 1,000 residents, and the share of need met (grey where a region has no need), on
    the run's region shapes (:func:`equicare.report.maps_geo.svg_region_map`).
    """
    from equicare.project.geo import shapes_geojson
    from equicare.report.maps_geo import svg_region_map
    from equicare.report.project_html import readable

    out = ProjectPage()
    if "region_shapes" in tables and "access" in tables:
        gj = shapes_geojson(tables["region_shapes"])
        acc = tables["access"].copy()
        acc["region"] = acc["region"].astype(str)
        rate = next((c for c in acc.columns if c.endswith("_per_1000")), None)
        if rate:
            out.maps.append((rate.replace("_", " "), svg_region_map(
                gj, dict(zip(acc["region"], acc[rate])), unit="per 1,000", element_id="project-map")))
        if "allocation" in tables:
            a = tables["allocation"].copy()
            a["region"] = a["region"].astype(str)
            out.maps.append(("share of need met (grey: no need)", svg_region_map(
                gj, dict(zip(a["region"], a["share_met"].where(a["need"] > 0))), element_id="share-map",
                breaks=[0, 0.25, 0.5, 0.75, 0.999, 1.0], flag_outliers=False, percent=True)))
    if "allocation" in tables:
        a = tables["allocation"]
        cols = [c for c in ("name", "need", "cap", "allocated", "share_met", "binding", "explanation") if c in a]
        out.allocation = readable(a.sort_values(["need", "allocated"], ascending=False)[cols])
    if "forecast" in tables:
        out.forecast = readable(forecast_summary(tables["forecast"]))
    if "forecast_scores" in tables:
        out.scores = readable(tables["forecast_scores"])
    return out


def page_job(tables: dict[str, pd.DataFrame]) -> ProjectPage:
    """:func:`render_project_page` in a worker process (a run finished before its page was drawn with it)."""
    return render_project_page(tables)


def page_path(folder: Path, run_id: str) -> Path:
    """Where the drawn page of run ``run_id`` is kept in its project's ``folder`` (``.page-<run id>.json``)."""
    return Path(folder) / f".page-{''.join(ch for ch in str(run_id) if ch.isalnum())[:40]}.json"


def write_page(folder: Path, run_id: str, page: ProjectPage) -> None:
    """Leave ``page`` in the project's ``folder`` (written to a temporary name, then renamed: never half a file)."""
    path = page_path(folder, run_id)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(page)))
    tmp.replace(path)


def read_page(folder: Path, run_id: str) -> ProjectPage | None:
    """The page the run's worker drew (:func:`write_page`), or None when there is none (or it cannot be read)."""
    try:
        raw = json.loads(page_path(folder, run_id).read_text())
        return ProjectPage([(str(t), str(s)) for t, s in raw.get("maps", [])], raw.get("allocation"),
                           raw.get("forecast"), raw.get("scores"))
    except (OSError, ValueError, TypeError, AttributeError):
        return None
