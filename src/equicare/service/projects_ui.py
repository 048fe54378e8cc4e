"""Dashboard pages for a planner's own project: upload the project file and its inputs, set the scenario,
run every stage, and see the map of their regions, the forecast, the allocation with explanations, and the report.

Uploaded files are kept under ``<store folder>/projects/<org>/<project id>/`` (file names reduced to their base
name, nothing outside that folder is written); the project is validated exactly as ``equicare run --check``
does before a run starts.  A run goes through :func:`equicare.project.run_project` on the service's store, in
a background thread; the run page shows its progress and then its results.
"""

# ruff: noqa: B008  (FastAPI declares dependencies, forms and files as parameter defaults)

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path

import pandas as pd
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from equicare.errors import EquicareError, ValidationError
from equicare.service.accounts import User

#: Scenario fields of the run form: (form field, ``section.key`` of the project file, type).
SCENARIO_FIELDS = (
    ("stock", "allocate.stock", float), ("severity", "allocate.severity", float),
    ("as_of", "allocate.as_of", str), ("scenario_quantile", "allocate.scenario_quantile", float),
    ("objective", "allocate.objective", str), ("fairness_weight", "allocate.fairness_weight", float),
    ("max_gini", "allocate.max_gini", float), ("hospital_share", "allocate.hospital_share", float),
    ("target_occupancy", "allocate.target_occupancy", float), ("surge_cap_ratio", "allocate.surge_cap_ratio", float),
    ("forecast_model", "forecast.model", str),
)
_SAFE = re.compile(r"[^A-Za-z0-9._ -]")


def safe_name(name: str) -> str:
    """An uploaded file's base name with unusual characters replaced (never a path)."""
    base = Path(str(name or "upload").replace("\\", "/")).name
    base = _SAFE.sub("_", base).strip(" .") or "upload"
    return base[:120]


def scenario_overrides(form: dict) -> dict:
    """``section.key -> value`` from the run form's non-blank scenario fields.

    Raises
    ------
    EquicareError
        A field that is not a number where one is expected.
    """
    out = {}
    for field, key, typ in SCENARIO_FIELDS:
        v = str(form.get(field) or "").strip()
        if not v:
            continue
        try:
            out[key] = typ(v)
        except ValueError:
            raise EquicareError(f"{field.replace('_', ' ')} must be a number, not {v!r}") from None
    if not form.get("place_at_facilities"):
        out.pop("allocate.hospital_share", None)
    return out


def confine(project, folder: Path) -> None:
    """Refuse a project whose files lie outside its upload folder (an uploaded project names only uploaded files).

    Raises
    ------
    EquicareError
        Naming the key and the file name.
    """
    root = folder.resolve()
    specs = [("regions", project.regions), ("subregions", project.subregions), ("facilities", project.facilities),
             ("demand", project.demand)]
    paths = [(f"{k}.file", s.file) for k, s in specs if s is not None]
    if project.access is not None and project.access.costs is not None:
        paths.append(("access.costs", project.access.costs))
    for key, path in paths:
        if not Path(path).resolve().is_relative_to(root):
            raise EquicareError(f"{key}: {Path(path).name} is not among the uploaded files; upload it with the "
                                "project and name it without a folder")


def _project_dir(store, org: str, pid: str) -> Path:
    base = Path(store.path).resolve().parent if store.path != ":memory:" else Path.cwd()
    if not re.fullmatch(r"[0-9a-f]{12}", pid):
        raise HTTPException(404, "no such project")
    return base / "projects" / safe_name(org) / pid


