"""The equicare web service: a JSON API for analysts and server-rendered pages for planners.

``create_app(store_path)`` builds a FastAPI application on the same DuckDB store as the CLI. The service
process is the store's one writer (DuckDB locks the file); inside it one connection is shared by all
requests behind the store's lock. Heavy work -- checking uploads, scenario runs, what-ifs, pooling,
suppressed downloads -- runs in a bounded pool of worker processes (:mod:`equicare.service.jobs`); a full
pool answers 429/503 with Retry-After. At start-up, runs left ``running`` by a crash are marked failed.

Access rules
------------
Every route except ``/health``, ``/docs``, ``/openapi.json``, ``/static/*`` and ``/login`` needs an API
token (``Authorization: Bearer <token>`` or ``X-API-Token``) or the session cookie set at sign-in:
401 without one (429 after too many failed tokens, :class:`equicare.service.accounts.AuthLimits`), 403
when the role does not allow the request, and 404 -- the same answer as for a missing one -- for a
dataset or run of another organisation. Users see their organisation's datasets and runs, plus
aggregates other organisations shared with them. Cookie-authenticated writes need the session's CSRF
token and the service's own origin (:mod:`equicare.service.security`); every answer carries the
security headers. Every write attempt (POST/PUT/PATCH/DELETE) is recorded in the audit log with who,
what, when and the answer's status, 500s included. Request bodies are bounded while they stream
(:mod:`equicare.service.uploads`); uploads are received in memory, never on disk, then parsed and
validated in a worker process by :func:`equicare.data.load_table` exactly as ``equicare load`` does
(:mod:`equicare.service.dataset_uploads`); a file name is only ever a label. CSV downloads of tables with
person counts apply small-cell suppression (:func:`equicare.service.exports.suppressed_table`) and neutralise
spreadsheet formulas (:func:`equicare.service.csvsafe.neutralise_formulas`); a large table is suppressed and
written out in a worker process (:data:`INLINE_ROWS`).
"""

# ruff: noqa: B008  (FastAPI declares dependencies, forms and files as parameter defaults)

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from equicare import __version__
from equicare.data.load import ReadLimits
from equicare.errors import EquicareError
from equicare.jsonsafe import jsonable
from equicare.service import accounts, audit, security, sharing
from equicare.service.accounts import AuthLimits, TooManyAttempts, User
from equicare.service.api_models import MAX_ID, RunRequest, SweepBody, UserRequest, records, records_json
from equicare.service.dataset_uploads import UPLOAD_KINDS, StoredUpload, label_of, upload_dataset
from equicare.service.drawn import DrawnCache
from equicare.service.exports import csv_text, download_cells, download_inputs, record_download, result_download
from equicare.service.jobs import Busy, JobPool, PoolSettings, WorkerCrashed
from equicare.service.uploads import BodyLimit, UploadForm, read_upload_form
from equicare.store import Store

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "SESSION_COOKIE", "create_app"]

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
SESSION_COOKIE = "equicare_session"
UPLOAD_PATHS = ("/api/datasets", "/ui/upload", "/ui/projects")
MAX_PROJECT_FILES = 32
"""Files one project upload may hold (the project file, its inputs, a shapefile's parts)."""
UPLOAD_FILES = {"/ui/projects": ("files", MAX_PROJECT_FILES)}
"""Upload paths whose form holds several files: path -> (file field, most files); others hold one ``file``."""
INLINE_ROWS = 20_000
"""Tables of at most this many rows are suppressed and written as CSV or JSON for a download on a thread of the web
process (milliseconds); larger ones in a worker process."""
MAX_PENDING_UPLOADS = 4
"""Uploads being received or validated at once (each holds its bytes in memory); more get 503."""
_PUBLIC = ("/health", "/docs", "/openapi.json", "/static/", "/login", "/favicon.ico", "/docs/oauth2-redirect")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_log = logging.getLogger("equicare.service")

_clean = jsonable  # the package's one JSON sanitiser (equicare.jsonsafe)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or bool(request.headers.get("hx-request"))


