"""A helper's whole day with the mini-program's JS modules against the live service.

This launcher builds a fresh database (SQLite, or a throw-away PostgreSQL database when the
suite runs on PostgreSQL) with a small demo town, issues binding codes with the operator's
service (what ``flask hhq issue-binding-code`` calls), starts the fake WeChat server and gunicorn
on free loopback ports, and runs
``node --test miniprogram_stub/test/integration/`` against them. The Node test drives
lib/api.js, queue.js, scan.js, form.js, visit.js, report.js and problems.js like the pages do:
log in with a binding code, scan by ``q``, by ``scene`` and in-app, go offline, record three
visits with photos (one with a failing water check), restart the app, come back online with an
expired login, sync with a forced duplicate and a conflicting replay, send a villager report
and read its status, and let the office rectify the problem. Then the server state is checked
here: exact visit and photo counts, the problem opened, the report and the coverage figure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade
from sqlalchemy import func, select
from werkzeug.serving import make_server

from backend import create_app
from backend.extensions import db
from backend.models import (
    Assignment,
    CardStatus,
    Household,
    HouseholdCard,
    Photo,
    Problem,
    ProblemEvent,
    Report,
    User,
    Visit,
)
from backend.services.clock import CHINA_TZ
from backend.services.demo import build_demo_town
from backend.services.geo import wgs84_to_gcj02
from backend.services.wechat_auth import issue_binding_code_by_operator
from backend.wechat.fake_server import QuietRequestHandler, create_fake_wechat_app
from tests.live_app import own_database_url

pytestmark = pytest.mark.own_database

ROOT = Path(__file__).resolve().parents[2]
HELPER = "helper_01_01"
OFFICE = "office_nyfw"
NAMES = (HELPER, OFFICE)
DEMO_HOUSEHOLDS = 20
SECRET = "miniprogram-day-secret-0123456789"
PASSWORD = "Tuqiao-2020"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited early:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            # Only our server's 200 counts: anything else on the port is not it.
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer:\n{log.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class Day:
    """What the day left behind: the Node run, its results, the server and the database."""

    node: subprocess.CompletedProcess
    results: dict
    api_base: str
    app: object
    helper_id: int
    office_id: int
    households: list[dict]
    replaced_token: str


def _admin_token(api_base: str) -> str:
    """A bearer token of the demo town admin, from the API's password login."""
    return requests.post(
        f"{api_base}/api/v1/auth/login",
        json={"username": "town_admin", "password": PASSWORD},
        timeout=10,
    ).json()["token"]


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """Run the whole day once for the checks of this module."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the mini-program day needs `node`")
    tmp = tmp_path_factory.mktemp("miniprogram-day")
    # A database of its own: PostgreSQL when the suite runs there, dropped at the end.
    database = ExitStack()
    url = database.enter_context(own_database_url(tmp, "day"))
    # The fake WeChat server runs in this process (as in tests/wechat_fixtures.py). It binds
    # its port before the API's is chosen: the kernel may hand a port just probed free to the
    # next bind, and then the API's checks would reach the fake WeChat server.
    fake_wechat = make_server(
        "127.0.0.1", 0, create_fake_wechat_app(), threaded=True, request_handler=QuietRequestHandler
    )
    wechat_base = f"http://127.0.0.1:{fake_wechat.server_port}"
    port = _free_port()
    api_base = f"http://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HHQ_", "TEST_DATABASE"))},
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HHQ_ENV": "development",
        "HHQ_VAR_DIR": str(tmp / "var"),
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET,
        "STORAGE_BACKEND": "local",
        "LOCAL_STORAGE_DIR": str(tmp / "var" / "storage"),
        "PUBLIC_BASE_URL": api_base,
        "WECHAT_API_BASE": wechat_base,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    env.pop("RATELIMIT_STORAGE_URI", None)
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET,
            "PUBLIC_BASE_URL": api_base,
            "VAR_DIR": str(tmp / "var"),
            "LOCAL_STORAGE_DIR": str(tmp / "var" / "storage"),
        }
    )
    procs: list[subprocess.Popen] = []
    threading.Thread(target=fake_wechat.serve_forever, name="fake-wechat", daemon=True).start()
    try:
        # The town: migrations, a one-village demo town and the binding codes an operator
        # issues (`flask hhq issue-binding-code`), done in-process to spare three CLI starts.
        with app.app_context():
            upgrade()
            build_demo_town(households=DEMO_HOUSEHOLDS, villages=1, poor=4, seed=7)
            codes = {name: issue_binding_code_by_operator(username=name).code for name in NAMES}
            db.session.commit()
        gunicorn_args = ["--bind", f"127.0.0.1:{port}", "--workers", "1", "backend.wsgi:app"]
        server_log = tmp / "server.log"
        with server_log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [str(bindir / "gunicorn"), "-c", "gunicorn.conf.py", *gunicorn_args],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_for(api_base + "/healthz", procs[-1], server_log)

        with app.app_context():
            helper = db.session.scalar(select(User).where(User.username == HELPER))
            office = db.session.scalar(select(User).where(User.username == OFFICE))
            mine = db.session.scalars(
                select(Household)
                .join(Assignment, Assignment.household_id == Household.id)
                .where(Assignment.helper_id == helper.id, Assignment.end_date.is_(None))
                .order_by(Household.id)
            ).all()
            located = [h for h in mine if h.lat is not None and h.lon is not None]
            assert len(located) >= 3 and len(mine) >= 4, "the demo helper needs 4 households"
            chosen = located[:3]
            spare = next(h for h in mine if h not in chosen)
            tokens = {
                card.household_id: card.token
                for card in db.session.scalars(
                    select(HouseholdCard).where(HouseholdCard.status == CardStatus.ACTIVE)
                )
            }
            households = []
            for h in chosen:
                gcj_lat, gcj_lon = wgs84_to_gcj02(h.lat, h.lon)
                households.append(
                    {"id": h.id, "token": tokens[h.id], "gcj_lat": gcj_lat, "gcj_lon": gcj_lon}
                )
            helper_id, office_id, my_count = helper.id, office.id, len(mine)
            replaced_token = tokens[spare.id]

        # The town office reissues one card (lost): its old QR now answers 410.
        admin = _admin_token(api_base)
        reissued = requests.post(
            f"{api_base}/api/v1/households/{spare.id}/card/reissue",
            headers={"Authorization": f"Bearer {admin}"},
            timeout=10,
        )
        assert reissued.status_code == 201, reissued.text

        result_file = tmp / "day-results.json"
        node_env = {
            **env,
            "HHQ_IT_API_BASE": api_base,
            "HHQ_IT_PUBLIC_BASE": api_base,
            "HHQ_IT_WECHAT_BASE": wechat_base,
            "HHQ_IT_HELPER_USERNAME": HELPER,
            "HHQ_IT_BINDING_CODE": codes[HELPER],
            "HHQ_IT_OFFICE_USERNAME": OFFICE,
            "HHQ_IT_OFFICE_BINDING_CODE": codes[OFFICE],
            "HHQ_IT_HOUSEHOLDS": json.dumps(households),
            "HHQ_IT_MY_HOUSEHOLD_COUNT": str(my_count),
            "HHQ_IT_REPLACED_TOKEN": replaced_token,
            "HHQ_IT_RESULT": str(result_file),
        }
        run = subprocess.run(
            [node, "--test", "--test-reporter=spec", "miniprogram_stub/test/integration/"],
            cwd=ROOT,
            env=node_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        results = json.loads(result_file.read_text()) if result_file.exists() else {}
        yield Day(
            node=run,
            results=results,
            api_base=api_base,
            app=app,
            helper_id=helper_id,
            office_id=office_id,
            households=households,
            replaced_token=replaced_token,
        )
    finally:
        for proc in reversed(procs):
            _stop(proc)
        fake_wechat.shutdown()
        with app.app_context():
            db.engine.dispose()
        database.close()


def _counts(day: Day) -> dict:
    with day.app.app_context():
        visits = db.session.scalars(select(Visit).order_by(Visit.id)).all()
        return {
            "visits": visits,
            "photos": db.session.scalars(select(Photo).order_by(Photo.id)).all(),
            "problems": db.session.scalars(select(Problem).order_by(Problem.id)).all(),
            "reports": db.session.scalars(select(Report).order_by(Report.id)).all(),
            "visit_count": db.session.scalar(select(func.count()).select_from(Visit)),
        }


def test_node_drove_the_whole_day(day):
    output = day.node.stdout + day.node.stderr
    assert day.node.returncode == 0, output[-12000:]
    # Every step ran; only the steps whose endpoints a server lacks may be skipped.
    for step in ("login", "scan", "offline_visits", "restart", "sync", "duplicate", "conflict"):
        assert day.results.get("steps", {}).get(step) == "ok", (step, day.results, output[-4000:])


def test_exactly_three_visits_with_their_photos(day):
    state = _counts(day)
    visits = state["visits"]
    assert state["visit_count"] == 3
    assert [v.client_uuid for v in visits] == day.results["visit_uuids"]
    assert [v.household_id for v in visits] == [h["id"] for h in day.households]
    assert {v.helper_id for v in visits} == {day.helper_id}
    assert [v.failed_check_count for v in visits] == [0, 0, 1]
    for visit in visits:
        # GCJ-02 from the phone, stored as WGS-84 at the household's own location.
        assert visit.gps_coord == "gcj02"
        assert visit.distance_m is not None and visit.distance_m < 30, visit.distance_m
        assert visit.flags == [], visit.flags
    visit_photos = [p for p in state["photos"] if p.visit_id is not None]
    assert len(visit_photos) == 6
    by_visit = {v.id: sorted(p.purpose for p in visit_photos if p.visit_id == v.id) for v in visits}
    assert list(by_visit.values()) == [["house", "with_head"]] * 3
    assert {p.uploader_id for p in visit_photos} == {day.helper_id}
    assert sorted(p.client_uuid for p in visit_photos) == sorted(day.results["photo_uuids"])
    # Besides the visits' photos only the office's evidence and the villager's report photo.
    others = {p.id: p for p in state["photos"] if p.visit_id is None}
    expected: set[int] = set()
    with day.app.app_context():
        if day.results["steps"].get("office") == "ok":
            rectify = db.session.scalars(
                select(ProblemEvent).where(ProblemEvent.action == "rectify")
            ).all()
            assert len(rectify) == 1 and len(rectify[0].photo_ids) == 1
            expected.update(rectify[0].photo_ids)
            assert others[rectify[0].photo_ids[0]].purpose == "evidence"
            assert others[rectify[0].photo_ids[0]].uploader_id == day.office_id
        if day.results["steps"].get("report") == "ok":
            (report,) = state["reports"]
            assert len(report.photo_ids) == 1
            expected.update(report.photo_ids)
    assert set(others) == expected


def test_the_conflicting_replay_stayed_on_the_phone_with_the_chinese_message(day):
    held = day.results["held"]
    assert [h["client_uuid"] for h in held] == [day.results["visit_uuids"][1]]
    assert held[0]["code"] == "visit.conflict"
    assert held[0]["message"] == "该走访编号已提交过不同的内容，请勿重复使用编号。"
    assert day.results["duplicate_statuses"] == ["duplicate"]


def test_the_failing_water_check_opened_one_problem_for_the_office(day):
    state = _counts(day)
    from_visits = [p for p in state["problems"] if p.source == "visit_check"]
    assert len(from_visits) == 1
    problem = from_visits[0]
    assert problem.household_id == day.households[2]["id"]
    assert problem.check_key == "water_quality"
    assert problem.office_code == "nyfw"
    assert problem.source_visit_id == state["visits"][2].id
    if day.results["steps"].get("office") == "ok":
        assert problem.status == "rectified"
        assert day.results["office_problem_id"] == problem.id
    else:
        assert problem.status == "assigned"


def test_the_villager_report_is_stored_with_its_receipt(day):
    if day.results["steps"].get("report") != "ok":
        pytest.skip(f"villager report step: {day.results['steps'].get('report')}")
    state = _counts(day)
    assert len(state["reports"]) == 1
    report = state["reports"][0]
    assert report.receipt_code == day.results["receipt_code"]
    assert report.household_id == day.households[2]["id"]
    assert report.client_uuid == day.results["report_uuid"]
    assert len(report.photo_ids) == 1


def test_coverage_counts_the_three_visited_households(day):
    visits = _counts(day)["visits"]
    # The China month of the day's last visit (the three are minutes apart).
    period = visits[-1].ended_at.astimezone(CHINA_TZ).strftime("%Y-%m")
    in_period = sum(v.ended_at.astimezone(CHINA_TZ).strftime("%Y-%m") == period for v in visits)
    admin = _admin_token(day.api_base)
    resp = requests.get(
        f"{day.api_base}/api/v1/coverage",
        params={"period": period},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    if resp.status_code == 404 and resp.json()["error"]["code"] == "request.not_found":
        pytest.skip("GET /api/v1/coverage does not exist yet")
    assert resp.status_code == 200, resp.text
    total = resp.json()["total"]
    assert len(visits) == 3
    assert total["households"] == DEMO_HOUSEHOLDS
    assert total["visited"] == in_period
    assert total["coverage_pct"] == round(100.0 * in_period / DEMO_HOUSEHOLDS, 1)
