"""Dashboard pages for a planner's own project: upload the project file and its inputs, set the scenario,
run every stage, and see the map of their regions, the forecast, the allocation with explanations, and the report.

The upload is read in memory while it streams (:mod:`equicare.service.uploads`: 413 past the byte limit, no
temporary file), then its files are kept under ``<store folder>/projects/<org>/<project id>/`` (file names
reduced to their base name, used only inside that folder; a refused upload leaves nothing). The project is
validated exactly as ``equicare run --check`` does, and run by :func:`equicare.project.run_project`, both in the
service's worker processes (:mod:`equicare.service.project_jobs`); the run page shows its progress, then its
results or its error. Its maps and tables are drawn in a worker (:mod:`equicare.service.project_pages`), and a
what-if on a finished run's allocation is solved in a worker process too.
"""

# ruff: noqa: B008  (FastAPI declares dependencies, forms and files as parameter defaults)

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from equicare import params
from equicare.errors import EquicareError, ValidationError
from equicare.service.accounts import User
from equicare.service.jobs import Busy, WorkerCrashed
from equicare.service.project_jobs import check_job, confine, read_progress, start_project_run, whatif_job
from equicare.service.project_pages import PAGE_TABLES, ProjectPage, page_job, read_page

__all__ = ["SCENARIO_FIELDS", "confine", "register", "safe_name", "scenario_overrides", "upload_names",
           "worker_progress"]

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


def upload_names(names: list[str]) -> list[str]:
    """The uploaded files' safe names (:func:`safe_name`), in order.

    Raises
    ------
    EquicareError
        Two files with the same name, or a file named ``out`` (the run's output folder).
    """
    out = [safe_name(n) for n in names]
    seen: set[str] = set()
    for n in out:
        if n.lower() in seen:
            raise EquicareError(f"two uploaded files are called {n!r}; give each file its own name")
        if n.lower() == "out":
            raise EquicareError("an uploaded file may not be called 'out' (the run writes its results there)")
        seen.add(n.lower())
    return out


def _project_dir(store, org: str, pid: str) -> Path:
    base = Path(store.path).resolve().parent if store.path != ":memory:" else Path.cwd()
    if not re.fullmatch(r"[0-9a-f]{12}", pid):
        raise HTTPException(404, "no such project")
    return base / "projects" / safe_name(org) / pid


def worker_progress(store, info: dict) -> dict | None:
    """The worker's last progress report (``stage``, ``done``, ``total``) of a running project run, else None."""
    pid = (info.get("params") or {}).get("project_id")
    if info.get("kind") != "project" or info.get("status") != "running" or not pid:
        return None
    try:
        return read_progress(_project_dir(store, str(info["org"]), str(pid)))
    except HTTPException:
        return None


