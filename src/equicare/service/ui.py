"""The planner dashboard: server-rendered pages (Jinja2), htmx for partial updates, Plotly for charts.

Everything the pages load is served by the service itself (``/static/htmx.min.js``, ``/static/plotly.min.js``
from the installed plotly package, SVG maps drawn by :func:`equicare.report.maps.svg_choropleth` from
the bundled us-atlas geometry -- in a worker process, :mod:`equicare.service.drawn`), so the dashboard works
without the internet.
"""

# ruff: noqa: B008  (FastAPI declares dependencies, forms and files as parameter defaults)

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from equicare.errors import EquicareError, ValidationError
from equicare.service import accounts, audit, sharing
from equicare.service.accounts import User
from equicare.service.dataset_uploads import label_of
from equicare.service.drawn import fan_chart_job, us_map_job
from equicare.service.jobs import Busy, WorkerCrashed
from equicare.service.security import add_nonce

METRICS = {
    "beds": ("Staffed beds per 1,000 residents", "state", "per 1,000"),
    "icu": ("Staffed ICU beds per 1,000 residents", "state", "per 1,000"),
    "access": ("Spatial access to hospital beds (2SFCA, beds per 1,000 within the catchment)", "county", "per 1,000"),
    "shortage": ("Surge ICU beds still lacking after the allocation", "state", "beds"),
}


def latest_run(store, org: str, kind: str) -> dict | None:
    runs = store.list_runs(org=org)
    runs = runs[(runs["kind"] == kind) & (runs["status"] == "succeeded")]
    return None if runs.empty else store.get_run(str(runs["id"].iloc[0]))


def _table(df: pd.DataFrame, max_rows: int = 200) -> str:
    from equicare.report.html import table_html

    return table_html(df, max_rows=max_rows)


def _form_params(**fields: str) -> dict:
    """Form fields as run parameters: blanks dropped; the hospital share only with placement ticked."""
    params = {k: v.strip() for k, v in fields.items() if v and v.strip()}
    if "place_at_hospitals" not in params:
        params.pop("hospital_share", None)
    return params


def _hospitals_by_state(h: pd.DataFrame) -> list[dict]:
    """Hospital rows grouped per state (states by beds placed, hospitals best-rated first)."""
    h = h[h["allocated"] > 0]
    out = []
    for state, d in h.groupby("state", sort=False):
        d = d.sort_values("rank")
        out.append({"state": state, "abbr": d["abbr"].iloc[0], "beds": float(d["allocated"].sum()),
                    "rows": d[["hospital", "stars", "allocated", "cap"]].to_dict(orient="records")})
    return sorted(out, key=lambda g: -g["beds"])


def _form_number(name: str, text: str, max_abs: float) -> float:
    """A number typed in a form: finite, magnitude at most ``max_abs``; else an error naming the field."""
    try:
        x = float(text)
    except (TypeError, ValueError):
        raise EquicareError(f"parameter '{name}': not a number ({text.strip()[:40]!r})") from None
    if not math.isfinite(x) or abs(x) > max_abs:
        raise EquicareError(f"parameter '{name}' must be a finite number of magnitude at most {max_abs:,.0f}, "
                            f"got {text.strip()[:40]}")
    return x


