"""A planner's own project through the dashboard in Chromium: upload the project file and its inputs, set the
scenario, run, and see the map of their 87 municipalities and the allocation listing them."""

from __future__ import annotations

import time

import pytest

from live_server import CHROMIUM, require_browser, serving
from region_fixture import build_project, tokyo_source

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(tokyo_source() is None, reason="libpysal's Tokyo example geometry is not installed")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()

    from equicare.service.accounts import add_user
    from equicare.service.app import create_app
    from equicare.service.jobs import PoolSettings
    from equicare.store import Store

    tmp = tmp_path_factory.mktemp("projbrowser")
    project = build_project(tmp / "inputs", holdout=2, stock=300)
    store = Store(tmp / "store" / "store.duckdb")
    token = add_user(store, "kenji", "tokyo-moh", "planner")
    # a project run reads the planner's own files: the workers need not load the bundled US data first
    with serving(create_app(store=store, workers=PoolSettings(warm=False))) as url:
        yield {"url": url, "token": token, "project": project, "store": store}
    store.close()


def test_project_upload_run_map_and_allocation(server) -> None:
    from playwright.sync_api import sync_playwright

    folder = server["project"].parent
    files = [str(folder / n) for n in ("project.yaml", "regions.gpkg", "hospitals.xlsx", "admissions.csv")]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(server["url"] + "/login")
        page.fill("input[name=name]", "kenji")
        page.fill("input[name=token]", server["token"])
        page.click("button[type=submit]")
        page.goto(server["url"] + "/projects")
        page.set_input_files("#project-files", files)
        page.fill("#p-stock", "250")
        page.fill("#p-severity", "2.5")
        page.select_option("#p-objective", "leximin")
        page.click("#project-submit")
        page.wait_for_url("**/projects/runs/*")
        run_url = page.url
        for _ in range(1200):  # the page refreshes itself while running; look every quarter second (5 min bound)
            time.sleep(0.25)
            try:
                page.goto(run_url)
                if page.inner_text("#run-status", timeout=5000) != "running":  # bounded: never hours
                    break
            except Exception:  # noqa: BLE001 - a navigation raced with the page's own refresh
                continue
        assert page.inner_text("#run-status") == "succeeded", page.content()[:2000]
        shapes = page.locator("#project-map path.region")
        assert shapes.count() == 87
        assert page.locator('#project-map path[data-id="08203"]').count() == 1  # the planner's own ids
        assert "Tsuchiura-shi" in page.locator('#project-map path[data-id="08203"] title').text_content()
        table = page.inner_text("#project-allocation")
        assert "Tsuchiura-shi" in table and "Koga-shi" in table
        assert "stock 250" in page.inner_text("#project-summary")  # the form's scenario was used
        page.fill("#w-stock", "500")  # what-if on the same run
        page.click("#w-submit")
        page.wait_for_selector("#project-whatif-table")
        assert "→ 500" in page.inner_text("#project-whatif-result")
        page.click("#project-report")
        page.wait_for_url("**/report")
        page.wait_for_selector("svg.equicare-map")
        assert page.locator("svg.equicare-map").count() >= 3
        browser.close()
    runs = server["store"].list_runs(org="tokyo-moh")
    info = server["store"].get_run(runs["id"].iloc[0])
    assert info["params"]["allocate"]["severity"] == 2.5