def register(app: FastAPI) -> None:
    """Add the project pages to ``app`` (built by :func:`equicare.service.app.create_app`)."""
    st = app.state.store
    templates = app.state.templates
    role, user_dep, h = app.state.role, app.state.user_dep, app.state.helpers
    jobs = app.state.jobs

    def page(request: Request, name: str, status: int = 200, headers: dict | None = None, **ctx) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"user": request.state.user,
                                                          "csrf_token": request.state.csrf_token,
                                                          "csp_nonce": request.state.csp_nonce, **ctx},
                                          status_code=status, headers=headers)

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
        from equicare.service.region_lists import lists_from

        return page(request, "projects.html", runs=project_runs(user.org), defaults=AllocateSpec(),
                    models=list(MODELS), objectives=OBJECTIVES, error=None, region_lists=lists_from(st, user.org),
                    hospital_share=params.HOSPITAL_SHARE.default)

    @app.post("/ui/projects", include_in_schema=False)
    async def project_upload(request: Request, user: User = Depends(role("planner"))):
        """Upload a project (multipart ``files``: the YAML and its inputs, ``project_file``, scenario fields);
        validated and run in worker processes. The body is read in memory while it streams (413 past the
        limit, nothing written); the files are written only once the whole upload is in."""
        form = await h["get_upload_form"](request)
        request.state.audit_detail = {"files": [n[:120] for n, _ in form.files[:20]],
                                      "bytes": sum(len(d) for _, d in form.files)}
        try:
            names = upload_names([n for n, _ in form.files])
            overrides = scenario_overrides(form.fields)
        except EquicareError as exc:
            return page(request, "error.html", status=422, status_code=422, message=str(exc))
        yamls = [n for n in names if n.lower().endswith((".yaml", ".yml"))]
        wanted = str(form.fields.get("project_file") or "").strip()
        chosen = safe_name(wanted) if wanted else (yamls[0] if len(yamls) == 1 else None)
        request.state.audit_detail["project"] = chosen
        if chosen is None or chosen not in names:
            return page(request, "error.html", status=422, status_code=422,
                        message="upload one project file (.yaml) with its inputs, or name it in 'project file'")
        pid = uuid.uuid4().hex[:12]
        folder = _project_dir(st, user.org, pid)
        await run_in_threadpool(_write_files, folder, list(zip(names, (d for _, d in form.files))))
        path = folder / chosen
        try:  # the project file and every input are read and checked in a worker, never here
            checked = await jobs.run(h["who"](user), check_job, str(path), str(folder))
            request.state.audit_detail["worker_pid"] = checked.worker_pid  # the worker process that checked it
            run_id = start_project_run(st, jobs, h["who"](user), path=path, folder=folder, project_name=checked.name,
                                       overrides=overrides, org=user.org, user=user.name, project_id=pid)
        except (Busy, WorkerCrashed) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            status = exc.status if isinstance(exc, Busy) else 503
            return page(request, "error.html", status=status, status_code=status, message=str(exc),
                        headers={"Retry-After": str(jobs.settings.retry_after)})
        except ValidationError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return page(request, "upload_rejected.html", status=422, error=exc.to_dict(), filename=chosen)
        except EquicareError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return page(request, "error.html", status=422, status_code=422, message=str(exc))
        except BaseException:  # an unexpected fault (answered 500 and logged): the upload leaves nothing either
            shutil.rmtree(folder, ignore_errors=True)
            raise
        request.state.audit_target = f"run:{run_id}"
        return RedirectResponse(f"/projects/runs/{run_id}", status_code=303)

    drawn = app.state.drawn  # a DrawnCache (equicare.service.drawn)

    async def drawn_page(user: User, info: dict) -> ProjectPage:
        """The run page's maps and tables: drawn by the run's worker, else in a worker now (kept in memory)."""
        run_id = str(info["id"])
        folder = _project_dir(st, str(info["org"]), str(info["params"].get("project_id") or "0" * 12))
        done = drawn.get(run_id) or await run_in_threadpool(read_page, folder, run_id)
        if done is None:
            names = await run_in_threadpool(st.result_names, run_id)
            tables = await run_in_threadpool(lambda: {n: st.get_result(run_id, n) for n in PAGE_TABLES if n in names})
            done = await jobs.run(h["who"](user), page_job, tables)
        drawn.put(run_id, done, done.size())
        return done

    @app.get("/projects/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    async def project_run_page(request: Request, run_id: str, user: User = Depends(user_dep)):
        """A project run: its progress, its error, or its results -- the maps and tables drawn in a worker."""
        info = await run_in_threadpool(h["run_for"], user, run_id)
        if info["kind"] != "project":
            raise HTTPException(404, f"run {run_id} is not a project run")
        ctx: dict = {"run": info, "maps": [], "allocation": None, "forecast": None, "scores": None,
                     "s": info.get("summary") or {}}
        ctx["progress"] = await run_in_threadpool(worker_progress, st, info)
        names = await run_in_threadpool(st.result_names, run_id) if info["status"] == "succeeded" else []
        if names:
            try:
                drawn_parts = await drawn_page(user, info)
            except (Busy, WorkerCrashed) as exc:
                status = exc.status if isinstance(exc, Busy) else 503
                return page(request, "error.html", status=status, status_code=status, message=str(exc),
                            headers={"Retry-After": str(jobs.settings.retry_after)})
            ctx.update(maps=drawn_parts.maps, allocation=drawn_parts.allocation, forecast=drawn_parts.forecast,
                       scores=drawn_parts.scores)
        ctx["results"] = [n for n in names if n != "region_shapes"]

        def sharing_ctx() -> dict:
            from equicare.service import accounts
            from equicare.service.region_lists import lists_from, suggest_list_name

            return {"declared": [x for x in lists_from(st, user.org) if x["run_id"] == run_id],
                    "can_declare": accounts.has_role(user, "admin"),
                    "list_name": suggest_list_name(info["params"].get("project"))}

        ctx.update(await run_in_threadpool(sharing_ctx))
        from equicare.optimize import OBJECTIVES

        return page(request, "project_run.html", objectives=OBJECTIVES, **ctx)

    @app.post("/ui/projects/runs/{run_id}/whatif", response_class=HTMLResponse, include_in_schema=False)
    async def project_whatif(request: Request, run_id: str, stock: str = Form(""), objective: str = Form("leximin"),
                             fairness_weight: str = Form(""), max_gini: str = Form(""),
                             user: User = Depends(role("planner"))):
        """Re-share the run's allocation under another stock or rule; the model is solved in a worker process."""
        info = await run_in_threadpool(h["run_for"], user, run_id)
        if info["kind"] != "project" or "allocation" not in await run_in_threadpool(st.result_names, run_id):
            raise HTTPException(404, "this run has no allocation")
        base = info.get("summary") or {}
        try:
            args = (float(stock) if stock.strip() else float(base["stockpile"]), objective or "leximin",
                    float(fairness_weight) if fairness_weight.strip() else 0.5,
                    float(max_gini) if max_gini.strip() else None)
            allocation = await run_in_threadpool(st.get_result, run_id, "allocation")
            table, summary = await jobs.run(h["who"](user), whatif_job, allocation, *args)
        except (Busy, WorkerCrashed) as exc:
            status = exc.status if isinstance(exc, Busy) else 503
            return page(request, "_error_fragment.html", status=status, message=str(exc),
                        headers={"Retry-After": str(jobs.settings.retry_after)})
        except (EquicareError, ValueError) as exc:
            return page(request, "_error_fragment.html", status=422, message=str(exc))
        rows = table[(table["need"] > 0)].sort_values("change").to_dict(orient="records")
        return page(request, "_project_whatif.html", base=base, s=summary, rows=rows,
                    n_changed=int((table["change"].abs() > 0).sum()))

    @app.post("/ui/projects/runs/{run_id}/region-list", include_in_schema=False)
    def project_region_list(request: Request, run_id: str, name: str = Form(""),
                            user: User = Depends(role("admin"))):
        """Declare the run's regions the organisation's public region list for sharing (admins only)."""
        from equicare.service.region_lists import declare_project_regions

        h["run_for"](user, run_id)
        request.state.audit_target = f"region-list:{name[:64]}"
        request.state.audit_detail = {"run": run_id[:40]}
        try:
            declare_project_regions(st, name, run_id, org=user.org, user=user.name)
        except EquicareError as exc:
            return page(request, "error.html", status=422, status_code=422, message=str(exc))
        return RedirectResponse(f"/projects/runs/{run_id}#sharing", status_code=303)

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


def _write_files(folder: Path, files: list[tuple[str, bytes]]) -> None:
    """Write the uploaded files (safe base names) into the project's own new folder."""
    folder.mkdir(parents=True, exist_ok=False)
    for name, data in files:
        (folder / name).write_bytes(data)