def register(app: FastAPI) -> None:
    """Add the dashboard's routes to ``app`` (built by :func:`equicare.service.app.create_app`)."""
    st = app.state.store
    jobs = app.state.jobs
    templates = app.state.templates
    role, user_dep, h = app.state.role, app.state.user_dep, app.state.helpers

    def page(request: Request, name: str, status: int = 200, headers: dict | None = None, **ctx) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"user": request.state.user,
                                                          "csrf_token": request.state.csrf_token,
                                                          "csp_nonce": request.state.csp_nonce, **ctx},
                                          status_code=status, headers=headers)

    def busy_page(request: Request, exc: Busy | WorkerCrashed) -> HTMLResponse:
        retry = exc.retry_after if isinstance(exc, Busy) else jobs.settings.retry_after
        status = exc.status if isinstance(exc, Busy) else 503
        name = "_error_fragment.html" if request.headers.get("hx-request") else "error.html"
        return page(request, name, status=status, headers={"Retry-After": str(retry)}, status_code=status,
                    message=str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        from fastapi.exception_handlers import http_exception_handler

        if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
            return await http_exception_handler(request, exc)
        return page(request, "error.html", status=exc.status_code, status_code=exc.status_code, message=exc.detail)

    # -- sign in ----------------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request):
        return page(request, "login.html", error=None)

    @app.post("/login", include_in_schema=False)
    def login(request: Request, name: str = Form(...), token: str = Form(...)):
        address = request.client.host if request.client else None
        try:
            user = accounts.authenticate_token(st, token.strip(), limits=app.state.auth_limits, address=address)
        except accounts.TooManyAttempts as exc:
            request.state.audit_owner = accounts.token_account(st, token.strip(), name)
            request.state.audit_detail = {"name": name[:64], "ok": False, "rate_limited": True}
            return page(request, "login.html", status=429, headers={"Retry-After": str(exc.retry_after)},
                        error=f"Too many failed attempts; try again in {exc.retry_after} s.")
        if user is None or user.name != name.strip():
            request.state.audit_owner = user or accounts.token_account(st, token.strip(), name)
            request.state.audit_detail = {"name": name[:64], "ok": False}
            return page(request, "login.html", status=401, error="Unknown name or token.")
        request.state.login_user = user
        sid = accounts.create_session(st, user)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie("equicare_session", sid, httponly=True, samesite="strict", secure=request.state.https,
                        max_age=accounts.SESSION_HOURS * 3600)
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request):
        await h["require_csrf"](request)
        accounts.end_session(st, request.cookies.get("equicare_session"))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie("equicare_session")
        return resp

    # -- home: datasets, runs, upload, start a run -----------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request, user: User = Depends(user_dep)):
        ds = sharing.visible_datasets(st, user.org)
        runs = st.list_runs(org=user.org)
        from equicare.forecast import MODELS

        from equicare.service.scenarios import FAIRNESS_RULES, ScenarioParams

        return page(request, "home.html", datasets=ds.to_dict(orient="records"),
                    runs=runs.head(30).to_dict(orient="records"), can_write=accounts.has_role(user, "planner"),
                    models=list(MODELS), default_model=ScenarioParams().forecast_model, defaults=ScenarioParams(),
                    rules=FAIRNESS_RULES)

    @app.post("/ui/upload", include_in_schema=False)
    async def ui_upload(request: Request, user: User = Depends(role("planner"))):
        form = await h["get_upload_form"](request)
        kind, name = form.fields.get("kind", ""), form.fields.get("name", "")
        label = label_of(form.filename)
        request.state.audit_detail = {"kind": kind[:32], "file": label, "bytes": len(form.data)}
        try:
            stored = await h["upload_off_loop"](user, form, kind, name or None)  # checked in a worker process
        except (Busy, WorkerCrashed) as exc:
            return busy_page(request, exc)
        except ValidationError as exc:
            return page(request, "upload_rejected.html", status=422, error=exc.to_dict(), filename=label)
        except EquicareError as exc:
            return page(request, "error.html", status=422, status_code=422, message=str(exc))
        request.state.audit_target = f"dataset:{stored.id}"
        request.state.audit_detail["worker_pid"] = stored.worker_pid
        return RedirectResponse(f"/datasets/{stored.id}", status_code=303)

    @app.get("/datasets/{dataset_id}", response_class=HTMLResponse, include_in_schema=False)
    async def dataset_page(request: Request, dataset_id: int, user: User = Depends(user_dep)):
        try:
            info, rows, sup = await h["export_off_loop"](user, dataset_id)
        except (Busy, WorkerCrashed) as exc:
            return busy_page(request, exc)
        rows = rows.head(500)
        rep = info.get("report") or {}
        changes = rep.get("changes") if isinstance(rep, dict) else None
        return page(request, "dataset.html", info=info, report=rep, changes=changes,
                    preview=_table(rows, 20), suppression=sup)

    @app.post("/ui/runs", include_in_schema=False)
    def ui_run(request: Request, kind: str = Form(...), stockpile: str = Form(""), severity: str = Form(""),
               scenario_quantile: str = Form(""), fairness: str = Form(""), as_of: str = Form(""),
               max_gini: str = Form(""), place_at_hospitals: str = Form(""), hospital_share: str = Form(""),
               forecast_model: str = Form(""), user: User = Depends(role("planner"))):
        from equicare.service.scenarios import start_run

        params = _form_params(stockpile=stockpile, severity=severity, scenario_quantile=scenario_quantile,
                              fairness=fairness, as_of=as_of, max_gini=max_gini,
                              place_at_hospitals=place_at_hospitals, hospital_share=hospital_share,
                              forecast_model=forecast_model)
        try:
            run_id = start_run(st, kind, params, org=user.org, user=user.name, pool=jobs)
        except Busy as exc:
            return busy_page(request, exc)
        except EquicareError as exc:
            return page(request, "error.html", status=422, status_code=422, message=str(exc))
        request.state.audit_target = f"run:{run_id}"
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, run_id: str, user: User = Depends(user_dep)):
        info = h["run_for"](user, run_id)
        return page(request, "run.html", run=info, results=st.result_names(run_id))

    @app.get("/runs/{run_id}/progress", response_class=HTMLResponse, include_in_schema=False)
    def run_progress(request: Request, run_id: str, user: User = Depends(user_dep)):
        info = h["run_for"](user, run_id)
        return page(request, "_progress.html", run=info, results=st.result_names(run_id))

    # -- map, forecast, allocation, what-if --------------------------------------------------------------
    def map_data(org: str, metric: str) -> tuple[dict | None, dict, dict, pd.DataFrame | None, str | None]:
        """The latest run a map draws, its values and names by FIPS code, the table beside it, and the kind of run
        still missing (None when there is one)."""
        level = METRICS[metric][1]
        if metric == "shortage":
            run = latest_run(st, org, "allocate")
            if not run:
                return None, {}, {}, None, "allocate"
            a = st.get_result(run["id"], "allocation")
            a["lacking"] = (a["need"] - a["allocated"]).clip(lower=0)
            values = dict(zip(a["region"].astype(str), a["lacking"].astype(float)))
            names = dict(zip(a["region"].astype(str), a["name"].astype(str)))
            stats = a.sort_values("lacking", ascending=False)[["name", "need", "allocated", "lacking"]].head(10)
            return run, values, names, stats, None
        run = latest_run(st, org, "analyse")
        if not run:
            return None, {}, {}, None, "analyse"
        if level == "state":
            t = st.get_result(run["id"], "state_rates")
            col = "cap_beds_per_1000" if metric == "beds" else "cap_icu_beds_per_1000"
        else:
            t = st.get_result(run["id"], "county_rates")
            col = "access_2sfca"
        values = dict(zip(t["id"].astype(str), t[col].astype(float)))
        names = dict(zip(t["id"].astype(str), t["name"].astype(str)))
        return run, values, names, t[["name", col]].sort_values(col).head(10), None

    @app.get("/map", response_class=HTMLResponse, include_in_schema=False)
    async def map_page(request: Request, metric: str = "beds", user: User = Depends(user_dep)):
        """A US choropleth of the latest run's figures, drawn in a worker process (kept in memory afterwards)."""
        from fastapi.concurrency import run_in_threadpool

        if metric not in METRICS:
            raise HTTPException(404, f"no map called {metric!r}; choose one of {', '.join(METRICS)}")
        title, level, unit = METRICS[metric]
        run, values, names, stats, missing = await run_in_threadpool(map_data, user.org, metric)
        svg = None
        if missing is None:
            key = (str(run["id"]), "us-map", metric)
            svg = app.state.drawn.get(key)
            if svg is None:
                try:
                    svg = await jobs.run(h["who"](user), us_map_job, values, level, title, unit, names, "us-map")
                except (Busy, WorkerCrashed) as exc:
                    return busy_page(request, exc)
                app.state.drawn.put(key, svg, len(svg))
        table = None if stats is None else await run_in_threadpool(_table, stats)
        return page(request, "map.html", metric=metric, metrics=METRICS, title=title, svg=svg, run=run,
                    missing=missing, stats=table)

    def latest_forecast(org: str) -> tuple[dict | None, pd.DataFrame | None, pd.DataFrame | None]:
        run = latest_run(st, org, "forecast")
        if not run:
            return None, None, None
        return run, st.get_result(run["id"], "truth"), st.get_result(run["id"], "forecast")

    @app.get("/forecast", response_class=HTMLResponse, include_in_schema=False)
    async def forecast_page(request: Request, user: User = Depends(user_dep)):
        """The latest forecast's fan chart, drawn in a worker process (kept in memory afterwards)."""
        from fastapi.concurrency import run_in_threadpool

        run, truth, fc = await run_in_threadpool(latest_forecast, user.org)
        chart = None
        if run:
            key = (str(run["id"]), "fan-chart")
            html = app.state.drawn.get(key)
            if html is None:
                try:
                    html = await jobs.run(h["who"](user), fan_chart_job, truth, fc, run["params"]["as_of"], "fan-chart")
                except (Busy, WorkerCrashed) as exc:
                    return busy_page(request, exc)
                app.state.drawn.put(key, html, len(html))
            chart = add_nonce(html, request.state.csp_nonce)
        return page(request, "forecast.html", run=run, chart=chart)

    @app.get("/allocation", response_class=HTMLResponse, include_in_schema=False)
    def allocation_page(request: Request, user: User = Depends(user_dep)):
        run = latest_run(st, user.org, "allocate")
        rows, hospitals = None, None
        if run:
            a = st.get_result(run["id"], "allocation")
            a = a.sort_values(["need", "allocated"], ascending=False)
            rows = a[["region", "name", "need", "cap", "allocated", "share_met", "binding", "explanation"]
                     ].to_dict(orient="records")
            if "hospitals" in st.result_names(run["id"]):
                hospitals = _hospitals_by_state(st.get_result(run["id"], "hospitals"))
        return page(request, "allocation.html", run=run, rows=rows, s=run["summary"] if run else {},
                    hospitals=hospitals)

    @app.get("/whatif", response_class=HTMLResponse, include_in_schema=False)
    def whatif_page(request: Request, user: User = Depends(user_dep)):
        from equicare.params import QUANTILES
        from equicare.service.scenarios import FAIRNESS_RULES, ScenarioParams

        return page(request, "whatif.html", defaults=asdict(ScenarioParams()), rules=FAIRNESS_RULES,
                    quantiles=QUANTILES, can_write=accounts.has_role(user, "planner"))

    @app.post("/ui/whatif", response_class=HTMLResponse, include_in_schema=False)
    async def whatif_fragment(request: Request, stockpile: str = Form(""), fairness: str = Form("leximin"),
                              scenario_quantile: str = Form("0.9"), max_gini: str = Form(""),
                              place_at_hospitals: str = Form(""), hospital_share: str = Form(""),
                              user: User = Depends(role("planner"))):
        from equicare.service.scenarios import parse_params, whatif_job

        try:
            p = parse_params(_form_params(stockpile=stockpile, fairness=fairness, scenario_quantile=scenario_quantile,
                                          max_gini=max_gini, place_at_hospitals=place_at_hospitals,
                                          hospital_share=hospital_share))
            table, summary, hosp = await jobs.run(h["who"](user), whatif_job, p)
        except (Busy, WorkerCrashed) as exc:
            return busy_page(request, exc)
        except EquicareError as exc:
            return page(request, "_error_fragment.html", status=422, message=str(exc))
        changed = table[np.abs(table["change"]) > 0]
        return page(request, "_whatif_result.html", summary=summary, rows=table.to_dict(orient="records"),
                    n_changed=len(changed), s=summary["whatif"],
                    hospitals=None if hosp is None else _hospitals_by_state(hosp))

    # -- privacy: releases, ledger, pooling --------------------------------------------------------------
    @app.get("/privacy", response_class=HTMLResponse, include_in_schema=False)
    def privacy_page(request: Request, user: User = Depends(user_dep)):
        from equicare.privacy.ledger import privacy_ledger

        ds = sharing.visible_datasets(st, user.org)
        own_rows = ds[(~ds["shared"]) & (~ds["kind"].isin(sharing.SHAREABLE_KINDS))]
        aggregates = ds[ds["kind"].isin(sharing.SHAREABLE_KINDS)]
        from equicare.service.region_lists import list_region_lists

        led = privacy_ledger(st, org=user.org)
        return page(request, "privacy.html", own=own_rows.to_dict(orient="records"),
                    levels=[x["name"] for x in list_region_lists(st)],
                    aggregates=aggregates.to_dict(orient="records"),
                    ledger=_table(led.drop(columns=["fingerprint"], errors="ignore")) if len(led) else None,
                    can_write=accounts.has_role(user, "planner"))

    @app.post("/ui/release", response_class=HTMLResponse, include_in_schema=False)
    async def release_fragment(request: Request, dataset_id: int = Form(...), method: str = Form("dp"),
                         by: str = Form("region"), statistic: str = Form("count"), column: str = Form(""),
                         lower: str = Form(""), upper: str = Form(""), epsilon: str = Form(""),
                         level: str = Form("state"), share_with: str = Form(""),
                         user: User = Depends(role("planner"))):
        from fastapi.concurrency import run_in_threadpool

        from equicare.service.releases import release_in_pool

        info = await run_in_threadpool(h["dataset_for"], user, dataset_id)
        if info["org"] != user.org:
            raise HTTPException(403, "only the owning organisation can release aggregates of a dataset")
        try:
            bounds = (_form_number("lower", lower, 1e15), _form_number("upper", upper, 1e15)) if lower and upper \
                else None
            eps = _form_number("epsilon", epsilon, 100) if epsilon else None
            if eps is not None and eps < 1e-3:
                raise EquicareError(f"parameter 'epsilon' must be in [0.001, 100], got {epsilon.strip()}")
            req = {"dataset_id": dataset_id, "method": method, "by": by.strip(), "statistic": statistic,
                   "column": column.strip() or None, "bounds": bounds, "level": level, "epsilon": eps,
                   "share_with": [o.strip() for o in share_with.split(",") if o.strip()]}
            out = await release_in_pool(st, user, req, jobs, h["who"](user))  # DP computed in a worker
        except (Busy, WorkerCrashed) as exc:
            return busy_page(request, exc)
        except (EquicareError, ValueError) as exc:
            return page(request, "_error_fragment.html", status=422, message=str(exc))
        request.state.audit_target = f"dataset:{out['id']}"
        request.state.audit_detail = {"source": dataset_id, "method": method, "epsilon": req["epsilon"],
                                      "share_with": req["share_with"]}
        return page(request, "_release_result.html", out=out)

    @app.post("/ui/pool", response_class=HTMLResponse, include_in_schema=False)
    async def pool_fragment(request: Request, user: User = Depends(role("planner"))):
        from fastapi.concurrency import run_in_threadpool

        from equicare.service.scenarios import pooled_job

        form = await request.form()
        try:
            ids = [int(v) for v in form.getlist("dataset_ids")][:100]
            stock = _form_number("stockpile", str(form.get("stockpile") or "1000"), 1e9)
            if stock < 0:
                raise EquicareError("parameter 'stockpile' must not be negative")
            snapshot = await run_in_threadpool(h["pool_snapshot"], user, ids)
            res = await jobs.run(h["who"](user), pooled_job, snapshot, ids,
                                 {"stockpile": stock, "replicates": 100, "measure": str(form.get("measure") or "need")})
        except (Busy, WorkerCrashed) as exc:
            return busy_page(request, exc)
        except (EquicareError, ValueError) as exc:
            return page(request, "_error_fragment.html", status=422, message=str(exc))
        regions = pd.DataFrame(res["regions"])
        return page(request, "_pool_result.html", res=res, table=_table(regions))

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, user: User = Depends(role("admin"))):
        log = audit.audit_log(st, org=user.org, limit=200)
        return page(request, "audit.html", log=_table(log))
