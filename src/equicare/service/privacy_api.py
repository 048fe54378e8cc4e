"""The privacy routes of the JSON API: releases (DP or suppressed, computed in a worker process), the privacy
ledger and the organisation's budget, public region lists and the pooled analysis of shared aggregates
(docs/privacy.md). Registered on the app by :func:`equicare.service.app.create_app`."""

from __future__ import annotations

from fastapi import Depends, FastAPI, HTTPException, Request

from equicare.errors import EquicareError
from equicare.jsonsafe import jsonable
from equicare.service.accounts import User
from equicare.service.api_models import OrgBudgetRequest, PoolRequest, RegionListRequest, ReleaseRequest, records

__all__ = ["register"]


def register(app: FastAPI) -> None:
    """Add ``POST /api/releases``, ``GET /api/privacy/ledger``, ``GET/POST /api/privacy/budget``,
    ``GET/POST /api/region-lists`` and ``POST /api/pool`` to ``app`` (its store, pool, roles and helpers from
    ``app.state``)."""
    st, jobs = app.state.store, app.state.jobs
    role, user_dep = app.state.role, app.state.user_dep
    helpers = app.state.helpers
    dataset_for, run_for, pool_snapshot, who = (helpers["dataset_for"], helpers["run_for"],
                                                helpers["pool_snapshot"], helpers["who"])
    _clean = jsonable

    @app.post("/api/releases", tags=["privacy"], status_code=201)
    async def release(req: ReleaseRequest, request: Request, user: User = Depends(role("planner"))) -> dict:
        """Make a release; a DP release is computed in a worker process (429/503 when busy; nothing charged)
        and charged, stored and shared in one transaction."""
        from fastapi.concurrency import run_in_threadpool

        from equicare.service.releases import release_in_pool

        request.state.audit_detail = {"source": req.dataset_id, "method": req.method, "epsilon": req.epsilon,
                                      "share_with": req.share_with}
        info = await run_in_threadpool(dataset_for, user, req.dataset_id)
        if info["org"] != user.org:
            raise HTTPException(403, "only the owning organisation can release aggregates of a dataset")
        out = await release_in_pool(st, user, req.model_dump(), jobs, who(user))
        request.state.audit_target = f"dataset:{out['id']}"
        return _clean(out)

    @app.get("/api/privacy/ledger", tags=["privacy"])
    def ledger(user: User = Depends(user_dep)) -> list[dict]:
        from equicare.privacy.ledger import privacy_ledger

        return records(privacy_ledger(st, org=user.org))

    @app.get("/api/privacy/budget", tags=["privacy"])
    def org_budget_get(user: User = Depends(user_dep)) -> dict:
        from equicare.privacy.ledger import org_budget, org_spent

        return {"org": user.org, "epsilon_budget": org_budget(st, user.org), "epsilon_spent": org_spent(st, user.org)}

    @app.post("/api/privacy/budget", tags=["privacy"])
    def org_budget_set(req: OrgBudgetRequest, request: Request, user: User = Depends(role("admin"))) -> dict:
        from equicare.privacy.ledger import org_budget, org_spent, set_org_budget

        request.state.audit_target = f"org-budget:{user.org}"
        set_org_budget(st, user.org, req.epsilon)
        return {"org": user.org, "epsilon_budget": org_budget(st, user.org), "epsilon_spent": org_spent(st, user.org)}

    @app.get("/api/region-lists", tags=["privacy"])
    def region_lists_get(user: User = Depends(user_dep)) -> list[dict]:
        from equicare.service.region_lists import list_region_lists

        return _clean(list_region_lists(st))

    @app.post("/api/region-lists", tags=["privacy"], status_code=201)
    def region_lists_add(req: RegionListRequest, request: Request, user: User = Depends(role("admin"))) -> dict:
        from equicare.service.region_lists import declare_project_regions, declare_region_list

        request.state.audit_target = f"region-list:{req.name}"
        if (req.dataset_id is None) == (req.run_id is None):
            raise EquicareError("give either 'dataset_id' (a regions dataset) or 'run_id' (a project run)")
        if req.run_id is not None:
            run_for(user, req.run_id)  # another organisation's run answers 404, as a missing one
            return _clean(declare_project_regions(st, req.name, req.run_id, org=user.org, user=user.name))
        dataset_for(user, req.dataset_id)
        return declare_region_list(st, req.name, req.dataset_id, org=user.org, user=user.name)

    @app.post("/api/pool", tags=["privacy"])
    async def pool(req: PoolRequest, user: User = Depends(role("planner"))) -> dict:
        """Pool shared aggregates (computed in a worker process; 429/503 when busy)."""
        from fastapi.concurrency import run_in_threadpool

        from equicare.service.scenarios import pooled_job

        snapshot = await run_in_threadpool(pool_snapshot, user, req.dataset_ids)
        return _clean(await jobs.run(who(user), pooled_job, snapshot, req.dataset_ids,
                                     {"stockpile": req.stockpile, "replicates": req.replicates,
                                      "measure": req.measure}))