def register(app: FastAPI) -> None:
    """Add the project pages to ``app`` (built by :func:`equicare.service.app.create_app`)."""
    st = app.state.store
    templates = app.state.templates
    role, user_dep, h = app.state.role, app.state.user_dep, app.state.helpers

    def page(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"user": request.state.user,
                                                          "csrf_token": request.state.csrf_token,
                                                          "csp_nonce": request.state.csp_nonce, **ctx},
                                          status_code=status)

    def project_runs(org: str) -> list[dict]:
        runs = st.list_runs(org=org)
        runs = runs[runs["kind"] == "project"]
        out = []
        for rid in runs["id"].head(30):
            info = st.get_run(str(rid))
            out.append({"id": info["id"], "status": info["status"], "project": info["params"].get("project"),
                        "started_at": info["started_at"], "pid": info["params"].get("project_id")})
        return out

    @app.get("/projects", response_class=HTMLResponse, include_in_schema=False)
    def projects_page(request: Request, user: User = Depends(user_dep)):
        from equicare.forecast import MODELS
        from equicare.optimize import OBJECTIVES
        from equicare.project.spec import AllocateSpec

        return page(request, "projects.html", runs=project_runs(user.org), defaults=AllocateSpec(),
                    models=list(MODELS), objectives=OBJECTIVES, error=None)

    @app.post("/ui/projects", include_in_schema=False)
    async def project_upload(request: Request, files: list[UploadFile] = File(...), project_file: str = Form(""),
                             user: User = Depends(role("planner"))):
        from equicare.project import check_project, load_project, run_project

        form = dict(await request.form())
        pid = uuid.uuid4().hex[:12]
        folder = _project_dir(st, user.org, pid)
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        for f in files:
            data = await f.read()  # the whole body is bounded while it streams (BodyLimit: an upload path)
            name = safe_name(f.filename)
            (folder / name).write_bytes(data)
            names.append(name)
        yamls = [n for n in names if n.lower().endswith((".yaml", ".yml"))]
        chosen = safe_name(project_file) if project_file.strip() else (yamls[0] if len(yamls) == 1 else None)
        request.state.audit_detail = {"files": names[:20], "project": chosen}
        if chosen is None or chosen not in names:
            return page(request, "error.html", status=422, status_code=422,
                        message="upload one project file (.yaml) with its inputs, or name it in 'project file'")
        try:
            overrides = scenario_overrides(form)
            from fastapi.concurrency import run_in_threadpool

            confine(load_project(folder / chosen), folder)
            await run_in_threadpool(check_project, folder / chosen)  # reads every input: off the event loop
        except ValidationError as exc:
            return page(request, "upload_rejected.html", status=422, error=exc.to_dict(), filename=chosen)
        except EquicareError as exc:
            return page(request, "error.html", status=422, status_code=422, message=str(exc))
        started = threading.Event()
        box: dict = {}

        def on_start(run_id: str) -> None:
            box["run_id"] = run_id
            started.set()

        def work() -> None:
            try:
                run_project(folder / chosen, folder / "out", store=st, org=user.org, created_by=user.name,
                            on_start=on_start, overrides=overrides, extra_params={"project_id": pid})
            except Exception as exc:  # reported on the run page (failed runs keep the error)
                box["error"] = str(exc)
            finally:
                started.set()

        threading.Thread(target=work, daemon=True, name=f"project-{pid}").start()
        started.wait(timeout=120)
        if "run_id" not in box:
            return page(request, "error.html", status=422, status_code=422,
                        message=box.get("error", "the run did not start"))
        request.state.audit_target = f"run:{box['run_id']}"
        return RedirectResponse(f"/projects/runs/{box['run_id']}", status_code=303)

    @app.get("/projects/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def project_run_page(request: Request, run_id: str, user: User = Depends(user_dep)):
        from equicare.project.geo import shapes_geojson
        from equicare.report.maps_geo import svg_region_map
        from equicare.report.project_html import readable

        info = h["run_for"](user, run_id)
        if info["kind"] != "project":
            raise HTTPException(404, f"run {run_id} is not a project run")
        ctx: dict = {"run": info, "maps": [], "allocation": None, "forecast": None, "s": info.get("summary") or {}}
        names = st.result_names(run_id) if info["status"] == "succeeded" else []
        if "region_shapes" in names:
            gj = shapes_geojson(st.get_result(run_id, "region_shapes"))
            acc = st.get_result(run_id, "access")
            acc["region"] = acc["region"].astype(str)
            rate = next((c for c in acc.columns if c.endswith("_per_1000")), None)
            if rate:
                ctx["maps"].append((rate.replace("_", " "), svg_region_map(
                    gj, dict(zip(acc["region"], acc[rate])), unit="per 1,000", element_id="project-map")))
            if "allocation" in names:
                a = st.get_result(run_id, "allocation")
                a["region"] = a["region"].astype(str)
                ctx["maps"].append(("share of need met (grey: no need)", svg_region_map(
                    gj, dict(zip(a["region"], a["share_met"].where(a["need"] > 0))), element_id="share-map",
                    breaks=[0, 0.25, 0.5, 0.75, 0.999, 1.0], flag_outliers=False, percent=True)))
                cols = [c for c in ("name", "need", "cap", "allocated", "share_met", "binding", "explanation") if c in a]
                ctx["allocation"] = readable(a.sort_values(["need", "allocated"], ascending=False)[cols])
        if "forecast" in names:
            ctx["forecast"] = readable(_forecast_summary(st.get_result(run_id, "forecast")))
        ctx["scores"] = readable(st.get_result(run_id, "forecast_scores")) if "forecast_scores" in names else None
        ctx["results"] = [n for n in names if n != "region_shapes"]
        from equicare.optimize import OBJECTIVES

        return page(request, "project_run.html", objectives=OBJECTIVES, **ctx)

    @app.post("/ui/projects/runs/{run_id}/whatif", response_class=HTMLResponse, include_in_schema=False)
    def project_whatif(request: Request, run_id: str, stock: str = Form(""), objective: str = Form("leximin"),
                       fairness_weight: str = Form(""), max_gini: str = Form(""),
                       user: User = Depends(role("planner"))):
        from equicare.project.allocation import whatif_allocation

        info = h["run_for"](user, run_id)
        if info["kind"] != "project" or "allocation" not in st.result_names(run_id):
            raise HTTPException(404, "this run has no allocation")
        base = info.get("summary") or {}
        try:
            table, summary = whatif_allocation(
                st.get_result(run_id, "allocation"), stock=float(stock) if stock.strip() else float(base["stockpile"]),
                objective=objective or "leximin",
                fairness_weight=float(fairness_weight) if fairness_weight.strip() else 0.5,
                max_gini=float(max_gini) if max_gini.strip() else None)
        except (EquicareError, ValueError) as exc:
            return page(request, "_error_fragment.html", status=422, message=str(exc))
        rows = table[(table["need"] > 0)].sort_values("change").to_dict(orient="records")
        return page(request, "_project_whatif.html", base=base, s=summary, rows=rows,
                    n_changed=int((table["change"].abs() > 0).sum()))

    @app.get("/projects/runs/{run_id}/report", include_in_schema=False)
    def project_report(run_id: str, user: User = Depends(user_dep)):
        info = h["run_for"](user, run_id)
        pid = info["params"].get("project_id")
        if info["kind"] != "project" or not pid:
            raise HTTPException(404, "no report for this run")
        path = _project_dir(st, user.org, pid) / "out" / "report.html"
        if not path.is_file():
            raise HTTPException(404, "the report is not written yet")
        return FileResponse(path, media_type="text/html")

    @app.get("/projects/new", include_in_schema=False)
    def projects_new():
        return RedirectResponse("/projects", status_code=303)


def _forecast_summary(fc: pd.DataFrame) -> pd.DataFrame:
    """Median and 90% interval of the forecast at each horizon, per region (first 40 regions)."""
    fc = fc.assign(q=pd.to_numeric(fc["output_type_id"]).round(3), location=fc["location"].astype(str))
    w = fc[fc["q"].isin([0.05, 0.5, 0.95])].pivot_table(index=["location", "target_end_date"], columns="q",
                                                         values="value").reset_index()
    w.columns = ["region", "week ending", "5% quantile", "median", "95% quantile"][: len(w.columns)]
    return w.head(160)
