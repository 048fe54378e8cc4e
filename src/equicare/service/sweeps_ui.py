"""Dashboard page for sweeps: a form to sweep the surge allocation over a grid, and the latest sweep's frontier.

The form takes comma-separated values per parameter; the sweep runs as a ``sweep`` run in the worker pool
(handed to the configured Dask scheduler, see :mod:`equicare.service.sweeps`), and the page draws its
frontier: beds deployed against the minimum share of need met, one line per combination of the other keys
(drawn in a worker process, :func:`equicare.service.sweeps.frontier_page_job`).
"""

# ruff: noqa: B008  (FastAPI declares dependencies and forms as parameter defaults)

from __future__ import annotations

import pandas as pd
from fastapi import Depends, FastAPI, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from equicare.errors import EquicareError
from equicare.service.accounts import User
from equicare.service.jobs import Busy, WorkerCrashed
from equicare.service.security import add_nonce
from equicare.service.sweeps import MAX_SWEEP_POINTS, SWEEP_KEYS, frontier_page_job, start_sweep
from equicare.service.ui import latest_run


def _values(text: str, key: str) -> list:
    """Comma-separated form values: numbers as numbers (except the fairness rule), blanks dropped."""
    out = []
    for part in str(text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if key == "fairness":
            out.append(part)
            continue
        try:
            out.append(float(part))
        except ValueError:
            raise EquicareError(f"parameter '{key}': {part!r} is not a number") from None
    return out


def register(app: FastAPI) -> None:
    """Add ``GET /sweep`` and ``POST /ui/sweep`` to the dashboard."""
    st, jobs, templates = app.state.store, app.state.jobs, app.state.templates
    role, user_dep = app.state.role, app.state.user_dep

    def page(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"user": request.state.user,
                                                          "csrf_token": request.state.csrf_token,
                                                          "csp_nonce": request.state.csp_nonce, **ctx},
                                          status_code=status)

    def latest_sweep(org: str) -> tuple[dict | None, pd.DataFrame | None, list[str]]:
        run = latest_run(st, org, "sweep")
        if not run:
            return None, None, []
        t = st.get_result(run["id"], "sweep")
        return run, t, list(run["summary"].get("keys") or [c for c in t.columns if c in SWEEP_KEYS])

    @app.get("/sweep", response_class=HTMLResponse, include_in_schema=False)
    async def sweep_page(request: Request, user: User = Depends(user_dep)):
        """The latest sweep's frontier, drawn in a worker process (kept in memory afterwards)."""
        run, t, keys = await run_in_threadpool(latest_sweep, user.org)
        chart = table = None
        if run:
            key = (str(run["id"]), "sweep-frontier")
            drawn = app.state.drawn.get(key)
            if drawn is None:
                try:
                    drawn = await jobs.run(app.state.helpers["who"](user), frontier_page_job, t, keys)
                except (Busy, WorkerCrashed) as exc:
                    status = exc.status if isinstance(exc, Busy) else 503
                    return page(request, "error.html", status=status, status_code=status, message=str(exc))
                app.state.drawn.put(key, drawn, sum(map(len, drawn)))
            chart, table = add_nonce(drawn[0], request.state.csp_nonce), drawn[1]
        return page(request, "sweep.html", run=run, chart=chart, table=table, keys=SWEEP_KEYS,
                    max_points=MAX_SWEEP_POINTS, scheduler=app.state.dask_scheduler)

    @app.post("/ui/sweep", include_in_schema=False)
    def ui_sweep(request: Request, stockpile: str = Form(""), severity: str = Form(""),
                 scenario_quantile: str = Form(""), fairness: str = Form(""), max_gini: str = Form(""),
                 user: User = Depends(role("planner"))):
        try:
            fields = {"stockpile": stockpile, "severity": severity, "scenario_quantile": scenario_quantile,
                      "fairness": fairness, "max_gini": max_gini}
            grid = {k: _values(v, k) for k, v in fields.items() if _values(v, k)}
            grid = {k: [int(x) if k == "stockpile" and float(x).is_integer() else x for x in v] for k, v in grid.items()}
            run_id = start_sweep(st, {"grid": grid}, org=user.org, user=user.name, pool=jobs,
                                 scheduler=app.state.dask_scheduler)
        except (Busy, WorkerCrashed) as exc:
            return page(request, "error.html", status=503, status_code=503, message=str(exc))
        except EquicareError as exc:
            return page(request, "error.html", status=422, status_code=422, message=str(exc))
        request.state.audit_target = f"run:{run_id}"
        return RedirectResponse(f"/runs/{run_id}", status_code=303)