def create_app(store_path: str | Path = "equicare-out/equicare.duckdb", *,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, store: Store | None = None,
               workers: PoolSettings | None = None, trusted_proxies: Iterable[str] = (),
               auth_limits: AuthLimits | None = None, read_limits: ReadLimits | None = None,
               dask_scheduler: str | None = None) -> FastAPI:
    """Build the service on ``store_path`` (or an open ``store``).

    Parameters
    ----------
    store_path : path of the DuckDB store (created if missing).
    max_upload_bytes : largest accepted upload; larger ones get 413 (while the body streams) and store nothing.
    store : an already open store (tests); ``store_path`` is then ignored.
    workers : size and limits of the worker-process pool for heavy jobs (:mod:`equicare.service.jobs`).
    trusted_proxies : client addresses whose ``X-Forwarded-Proto`` is believed (the session cookie is
        ``Secure`` when it says ``https``).
    auth_limits : failed token checks allowed per account and per address (default 10 and 30 a minute).
    read_limits : rows and decompressed bytes allowed in an upload (default 1,000,000 rows, 256 MB).
    dask_scheduler : address of a Dask scheduler that sweeps are handed to (default: the environment variable
        ``EQUICARE_DASK_SCHEDULER``; none: a sweep's points are solved one by one in a pool worker).
    """
    from equicare.service import privacy_api, projects_ui, sweeps_ui, ui

    st = store or Store(store_path)
    for mod in (accounts, audit, sharing):
        mod.ensure_schema(st)
    interrupted = st.fail_interrupted_runs(
        "interrupted: the service stopped while this run was in progress (no results were kept); start it again")
    if interrupted:
        _log.warning("marked %d interrupted run(s) failed: %s", len(interrupted), ", ".join(interrupted))
    jobs = JobPool(workers)
    limits = auth_limits or AuthLimits()
    trusted = frozenset(trusted_proxies)
    read_lim = read_limits or ReadLimits()
    auth_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="equicare-auth")

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if jobs.settings.prestart:
            jobs.prestart()
        yield
        await asyncio.get_running_loop().run_in_executor(None, jobs.shutdown)
        auth_pool.shutdown(wait=False)

    app = FastAPI(title="equicare", version=__version__,
                  description="Fair sharing of scarce health-care resources: data, scenarios, privacy-protected "
                              "sharing. Authenticate with `Authorization: Bearer <token>`.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.store = st
    app.state.jobs = jobs
    app.state.max_upload_bytes = int(max_upload_bytes)
    from equicare.service.sweeps import configured_scheduler

    app.state.dask_scheduler = configured_scheduler(dask_scheduler)
    app.state.interrupted_runs = interrupted
    app.state.auth_limits = limits
    app.state.drawn = DrawnCache()  # maps and tables a worker drew from finished runs
    static_dir = Path(str(files("equicare.service").joinpath("static")))
    templates = Jinja2Templates(directory=str(files("equicare.service").joinpath("templates")))
    app.state.templates = templates

    # every body is bounded while it streams (added first: it runs inside the guard, which audits its 413s)
    app.add_middleware(BodyLimit, upload_paths=UPLOAD_PATHS, upload_limit=lambda: app.state.max_upload_bytes,
                       max_uploads=MAX_PENDING_UPLOADS, retry_after=jobs.settings.retry_after)

    # -- authentication, CSRF, headers, audit ---------------------------------------------------------
    def resolve_user(request: Request) -> tuple[User | None, str | None, str | None]:
        """(user, how: token/session, session id); runs on the auth threads, never on the event loop."""
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-token")
        if token:
            address = request.client.host if request.client else None
            try:
                user = accounts.authenticate_token(st, token, limits=limits, address=address)
            except TooManyAttempts:
                request.state.audit_owner = accounts.token_account(st, token)
                raise
            if user is None:  # a failed attempt on a real account goes to that organisation's audit log
                request.state.audit_owner = accounts.token_account(st, token)
            return user, "token", None
        sid = request.cookies.get(SESSION_COOKIE)
        user = accounts.session_user(st, sid)
        return user, ("session" if user else None), (sid if user else None)

    def refusal(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
        if _wants_json(request) or request.method not in _SAFE_METHODS:
            name = {401: "Unauthorized", 403: "Forbidden", 429: "TooManyRequests"}.get(status, "Error")
            return JSONResponse({"error": name, "message": message}, status_code=status, headers=headers)
        return templates.TemplateResponse(request, "error.html", {"user": None, "status_code": status,
                                                                  "message": message, "csrf_token": None},
                                          status_code=status, headers=headers)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        path = request.url.path
        https = security.is_https(request, trusted)
        nonce = security.new_nonce()
        request.state.csp_nonce, request.state.https = nonce, https
        request.state.user, request.state.auth, request.state.session_id = None, None, None
        request.state.csrf_token, request.state.csrf_checked = None, False
        unsafe = request.method not in _SAFE_METHODS
        public = any(path == p or (p.endswith("/") and path.startswith(p)) for p in _PUBLIC)
        resp: Response | None = None
        try:
            sent = security.sent_origin(request) if unsafe else None
            if sent is not None and sent != security.own_origin(request, https):
                resp = refusal(request, 403, "cross-origin request refused: the form must be sent from this "
                                             "service's own pages")
            if resp is None and not public:
                try:
                    user, how, sid = await asyncio.get_running_loop().run_in_executor(auth_pool, resolve_user,
                                                                                      request)
                except TooManyAttempts as exc:
                    user, how, sid = None, None, None
                    resp = refusal(request, 429, str(exc), {"Retry-After": str(exc.retry_after)})
                request.state.user, request.state.auth, request.state.session_id = user, how, sid
                if how == "session":
                    request.state.csrf_token = security.csrf_token(sid)
                    sent_token = request.headers.get(security.CSRF_HEADER)
                    if unsafe and sent_token is not None:
                        if not security.csrf_ok(sid, sent_token):
                            resp = refusal(request, 403, "wrong CSRF token: reload the page and try again")
                        request.state.csrf_checked = True
                if resp is None and user is None:
                    if _wants_json(request):
                        resp = JSONResponse({"error": "Unauthorized", "message": "sign in or send an API token"},
                                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
                    else:
                        resp = templates.TemplateResponse(request, "unauthorized.html", {"user": None},
                                                          status_code=401)
            if resp is None:
                resp = await call_next(request)
        except Exception as exc:  # noqa: BLE001 - an unexpected fault: logged, audited, answered 500
            _log.exception("unhandled error in %s %s", request.method, path)
            request.state.audit_detail = {**(getattr(request.state, "audit_detail", None) or {}),
                                          "exception": type(exc).__name__}
            resp = JSONResponse({"error": "InternalError", "message": "internal error; it was logged"},
                                status_code=500)
        finally:
            status = resp.status_code if resp is not None else 500
            owner = getattr(request.state, "audit_owner", None)  # the account a failed sign-in was aimed at
            if unsafe or (owner is not None and status in (401, 429)):
                u = getattr(request.state, "user", None) or getattr(request.state, "login_user", None)
                org = u.org if u else (owner.org if owner else None)
                detail = getattr(request.state, "audit_detail", None)
                if u is None and owner is not None:
                    detail = {**(detail or {}), "ok": False, "account": owner.name}
                try:
                    await asyncio.get_running_loop().run_in_executor(
                        auth_pool, lambda: audit.record(
                            st, f"{request.method} {path}", user=u.name if u else None, org=org,
                            target=getattr(request.state, "audit_target", None), status=status, detail=detail))
                except Exception:  # noqa: BLE001 - never lose the answer because the log failed
                    _log.exception("could not write the audit entry for %s %s", request.method, path)
        security.security_headers(resp, nonce, https)
        return resp

    def user_dep(request: Request) -> User:
        user = request.state.user
        if user is None:  # pragma: no cover - the middleware answers first
            raise HTTPException(401, "sign in or send an API token")
        return user

    async def get_upload_form(request: Request) -> UploadForm:
        """The multipart upload of ``request``, read once while it streams (cached on the request)."""
        form = getattr(request.state, "upload_form", None)
        if form is None:
            field, most = UPLOAD_FILES.get(request.url.path, ("file", 1))
            form = await read_upload_form(request, app.state.max_upload_bytes, field, most)
            request.state.upload_form = form
        return form

    async def require_csrf(request: Request) -> None:
        """A cookie-authenticated write must carry the session's CSRF token (header or form field)."""
        if request.method in _SAFE_METHODS or request.state.auth != "session" or request.state.csrf_checked:
            return
        ctype = request.headers.get("content-type", "").lower()
        sent = None
        if ctype.startswith("multipart/form-data"):
            try:
                sent = (await get_upload_form(request)).fields.get(security.CSRF_FIELD)
            except RuntimeError:  # a route with File/Form parameters: FastAPI parsed (and cached) the form first
                sent = (await request.form()).get(security.CSRF_FIELD)
        elif ctype.startswith("application/x-www-form-urlencoded"):
            sent = (await request.form()).get(security.CSRF_FIELD)
        if not security.csrf_ok(request.state.session_id, sent if isinstance(sent, str) else None):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
        request.state.csrf_checked = True

    def role(min_role: str):
        async def dep(request: Request, user: User = Depends(user_dep)) -> User:
            if not accounts.has_role(user, min_role):
                raise HTTPException(403, f"this needs the {min_role} role; you are a {user.role}")
            await require_csrf(request)
            return user
        return dep

    app.state.role = role
    app.state.user_dep = user_dep

    @app.exception_handler(EquicareError)
    async def equicare_error(request: Request, exc: EquicareError):
        return JSONResponse(_clean(exc.to_dict()), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError):
        """422 naming each bad parameter (values that JSON cannot carry, like Infinity, shown as null)."""
        errors = _clean(jsonable_encoder(exc.errors(), custom_encoder={float: lambda x: x}))
        names = [".".join(str(p) for p in e.get("loc", ())[1:] or e.get("loc", ())) for e in errors]
        return JSONResponse({"error": "RequestValidationError",
                             "message": "invalid parameter(s): " + ", ".join(dict.fromkeys(n for n in names if n)),
                             "detail": errors}, status_code=422)

    @app.exception_handler(Busy)
    async def busy_error(request: Request, exc: Busy):
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(WorkerCrashed)
    async def crashed_error(request: Request, exc: WorkerCrashed):
        return JSONResponse({"error": "WorkerCrashed", "message": str(exc)}, status_code=503,
                            headers={"Retry-After": str(jobs.settings.retry_after)})

    # -- helpers shared by the API and the pages ------------------------------------------------------
    def dataset_for(user: User, dataset_id: int) -> dict:
        """The dataset if ``user`` may see it; otherwise 404 -- the same answer whether it exists elsewhere or not."""
        missing = HTTPException(404, f"no dataset with id {dataset_id}")
        if not isinstance(dataset_id, int) or not 1 <= dataset_id <= MAX_ID:
            raise missing
        try:
            info = st.dataset_info(dataset_id)
        except EquicareError:
            raise missing from None
        if info["org"] != user.org and int(dataset_id) not in sharing.shared_with(st, user.org):
            raise missing
        return info

    def run_for(user: User, run_id: str) -> dict:
        missing = HTTPException(404, f"no run with id {str(run_id)[:40]!r}")
        try:
            info = st.get_run(run_id)
        except EquicareError:
            raise missing from None
        if info["org"] != user.org:
            raise missing
        return info

    async def upload_off_loop(user: User, form: UploadForm, kind: str, name: str | None) -> StoredUpload:
        """Check an upload in a worker process, then store it from a thread (:mod:`equicare.service.dataset_uploads`;
        ``BodyLimit`` bounds how many are received or checked at once, the pool how many are checked)."""
        counts = form.fields.get("count_columns")
        declared = None if counts is None else [c for c in counts.split(",") if c.strip()]
        return await upload_dataset(st, jobs, who(user), form.data, kind, name, form.filename, org=user.org,
                                    user=user.name, limits=read_lim, count_columns=declared)

    def pool_snapshot(user: User, ids: list[int]) -> dict:
        """Catalog entries and rows of the aggregates ``user`` may pool, and the declared public region lists
        (their names, owners and regions), for a worker process."""
        from equicare.service.region_lists import ensure_schema

        datasets = [(dataset_for(user, int(ds)), st.get_dataset(int(ds))) for ds in dict.fromkeys(ids)]
        ensure_schema(st)
        lists = [(r.name, r.org, st.dataset_info(int(r.dataset_id)), st.get_dataset(int(r.dataset_id)))
                 for r in st.query("SELECT name, org, dataset_id FROM region_lists").itertuples()]
        return {"datasets": datasets, "region_lists": lists}

    def who(user: User) -> str:
        return f"{user.org}/{user.name}"

    async def off_loop(user: User, rows: int, fn, *args):
        """``fn(*args)`` for a table of ``rows`` rows leaving the service: on a thread when it is small (at most
        :data:`INLINE_ROWS`), else in a worker process (429/503 when the pool is full)."""
        if rows <= INLINE_ROWS:
            return await run_in_threadpool(fn, *args)
        return await jobs.run(who(user), fn, *args)

    async def export_off_loop(user: User, dataset_id: int) -> tuple[dict, Any, dict]:
        """A dataset as it may leave the service (``dataset_for`` checks access): the store is read and written on
        a thread, the suppression and the check against earlier outputs run in a worker process."""
        info = await run_in_threadpool(dataset_for, user, dataset_id)
        inputs = await run_in_threadpool(download_inputs, st, dataset_id)
        if not inputs.columns:
            return info, inputs.table, {"columns": [], "n_primary": 0, "n_complementary": 0}
        cells = await jobs.run(who(user), download_cells, inputs)
        table, rep = await run_in_threadpool(record_download, st, cells)
        return info, table, rep

    app.state.helpers = {"dataset_for": dataset_for, "run_for": run_for, "upload_off_loop": upload_off_loop,
                         "get_upload_form": get_upload_form, "require_csrf": require_csrf,
                         "pool_snapshot": pool_snapshot, "who": who, "jobs": jobs, "refusal": refusal,
                         "export_off_loop": export_off_loop}

    # -- public routes --------------------------------------------------------------------------------
    @app.get("/health", tags=["service"])
    async def health() -> dict:
        return {"status": "ok", "version": __version__}

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        import plotly

        return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                            media_type="application/javascript")

    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        page = get_swagger_ui_html(openapi_url="/openapi.json", title="equicare API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css", swagger_favicon_url="")
        return HTMLResponse(security.add_nonce(page.body.decode(), request.state.csp_nonce))

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
        accounts.set_active(st, name, False, org=user.org)
        return {"name": name, "active": False}

    @app.get("/api/datasets", tags=["data"])
    def datasets_list(user: User = Depends(user_dep)) -> list[dict]:
        return records(sharing.visible_datasets(st, user.org))

    upload_body = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "kind"],
        "properties": {"file": {"type": "string", "format": "binary"},
                       "kind": {"type": "string", "enum": list(UPLOAD_KINDS)}, "name": {"type": "string"},
                       "count_columns": {"type": "string", "description": "comma-separated columns that count "
                                                                           "people (suppressed in every export)"}}}}}}}

    @app.post("/api/datasets", tags=["data"], status_code=201, openapi_extra=upload_body)
    async def datasets_upload(request: Request, user: User = Depends(role("planner"))):
        """Upload a table (multipart: ``file``, ``kind``, optional ``name``, ``count_columns``); validated, then stored.

        The body is read in memory while it streams (413 as soon as it passes the byte limit), never
        written to disk; it is parsed and checked in a worker process (429/503 when the pool is full).
        """
        form = await get_upload_form(request)
        kind, name = form.fields.get("kind", ""), form.fields.get("name") or None
        request.state.audit_detail = {"kind": kind[:32], "file": label_of(form.filename),
                                      "bytes": len(form.data)}
        stored = await upload_off_loop(user, form, kind, name)
        request.state.audit_target = f"dataset:{stored.id}"
        request.state.audit_detail["worker_pid"] = stored.worker_pid  # the process that checked it
        return JSONResponse(_clean({"id": stored.id, "kind": kind, "report": stored.report}), status_code=201)

    @app.get("/api/datasets/{dataset_id}", tags=["data"])
    def dataset_get(dataset_id: int, user: User = Depends(user_dep)) -> dict:
        return _clean(dataset_for(user, dataset_id))

    @app.get("/api/datasets/{dataset_id}/rows", tags=["data"], response_model=list[dict])
    async def dataset_rows(dataset_id: int, limit: int = Query(100, ge=1, le=100_000),
                           user: User = Depends(user_dep)) -> Response:
        """Rows as they may leave the service (person counts suppressed in a worker process; 429/503 when busy)."""
        _, df, _ = await export_off_loop(user, dataset_id)
        df = df.head(max(0, min(limit, 10_000)))
        return Response(await off_loop(user, len(df), records_json, df), media_type="application/json")

    @app.get("/api/datasets/{dataset_id}/csv", tags=["data"])
    async def dataset_csv(dataset_id: int, user: User = Depends(user_dep)) -> Response:
        """The dataset as CSV, person counts suppressed in a worker process (429/503 when busy)."""
        info, df, _ = await export_off_loop(user, dataset_id)
        return _csv_response(await off_loop(user, len(df), csv_text, df), f"dataset-{int(info['id'])}.csv")

    @app.post("/api/runs", tags=["runs"], status_code=202)
    def runs_start(req: RunRequest, request: Request, user: User = Depends(role("planner"))) -> dict:
        """Queue a run for the worker pool (429/503 with Retry-After when it is full); poll it."""
        from equicare.service.scenarios import start_run

        request.state.audit_detail = {"kind": req.kind[:32], "params": req.params}
        run_id = start_run(st, req.kind, req.params, org=user.org, user=user.name, pool=jobs)
        request.state.audit_target = f"run:{run_id}"
        return {"id": run_id, "status": "running", "poll": f"/api/runs/{run_id}"}

    @app.post("/api/sweeps", tags=["runs"], status_code=202)
    def sweeps_start(req: SweepBody, request: Request, user: User = Depends(role("planner"))) -> dict:
        """Queue a sweep of the surge allocation over a grid of parameters (a run of kind ``sweep``); poll it.

        Its points go to the configured Dask scheduler (or are solved one by one in a pool worker); the run's
        ``sweep`` result has one row per point and ``/sweep`` in the dashboard draws the frontier.
        """
        from equicare.service.sweeps import start_sweep

        request.state.audit_detail = {"grid": req.grid, "base": req.base}
        run_id = start_sweep(st, req.model_dump(), org=user.org, user=user.name, pool=jobs,
                             scheduler=app.state.dask_scheduler)
        request.state.audit_target = f"run:{run_id}"
        return {"id": run_id, "status": "running", "poll": f"/api/runs/{run_id}"}

    @app.get("/api/runs", tags=["runs"])
    def runs_list(user: User = Depends(user_dep)) -> list[dict]:
        return records(st.list_runs(org=user.org))

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def run_get(run_id: str, user: User = Depends(user_dep)) -> dict:
        info = run_for(user, run_id)
        info["results"] = st.result_names(run_id)
        if info["kind"] == "project" and info["status"] == "running":
            info["worker_progress"] = projects_ui.worker_progress(st, info)  # stage, done, total
        return _clean(info)

    def result_for(user: User, run_id: str, name: str):
        run_for(user, run_id)
        return st.get_result(run_id, name)

    @app.get("/api/runs/{run_id}/results/{name}", tags=["runs"], response_model=list[dict])
    async def run_result(run_id: str, name: str, limit: int = Query(1000, ge=1, le=1_000_000),
                         user: User = Depends(user_dep)) -> Response:
        """A result's rows, person counts suppressed (in a worker process for a large table; 429/503 when busy)."""
        df = await run_in_threadpool(result_for, user, run_id, name)
        text = await off_loop(user, len(df), result_download, df, partial(records_json, limit=min(limit, 100_000)))
        return Response(text, media_type="application/json")

    @app.get("/api/runs/{run_id}/results/{name}/csv", tags=["runs"])
    async def run_result_csv(run_id: str, name: str, user: User = Depends(user_dep)) -> Response:
        """A result as CSV, person counts suppressed (in a worker process for a large table; 429/503 when busy)."""
        df = await run_in_threadpool(result_for, user, run_id, name)
        safe = "".join(ch for ch in name if ch.isalnum() or ch in "_-")[:64] or "result"
        return _csv_response(await off_loop(user, len(df), result_download, df, csv_text), f"{run_id}-{safe}.csv")

    @app.post("/api/whatif", tags=["runs"])
    async def whatif_api(params: dict[str, Any], user: User = Depends(role("planner"))) -> dict:
        """Re-solve under ``params`` in a worker process and compare with the defaults (429/503 when busy)."""
        from equicare.service.scenarios import parse_params, whatif_job

        p = parse_params(params)
        table, summary, hosp = await jobs.run(who(user), whatif_job, p)
        return _clean({"summary": summary, "regions": records(table),
                       "hospitals": [] if hosp is None else records(hosp)})

    privacy_api.register(app)

    @app.get("/api/audit", tags=["accounts"])
    def audit_api(limit: int = Query(200, ge=1, le=10_000), user: User = Depends(role("admin"))) -> list[dict]:
        return records(audit.audit_log(st, org=user.org, limit=max(1, min(limit, 10_000))))

    ui.register(app)
    projects_ui.register(app)
    sweeps_ui.register(app)
    return app


def _csv_response(text: str, filename: str) -> Response:
    return PlainTextResponse(text, media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
