"""The equicare web service: a JSON API for analysts and server-rendered pages for planners.

``create_app(store_path)`` builds a FastAPI application on the same DuckDB store as the CLI. The service
process is the store's one writer (DuckDB locks the file); inside it one connection is shared by all
requests and background runs behind the store's lock.

Access rules
------------
Every route except ``/health``, ``/docs``, ``/openapi.json``, ``/static/*`` and ``/login`` needs an API
token (``Authorization: Bearer <token>`` or ``X-API-Token``) or the session cookie set at sign-in:
401 without one, 403 when the role (viewer < planner < admin) or the organisation does not allow the
request. Users see their organisation's datasets and runs, plus aggregates other organisations shared
with them. Every write (POST/PUT/PATCH/DELETE) is recorded in the audit log with who, what, when and the
answer's status. Uploads are capped (``max_upload_bytes``), read into memory and validated by
:func:`equicare.data.load_table` exactly as ``equicare load`` does; a file name is only ever a label.
CSV downloads of tables with person counts apply small-cell suppression
(:func:`equicare.service.exports.suppressed_csv`).
"""

# ruff: noqa: B008  (FastAPI declares dependencies, forms and files as parameter defaults)

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from equicare import __version__
from equicare.errors import EquicareError
from equicare.jsonsafe import jsonable
from equicare.service import accounts, audit, sharing
from equicare.service.accounts import User
from equicare.service.exports import suppressed_csv, suppressed_table
from equicare.store import Store

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "SESSION_COOKIE", "create_app"]

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
SESSION_COOKIE = "equicare_session"
UPLOAD_KINDS = ("regions", "facilities", "demand", "costs")
_PUBLIC = ("/health", "/docs", "/openapi.json", "/static/", "/login", "/favicon.ico", "/docs/oauth2-redirect")


class RunRequest(BaseModel):
    """Start a scenario run."""

    kind: str = Field(description="analyse, forecast or allocate")
    params: dict[str, Any] = Field(default_factory=dict, description="see ScenarioParams")


class UserRequest(BaseModel):
    name: str
    role: str = "viewer"


class ReleaseRequest(BaseModel):
    """Release an aggregate of one of your datasets, differentially private or small-cell suppressed."""

    dataset_id: int
    method: str = Field("dp", description="dp or suppress")
    by: str = Field(description="region column")
    statistic: str = Field("count", description="dp: count, sum or mean")
    column: str | None = None
    bounds: tuple[float, float] | None = None
    epsilon: float | None = None
    count_columns: list[str] | None = Field(None, description="suppress: count columns to protect")
    level: str = Field("state", description="public region list: state or county")
    name: str | None = None
    share_with: list[str] = Field(default_factory=list)


class PoolRequest(BaseModel):
    dataset_ids: list[int]
    stockpile: float = 1000.0
    replicates: int = 200
    measure: str = Field("need", description="need (e.g. admissions) or supply (e.g. beds)")


def _records(df: pd.DataFrame, limit: int | None = None) -> list[dict]:
    if limit is not None:
        df = df.head(limit)
    return json.loads(df.to_json(orient="records", date_format="iso", default_handler=str))


_clean = jsonable  # the package's one JSON sanitiser (equicare.jsonsafe)


