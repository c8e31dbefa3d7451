"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a live app.

The app runs in a werkzeug server thread on a free loopback port, on a database of its own (a
temporary SQLite file, or a throwaway PostgreSQL database when the suite runs on PostgreSQL),
seeded with a small demo town and a few days of simulated field work (``seed.py``). Each test
opens its own browser context (its own cookies) at 1366×768, the town office's screen.

No browser is downloaded: ``playwright install`` is never run. Without /usr/bin/chromium the
tests are skipped locally, but not in CI (CI=true), where .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from backend.models import utcnow
from backend.services.demo import DEMO_PASSWORD
from tests.browser.seed import last_working_day, seed_town, simulate_field_work
from tests.live_app import SERVED_CONFIG, own_app, serve

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1366, "height": 768}
ROOT = Path(__file__).resolve().parents[2]

if not os.path.exists(CHROMIUM) and os.environ.get("CI") != "true":
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run "
        "the dashboard's browser tests (CI installs it and never skips them)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

pytestmark = pytest.mark.own_database


@dataclass
class Live:
    """The live app, where it answers, and the month the field work happened in."""

    url: str
    period: str
    end_day: date


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    """A small town with visits and problems, served over HTTP on a free loopback port."""
    tmp_path = tmp_path_factory.mktemp("dashboard")
    end_day = last_working_day(utcnow())
    with own_app(tmp_path, "dashboard", **SERVED_CONFIG) as app:
        seed_town(app, end_day=end_day)
        with serve(app) as base:
            simulate_field_work(base, end_day=end_day)
            yield Live(url=base, period=end_day.strftime("%Y-%m"), end_day=end_day)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--lang=zh-CN"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser, live):
    """A fresh browser context signed in as ``username``, at 1366×768."""
    contexts = []

    def _open(username: str) -> Page:
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{live.url}/")
        assert page.url.startswith(f"{live.url}/web/login")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url == f"{live.url}/web/", page.content()[:500]
        return page

    yield _open
    for context in contexts:
        context.close()


def api(live: Live, path: str, *, token: str | None = None, body: dict | None = None) -> dict:
    """Call the JSON API like any client."""
    request = urllib.request.Request(
        f"{live.url}/api/v1{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def api_token(live: Live, username: str) -> str:
    """A bearer token for ``username``, from the API's password login."""
    body = {"username": username, "password": DEMO_PASSWORD}
    return api(live, "/auth/login", body=body)["token"]


def artifacts_dir() -> Path:
    """Where test artifacts go: $HHQ_ARTIFACTS_DIR, or var/artifacts in the checkout."""
    folder = Path(os.environ.get("HHQ_ARTIFACTS_DIR") or ROOT / "var" / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_overview_coverage_matches_the_api_and_is_saved_as_a_screenshot(live, open_page, capsys):
    page = open_page("town_admin")
    # The month picker reloads the overview for the month of the field work.
    with page.expect_navigation():
        page.select_option("#period-input", live.period)
    assert f"period={live.period}" in page.url
    shown = page.inner_text('[data-kpi="coverage"]').strip()
    token = api_token(live, "town_admin")
    coverage = api(live, f"/coverage?period={live.period}", token=token)
    assert coverage["total"]["visited"] > 0
    assert shown == f"{coverage['total']['coverage_pct']:.1f}%"
    cleared = page.inner_text('[data-kpi="cleared"]').strip()
    rollup = api(live, f"/household-status/rollup?period={live.period}", token=token)
    assert cleared == f"{rollup['total']['cleared_pct']:.1f}%"
    assert page.locator("svg.trend polyline").count() == 2
    assert page.viewport_size == VIEWPORT
    path = artifacts_dir() / "overview.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\n[dashboard] overview screenshot: {path}")


def test_drill_into_a_village_and_open_a_household(live, open_page):
    page = open_page("town_admin")
    page.goto(f"{live.url}/web/?period={live.period}")
    link = page.locator('[data-table="regions"] tbody a').first
    village = link.inner_text().strip()
    with page.expect_navigation():
        link.click()
    assert "/web/villages/" in page.url
    assert page.inner_text("h1").startswith(village)
    token = api_token(live, "town_admin")
    region_id = int(page.url.split("/web/villages/")[1].split("?")[0])
    expected = api(live, f"/coverage?period={live.period}&region_id={region_id}", token=token)
    shown = page.inner_text('[data-kpi="coverage"]').strip()
    assert shown == f"{expected['total']['coverage_pct']:.1f}%"
    households = page.locator('[data-list="not-cleared"] tbody a')
    if households.count() == 0:
        households = page.locator('[data-list="not-visited"] tbody a')
    number = households.first.inner_text().strip()
    with page.expect_navigation():
        households.first.click()
    assert "/web/households/" in page.url
    assert number in page.inner_text("h1")
    assert page.locator("[data-status]").count() == 1
    assert page.locator("h2", has_text="走访记录").count() == 1
    assert page.locator("h2", has_text="家庭成员").count() == 1


def test_move_a_problem_through_one_transition(live, open_page):
    admin = api_token(live, "town_admin")
    assigned = api(live, "/problems?status=assigned&page_size=100", token=admin)["items"]
    assert assigned, "the simulated field work opened no assigned problem"
    problem = assigned[0]
    page = open_page(f"office_{problem['office_code']}")
    page.goto(f"{live.url}/web/problems?status=assigned")
    card = page.locator(f'[data-problem="{problem["id"]}"]')
    if card.count() == 0:  # not on the first page: look for it by its number
        page.goto(f"{live.url}/web/problems?status=assigned&q={problem['household_number']}")
    card.locator("details.actions summary").click()
    form = card.locator('form[data-action-form="start"]')
    form.locator("textarea[name=note]").fill("已安排人员上门整改")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "已办理：开始整改" in page.inner_text(".flash")
    after = api(live, f"/problems/{problem['id']}", token=admin)
    assert after["status"] == "rectifying"
    assert after["timeline"][-1]["action"] == "start"
    assert after["timeline"][-1]["note"] == "已安排人员上门整改"


def test_download_an_xlsx_ledger(live, open_page, tmp_path):
    page = open_page("town_admin")
    page.goto(f"{live.url}/web/exports?period={live.period}")
    with page.expect_download() as info:
        page.click('[data-download="households.xlsx"]')
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    saved = tmp_path / "households.xlsx"
    download.save_as(saved)
    sheet = load_workbook(saved, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("户编号", "户主姓名")
    token = api_token(live, "town_admin")
    coverage = api(live, f"/coverage?period={live.period}", token=token)
    assert len(rows) - 1 == coverage["total"]["households"]
