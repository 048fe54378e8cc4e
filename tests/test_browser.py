"""The dashboard in a real browser: Playwright for Python driving Debian's chromium.

Signs in, uploads a file, runs scenarios, sees the map, the forecast and the allocation, re-solves a
what-if, and is refused another organisation's page. With ``EQUICARE_SCREENSHOTS=<folder>`` the main
pages are saved there as PNG (``docs/screenshots`` holds the committed ones).
"""

from __future__ import annotations

import os
import threading
from itertools import pairwise
from pathlib import Path

import pytest

from live_server import CHROMIUM, require_browser, serving

pytestmark = [pytest.mark.browser]

FACILITIES = """id,name,region,lat,lon,cap_beds,cap_icu_beds
h1,General North,01,32.5,-86.6,120,12
h2,County Clinic,01,30.7,-87.7,40,0
h3,Valley Hospital,02,61.2,-149.9,300,30
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()

    from equicare.service.accounts import add_user
    from equicare.service.app import create_app
    from equicare.store import Store

    tmp = tmp_path_factory.mktemp("browser")
    store = Store(tmp / "store.duckdb")
    tokens = {"pat": add_user(store, "pat", "north", "planner"), "sam": add_user(store, "sam", "south", "planner")}
    from equicare.data import load_table

    table, rep = load_table(FACILITIES.encode(), "facilities", name="south.csv")
    south_ds = store.save_dataset("south hospitals", "facilities", table, source="upload:south.csv",
                                  fingerprint="f", report=rep.to_dict(), org="south", created_by="sam")
    from equicare.service.accounts import User
    from equicare.service.releases import make_release

    make_release(store, User("sam", "south", "planner"), {
        "dataset_id": south_ds, "method": "dp", "by": "region", "statistic": "count", "epsilon": 0.5,
        "share_with": ["north"]})
    from equicare.service.jobs import PoolSettings

    csv = tmp / "north hospitals.csv"  # a name and a bed count missing: kept, flagged and reported
    csv.write_text(FACILITIES.replace("General North", "").replace("30.7,-87.7,40", "30.7,-87.7,"))
    # (the cleaning report then lists both)
    with serving(create_app(store=store, workers=PoolSettings(workers=1, prestart=True))) as url:
        yield {"url": url, "tokens": tokens, "south_ds": south_ds, "csv": csv}
    store.close()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = ctx.new_page()
        requested: list[str] = []
        pg.on("request", lambda r: requested.append(r.url))
        pg.requested = requested
        yield pg
        browser.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("EQUICARE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


def _wait_run(page, timeout_s: float = 180) -> None:
    page.wait_for_selector("#run-status:has-text('succeeded')", timeout=timeout_s * 1000)


def test_sign_in_upload_run_and_see(server, page):
    url = server["url"]
    page.goto(f"{url}/login")
    _shot(page, "login")
    page.fill("#name", "pat")
    page.fill("#token", server["tokens"]["pat"])
    page.click("#sign-in")
    page.wait_for_selector("text=Data and runs of north")

    # upload a file: validated, stored, cleaning report shown
    page.set_input_files("#upload-file", str(server["csv"]))
    page.select_option("#upload-kind", "facilities")
    page.click("#upload-submit")
    page.wait_for_selector("text=Data-cleaning report")
    report = page.locator("#cleaning-report").inner_text()
    assert "missing" in report and "cap_beds" in report and "name" in report
    _shot(page, "dataset")

    # run an allocation; the progress updates by itself (htmx) until it succeeds
    page.goto(f"{url}/")
    page.select_option("#run-kind", "allocate")
    page.click("#run-submit")
    _wait_run(page)
    page.click("#see-allocation")
    page.wait_for_selector("#allocation")
    rows = page.locator("#allocation tbody tr")
    assert rows.count() >= 50
    assert "receives" in page.locator("#allocation").inner_text()
    _shot(page, "allocation")

    # analyse, then the map of beds per capita (an SVG choropleth with every state)
    page.goto(f"{url}/")
    page.select_option("#run-kind", "analyse")
    page.click("#run-submit")
    _wait_run(page)
    page.click("#see-map")
    page.wait_for_selector("#us-map")
    assert page.locator("#us-map path[data-fips]").count() >= 50
    _shot(page, "map")
    page.goto(f"{url}/map?metric=shortage")
    assert page.locator("#us-map path[data-fips]").count() >= 50

    # forecast fan charts (Plotly served by the service)
    page.goto(f"{url}/")
    page.select_option("#run-kind", "forecast")
    page.click("#run-submit")
    _wait_run(page)
    page.goto(f"{url}/forecast")
    page.wait_for_selector("#fan-chart .main-svg", timeout=15000)
    _shot(page, "forecast")

    # what-if: a smaller stockpile re-solved next to the default
    page.goto(f"{url}/whatif")
    page.fill("#whatif-stockpile", "1000")
    page.click("#whatif-submit")
    page.wait_for_selector("#whatif-table")
    assert "state(s) receive a different number of beds" in page.locator("#whatif-summary").inner_text()
    _shot(page, "whatif")

    # sharing: north releases its own facility counts with DP and shares them with south ...
    page.goto(f"{url}/privacy")
    page.fill("#release-epsilon", "0.3")
    page.fill("#release-share", "south")
    page.click("#release-submit")
    page.wait_for_selector("#release-done")
    assert "Shared with south" in page.locator("#release-done").inner_text()
    # ... and pools it with south's release it was given
    page.goto(f"{url}/privacy")
    page.select_option("#pool-measure", "supply")  # counts of hospitals: supply, so access per 1,000
    page.click("#pool-submit")
    page.wait_for_selector("text=Privacy cost")
    cost = page.locator("#pool-result").inner_text()
    assert "access (supply per 1,000 residents)" in cost
    assert "south epsilon 0.5" in cost and "north epsilon 0.3" in cost
    page.locator("#pool-result").scroll_into_view_if_needed()
    _shot(page, "sharing")

    # nothing was fetched from anywhere but the service
    assert all(u.startswith((url, "data:")) for u in page.requested), \
        [u for u in page.requested if not u.startswith(url)]


def test_allocation_with_gini_cap_and_hospitals(server, page):
    """An allocate run from the form with a Gini cap and hospital placement: the page shows both."""
    url = server["url"]
    page.goto(f"{url}/")
    if page.locator("#run-form").count() == 0:  # signed out: sign in again
        page.goto(f"{url}/login")
        page.fill("#name", "pat")
        page.fill("#token", server["tokens"]["pat"])
        page.click("#sign-in")
        page.wait_for_selector("#run-form")
    page.select_option("#run-kind", "allocate")
    page.select_option("#run-model", "linear")  # the scenario this test was worked out on (Gini 0.046 without cap)
    page.fill("#run-max-gini", "0.01")
    page.check("#run-place")
    page.fill("#run-hospital-share", "0.2")
    page.click("#run-submit")
    _wait_run(page)
    page.click("#see-allocation")
    page.wait_for_selector("#gini-summary")
    assert page.locator("#gini-cap").inner_text() == "0.01"
    assert page.locator("#gini-binding").inner_text() == "the cap binds"
    assert float(page.locator("#gini-value").inner_text()) <= 0.01
    assert "percentage points of minimum share" in page.locator("#gini-price").inner_text()
    rows = page.locator("#hospital-table tbody tr")
    assert rows.count() >= 50
    # within each state the hospitals come best-rated first
    by_state: dict[str, list[float]] = {}
    for state, stars in zip(rows.evaluate_all("rs => rs.map(r => r.dataset.state)"),
                            page.locator("#hospital-table td.stars").all_inner_texts()):
        by_state.setdefault(state, []).append(0.0 if stars == "not rated" else float(stars))
    assert len(by_state) >= 10
    assert all(a >= b for s in by_state.values() for a, b in pairwise(s))
    page.locator("#gini-summary").scroll_into_view_if_needed()
    _shot(page, "allocation_gini")


def test_refused_another_organisations_page(server, page):
    resp = page.goto(f"{server['url']}/datasets/{server['south_ds']}")
    assert resp.status == 404  # the same answer as for a dataset that does not exist
    assert f"no dataset with id {server['south_ds']}" in page.locator("#error-message").inner_text()


_EVIL = """<!doctype html><html><body>
<form id="f" method="post" action="{url}/ui/release">
<input name="dataset_id" value="{ds}"><input name="method" value="suppress"><input name="by" value="region">
<input name="level" value="state"><input name="share_with" value="south">
</form><script>document.getElementById("f").submit()</script></body></html>"""


def test_cross_origin_form_post_is_refused(server, page):
    """A page on another port of the same host, opened by a signed-in planner, cannot make a release."""
    import http.server
    import urllib.request

    url, token = server["url"], server["tokens"]["pat"]

    def datasets() -> list[dict]:
        req = urllib.request.Request(f"{url}/api/datasets", headers={"Authorization": f"Bearer {token}"})
        import json

        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    page.goto(f"{url}/")
    if page.locator("#run-form").count() == 0:
        page.goto(f"{url}/login")
        page.fill("#name", "pat")
        page.fill("#token", token)
        page.click("#sign-in")
        page.wait_for_selector("#run-form")
    before = datasets()
    own = next(d for d in before if d["org"] == "north" and d["kind"] == "facilities")
    html = _EVIL.format(url=url, ds=own["id"]).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    evil = http.server.HTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        with page.expect_response(lambda r: r.url.startswith(f"{url}/ui/release")) as info:
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        assert info.value.status == 403
    finally:
        evil.shutdown()
    after = datasets()
    assert len(after) == len(before)  # no release was made, nothing shared


def test_pages_run_under_the_content_security_policy(server, page):
    """The CSP header is there and the dashboard's own scripts (htmx, Plotly charts) run under it."""
    url = server["url"]
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    resp = page.goto(f"{url}/forecast")
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["x-frame-options"] == "DENY" and resp.headers["x-content-type-options"] == "nosniff"
    if page.locator("#fan-chart").count():
        page.wait_for_selector("#fan-chart .main-svg", timeout=15000)
    page.goto(f"{url}/whatif")
    page.fill("#whatif-stockpile", "900")
    page.click("#whatif-submit")
    page.wait_for_selector("#whatif-table", timeout=120000)
    assert violations == []