def create_app(store_path: str | Path = "equicare-out/equicare.duckdb", *,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, store: Store | None = None) -> FastAPI:
    """Build the service on ``store_path`` (or an open ``store``).

    Parameters
    ----------
    store_path : path of the DuckDB store (created if missing).
    max_upload_bytes : largest accepted upload; larger ones get 413 and store nothing.
    store : an already open store (tests); ``store_path`` is then ignored.
    """
    from equicare.service import ui

    st = store or Store(store_path)
    for mod in (accounts, audit, sharing):
        mod.ensure_schema(st)
    app = FastAPI(title="equicare", version=__version__,
                  description="Fair sharing of scarce health-care resources: data, scenarios, privacy-protected "
                              "sharing. Authenticate with `Authorization: Bearer <token>`.",
                  docs_url=None, redoc_url=None)
    app.state.store = st
    app.state.max_upload_bytes = int(max_upload_bytes)
    static_dir = Path(str(files("equicare.service").joinpath("static")))
    templates = Jinja2Templates(directory=str(files("equicare.service").joinpath("templates")))
    app.state.templates = templates

    # -- authentication, audit ------------------------------------------------------------------------
    def resolve_user(request: Request) -> User | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-token")
        if token:
            return accounts.authenticate_token(st, token)
        return accounts.session_user(st, request.cookies.get(SESSION_COOKIE))

    @app.middleware("http")
    async def guard(request: Request, call_next):
        path = request.url.path
        public = any(path == p or (p.endswith("/") and path.startswith(p)) for p in _PUBLIC)
        user = None if public else resolve_user(request)
        request.state.user = user
        if not public and user is None:
            if path.startswith("/api/") or request.headers.get("hx-request"):
                resp: Response = JSONResponse({"error": "Unauthorized", "message": "sign in or send an API token"},
                                              status_code=401, headers={"WWW-Authenticate": "Bearer"})
            else:
                resp = templates.TemplateResponse(request, "unauthorized.html", {"user": None}, status_code=401)
        else:
            resp = await call_next(request)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            u = getattr(request.state, "user", None) or getattr(request.state, "login_user", None)
            audit.record(st, f"{request.method} {path}", user=u.name if u else None, org=u.org if u else None,
                         target=getattr(request.state, "audit_target", None), status=resp.status_code,
                         detail=getattr(request.state, "audit_detail", None))
        return resp

    def user_dep(request: Request) -> User:
        user = request.state.user
        if user is None:  # pragma: no cover - the middleware answers first
            raise HTTPException(401, "sign in or send an API token")
        return user

    def role(min_role: str):
        def dep(user: User = Depends(user_dep)) -> User:
            if not accounts.has_role(user, min_role):
                raise HTTPException(403, f"this needs the {min_role} role; you are a {user.role}")
            return user
        return dep

    app.state.role = role
    app.state.user_dep = user_dep

    @app.exception_handler(EquicareError)
    async def equicare_error(request: Request, exc: EquicareError):
        return JSONResponse(_clean(exc.to_dict()), status_code=422)

    # -- helpers shared by the API and the pages ------------------------------------------------------
    def dataset_for(user: User, dataset_id: int) -> dict:
        try:
            info = st.dataset_info(dataset_id)
        except EquicareError:
            raise HTTPException(404, f"no dataset with id {dataset_id}") from None
        if info["org"] != user.org and int(dataset_id) not in sharing.shared_with(st, user.org):
            raise HTTPException(403, f"dataset {dataset_id} belongs to another organisation")
        return info

    def run_for(user: User, run_id: str) -> dict:
        try:
            info = st.get_run(run_id)
        except EquicareError:
            raise HTTPException(404, f"no run with id {run_id!r}") from None
        if info["org"] != user.org:
            raise HTTPException(403, f"run {run_id} belongs to another organisation")
        return info

    async def read_upload(file: UploadFile) -> bytes:
        limit = app.state.max_upload_bytes
        chunks, size = [], 0
        while True:
            chunk = await file.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"upload larger than the {limit:,}-byte limit; nothing was stored")
            chunks.append(chunk)
        return b"".join(chunks)

    def store_upload(user: User, data: bytes, kind: str, name: str | None, label: str) -> tuple[int, dict]:
        from equicare.data import fingerprint, load_table

        if kind not in UPLOAD_KINDS:
            raise EquicareError(f"kind must be one of {', '.join(UPLOAD_KINDS)}, got {kind!r}")
        label = Path(label or "upload").name[:128] or "upload"  # a label for messages only, never a path
        table, report = load_table(data, kind, name=label)
        ds_name = (name or Path(label).stem or "upload")[:128]
        ds_id = st.save_dataset(ds_name, kind, table, source=f"upload:{label}", fingerprint=fingerprint(data),
                                report=report.to_dict(), org=user.org, created_by=user.name)
        return ds_id, report.to_dict()

    app.state.helpers = {"dataset_for": dataset_for, "run_for": run_for, "read_upload": read_upload,
                         "store_upload": store_upload}

    # -- public routes --------------------------------------------------------------------------------
    @app.get("/health", tags=["service"])
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        import plotly

        return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                            media_type="application/javascript")

    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="equicare API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css", swagger_favicon_url="")

    # -- API ------------------------------------------------------------------------------------------
    @app.get("/api/me", tags=["accounts"])
    def me(user: User = Depends(user_dep)) -> dict:
        return user.to_dict()

    @app.get("/api/users", tags=["accounts"])
    def users_list(user: User = Depends(role("admin"))) -> list[dict]:
        return _clean(accounts.list_users(st, org=user.org))

    @app.post("/api/users", tags=["accounts"], status_code=201)
    def users_add(req: UserRequest, request: Request, user: User = Depends(role("admin"))) -> dict:
        request.state.audit_target = f"user:{req.name}"
        token = accounts.add_user(st, req.name, user.org, req.role, created_by=user.name)
        return {"name": req.name, "org": user.org, "role": req.role, "token": token,
                "note": "the token is shown only now; only a salted hash is kept"}

    @app.delete("/api/users/{name}", tags=["accounts"])
    def users_disable(name: str, request: Request, user: User = Depends(role("admin"))) -> dict:
        request.state.audit_target = f"user:{name}"
        found = [u for u in accounts.list_users(st, org=user.org) if u["name"] == name]
        if not found:
            raise HTTPException(404, f"no user {name!r} in {user.org}")
        if name == user.name:
            raise HTTPException(422, "you cannot disable your own account")
        accounts.set_active(st, name, False)
        return {"name": name, "active": False}

    @app.get("/api/datasets", tags=["data"])
    def datasets_list(user: User = Depends(user_dep)) -> list[dict]:
        return _records(sharing.visible_datasets(st, user.org))

    @app.post("/api/datasets", tags=["data"], status_code=201)
    async def datasets_upload(request: Request, file: UploadFile = File(...), kind: str = Form(...),
                              name: str | None = Form(None), user: User = Depends(role("planner"))):
        data = await read_upload(file)
        request.state.audit_detail = {"kind": kind, "file": Path(file.filename or "upload").name, "bytes": len(data)}
        ds_id, report = store_upload(user, data, kind, name, file.filename or "upload")
        request.state.audit_target = f"dataset:{ds_id}"
        return _clean({"id": ds_id, "kind": kind, "report": report})

    @app.get("/api/datasets/{dataset_id}", tags=["data"])
    def dataset_get(dataset_id: int, user: User = Depends(user_dep)) -> dict:
        return _clean(dataset_for(user, dataset_id))

    @app.get("/api/datasets/{dataset_id}/rows", tags=["data"])
    def dataset_rows(dataset_id: int, limit: int = 100, user: User = Depends(user_dep)) -> list[dict]:
        dataset_for(user, dataset_id)
        df, _ = suppressed_table(st.get_dataset(dataset_id))
        return _records(df, limit=max(0, min(limit, 10_000)))

    @app.get("/api/datasets/{dataset_id}/csv", tags=["data"])
    def dataset_csv(dataset_id: int, user: User = Depends(user_dep)) -> Response:
        info = dataset_for(user, dataset_id)
        return _csv_response(suppressed_csv(st.get_dataset(dataset_id)), f"dataset-{int(info['id'])}.csv")

    @app.post("/api/runs", tags=["runs"], status_code=202)
    def runs_start(req: RunRequest, request: Request, user: User = Depends(role("planner"))) -> dict:
        from equicare.service.scenarios import start_run

        run_id = start_run(st, req.kind, req.params, org=user.org, user=user.name)
        request.state.audit_target = f"run:{run_id}"
        request.state.audit_detail = {"kind": req.kind, "params": req.params}
        return {"id": run_id, "status": "running", "poll": f"/api/runs/{run_id}"}

    @app.get("/api/runs", tags=["runs"])
    def runs_list(user: User = Depends(user_dep)) -> list[dict]:
        return _records(st.list_runs(org=user.org))

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def run_get(run_id: str, user: User = Depends(user_dep)) -> dict:
        info = run_for(user, run_id)
        info["results"] = st.result_names(run_id)
        return _clean(info)

    @app.get("/api/runs/{run_id}/results/{name}", tags=["runs"])
    def run_result(run_id: str, name: str, limit: int = 1000, user: User = Depends(user_dep)) -> list[dict]:
        run_for(user, run_id)
        df, _ = suppressed_table(st.get_result(run_id, name))
        return _records(df, limit=max(0, min(limit, 100_000)))

    @app.get("/api/runs/{run_id}/results/{name}/csv", tags=["runs"])
    def run_result_csv(run_id: str, name: str, user: User = Depends(user_dep)) -> Response:
        run_for(user, run_id)
        safe = "".join(ch for ch in name if ch.isalnum() or ch in "_-")[:64] or "result"
        return _csv_response(suppressed_csv(st.get_result(run_id, name)), f"{run_id}-{safe}.csv")

    @app.post("/api/whatif", tags=["runs"])
    def whatif_api(params: dict[str, Any], user: User = Depends(role("planner"))) -> dict:
        from equicare.service.scenarios import hospitals_table, parse_params, whatif

        p = parse_params(params)
        table, summary = whatif(p)
        hosp = hospitals_table(p)
        return _clean({"summary": summary, "regions": _records(table),
                       "hospitals": [] if hosp is None else _records(hosp)})

    @app.post("/api/releases", tags=["privacy"], status_code=201)
    def release(req: ReleaseRequest, request: Request, user: User = Depends(role("planner"))) -> dict:
        from equicare.service.releases import make_release

        info = dataset_for(user, req.dataset_id)
        if info["org"] != user.org:
            raise HTTPException(403, "only the owning organisation can release aggregates of a dataset")
        out = make_release(st, user, req.model_dump())
        request.state.audit_target = f"dataset:{out['id']}"
        request.state.audit_detail = {"source": req.dataset_id, "method": req.method, "epsilon": req.epsilon,
                                      "share_with": req.share_with}
        return _clean(out)

    @app.get("/api/privacy/ledger", tags=["privacy"])
    def ledger(user: User = Depends(user_dep)) -> list[dict]:
        from equicare.privacy.dp import privacy_ledger

        return _records(privacy_ledger(st, org=user.org))

    @app.post("/api/pool", tags=["privacy"])
    def pool(req: PoolRequest, user: User = Depends(role("planner"))) -> dict:
        from equicare.service.releases import pooled_analysis

        for ds in req.dataset_ids:
            dataset_for(user, ds)
        return _clean(pooled_analysis(st, req.dataset_ids, stockpile=req.stockpile, replicates=req.replicates,
                                      measure=req.measure))

    @app.get("/api/audit", tags=["accounts"])
    def audit_api(limit: int = 200, user: User = Depends(role("admin"))) -> list[dict]:
        return _records(audit.audit_log(st, org=user.org, limit=max(1, min(limit, 10_000))))

    ui.register(app)
    return app


def _csv_response(text: str, filename: str) -> Response:
    return PlainTextResponse(text, media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
