"""The web dashboard through the Flask test client: login, scope, 403/404, CSRF, actions."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, AuthToken, Problem, Role, Visit
from backend.services import audit as audit_service
from backend.services import coverage as coverage_service
from backend.services.audit import record_event
from backend.services.auth import actor_for_user
from backend.services.clock import china_today
from backend.services.periods import month_period
from backend.web import charts
from backend.web.households import format_answer
from tests import factories
from tests.factories import PASSWORD
from tests.helpers import gps_fix, make_problem, submit_visit, visit_body
from tests.integration.test_photos import make_jpeg

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/web/login") -> str:
    """The CSRF token of the session, as a page's form carries it."""
    page = client.get(path)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def web_login(client, user, password: str = PASSWORD):
    """Sign in through the login form; returns the response."""
    token = csrf_token(client)
    return client.post(
        "/web/login",
        data={"username": user.username, "password": password, "csrf_token": token},
    )


@pytest.fixture
def signed_in(client):
    """Sign a user in on the test client."""

    def _sign_in(user):
        resp = web_login(client, user)
        assert resp.status_code == 303, resp.get_data(as_text=True)
        return client

    return _sign_in


def post_visit(client, login, user, household, *, minutes=20, changes=None):
    """Submit a visit through the API, ending an hour ago; returns its JSON."""
    ended_at = datetime.now(UTC) - timedelta(hours=1)
    gps = gps_fix(household, captured_at=ended_at - timedelta(minutes=1))
    body = visit_body(
        household, user, ended_at=ended_at, minutes=minutes, gps=gps, **(changes or {})
    )
    return submit_visit(client, login, user, body)


def error_code(resp) -> str | None:
    """The data-error-code of an error page."""
    match = re.search(r'data-error-code="([^"]*)"', resp.get_data(as_text=True))
    return match.group(1) if match else None


def audit_rows(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


# --- signing in ---------------------------------------------------------------------------------


def test_anonymous_people_are_sent_to_the_login_form(client, town):
    resp = client.get("/web/villages/1?period=2026-11")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/web/login?next=/web/villages/1")
    root = client.get("/")
    assert root.status_code == 302 and root.headers["Location"] == "/web/login"
    form = client.get("/web/login")
    assert form.status_code == 200
    assert "户户清工作台" in form.get_data(as_text=True)


def test_login_with_a_wrong_password_is_refused_and_audited(client, town):
    resp = web_login(client, town.town_admin, password="wrong-password")
    assert resp.status_code == 401
    assert "用户名或密码错误" in resp.get_data(as_text=True)
    failed = audit_rows("auth.login_failed")
    assert [row.subject for row in failed] == [town.town_admin.username]
    assert client.get("/web/").status_code == 302


def test_login_starts_a_session_like_the_api_login(client, town):
    resp = web_login(client, town.town_admin)
    assert resp.status_code == 303 and resp.headers["Location"] == "/web/"
    logins = audit_rows("auth.login")
    assert len(logins) == 1
    assert logins[0].actor_user_id == town.town_admin.id
    assert logins[0].detail == {"method": "password"}
    assert client.get("/").headers["Location"] == "/web/"
    page = client.get("/web/")
    assert page.status_code == 200
    assert "扶贫办" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_login_goes_on_to_a_dashboard_page_but_never_off_site(client, town):
    token = csrf_token(client)
    data = {"username": town.town_admin.username, "password": PASSWORD, "csrf_token": token}
    resp = client.post("/web/login", data={**data, "next": "/web/problems"})
    assert resp.headers["Location"] == "/web/problems"
    client.post("/web/logout", data={"csrf_token": csrf_token(client, "/web/")})
    token = csrf_token(client)
    resp = client.post(
        "/web/login", data={**data, "csrf_token": token, "next": "//evil.example/web/"}
    )
    assert resp.headers["Location"] == "/web/"


def test_login_without_a_csrf_token_is_refused(client, town):
    resp = client.post(
        "/web/login", data={"username": town.town_admin.username, "password": PASSWORD}
    )
    assert resp.status_code == 400
    assert error_code(resp) == "web.csrf_failed"
    assert "页面已过期" in resp.get_data(as_text=True)
    assert audit_rows("auth.login") == []


def test_logout_revokes_the_token(client, town, signed_in):
    signed_in(town.inspector)
    token = csrf_token(client, "/web/")
    resp = client.post("/web/logout", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["Location"] == "/web/login"
    row = db.session.scalar(select(AuthToken).where(AuthToken.user_id == town.inspector.id))
    db.session.refresh(row)
    assert row.revoked_at is not None
    assert client.get("/web/").status_code == 302


def test_logout_needs_a_csrf_token(client, town, signed_in):
    signed_in(town.inspector)
    resp = client.post("/web/logout")
    assert resp.status_code == 400 and error_code(resp) == "web.csrf_failed"
    assert client.get("/web/").status_code == 200


def test_a_revoked_session_token_sends_back_to_login(client, town, signed_in):
    signed_in(town.town_admin)
    for row in db.session.scalars(select(AuthToken).where(AuthToken.user_id == town.town_admin.id)):
        row.revoked_at = datetime.now(UTC)
    db.session.flush()
    resp = client.get("/web/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/web/login"


# --- overview and drill-down ------------------------------------------------------------------


def test_overview_figures_are_the_coverage_services(client, town, login, signed_in):
    post_visit(client, login, town.helper, town.household)
    signed_in(town.town_admin)
    resp = client.get("/web/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    expected = coverage_service.get_coverage(
        actor=actor_for_user(user=town.town_admin), period=month_period(china_today())
    )["total"]
    assert expected["households"] == 2 and expected["visited"] == 1
    assert re.search(r'data-kpi="coverage">50\.0%<', html)
    assert f"/web/villages/{town.village.id}?period=" in html
    assert f"/web/villages/{town.other_village.id}?period=" in html
    assert "<svg" in html and "近12个月走访覆盖率与户户清率" in html


def test_office_overview_shows_problems_not_coverage(client, town, signed_in):
    make_problem(town.household, "测试问题", area="other", office_code="nyfw")
    signed_in(town.office)
    html = client.get("/web/").get_data(as_text=True)
    assert 'data-kpi="coverage"' not in html
    assert re.search(r'data-kpi="problems-open">1<', html)
    assert "户户清地图" not in html  # no map link for an office
    assert client.get("/web/map").status_code == 403


def test_village_page_lists_not_visited_and_not_cleared(client, town, login, signed_in):
    post_visit(client, login, town.other_helper, town.other_household)
    signed_in(town.town_admin)
    resp = client.get(f"/web/villages/{town.village.id}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    not_visited = html.split('data-list="not-visited"')[1].split("</section>")[0]
    assert town.household.number in not_visited
    not_cleared = html.split('data-list="not-cleared"')[1].split("</section>")[0]
    assert town.household.number in not_cleared and "未走访" in not_cleared
    assert town.household.head_name not in html  # lists mask names
    other = client.get(f"/web/villages/{town.other_village.id}").get_data(as_text=True)
    assert re.search(r'data-kpi="coverage">100\.0%<', other)


def test_village_page_scope(client, town, signed_in):
    signed_in(town.village_cadre)
    assert client.get(f"/web/villages/{town.village.id}").status_code == 200
    outside = client.get(f"/web/villages/{town.other_village.id}")
    assert outside.status_code == 404 and error_code(outside) == "region.not_found"
    unknown = client.get("/web/villages/999999")
    assert unknown.status_code == 404 and error_code(unknown) == "region.not_found"
    town_region = client.get(f"/web/villages/{town.town.id}")
    assert town_region.status_code == 422 and error_code(town_region) == "region.not_village"


def test_a_helper_cannot_open_a_village_page(client, town, signed_in):
    signed_in(town.helper)
    resp = client.get(f"/web/villages/{town.village.id}")
    assert resp.status_code == 403 and error_code(resp) == "auth.forbidden"


def test_an_invalid_period_is_a_422_page(client, town, signed_in):
    signed_in(town.town_admin)
    resp = client.get("/web/?period=2026-13")
    assert resp.status_code == 422 and error_code(resp) == "period.invalid"
    assert "月份应在 1 到 12 之间" in resp.get_data(as_text=True)
    bad = client.get("/web/?region_id=abc")
    assert bad.status_code == 422 and error_code(bad) == "request.validation"


def test_map_draws_the_scope_with_village_outlines(client, town, login, signed_in):
    post_visit(client, login, town.helper, town.household)
    signed_in(town.town_admin)
    html = client.get("/web/map").get_data(as_text=True)
    assert html.count('class="hh ') == 2
    assert 'class="hh cleared"' in html and 'class="hh not_visited"' in html
    assert "石桥村" in html and "观音村" in html
    assert f"/web/households/{town.household.id}?period=" in html
    assert town.household.head_name not in html
    far = client.get(f"/web/map?region_id={town.far_village.id}")
    assert far.status_code == 403 and error_code(far) == "auth.forbidden"


# --- household --------------------------------------------------------------------------------


def test_household_page_masks_until_revealed_and_audits_the_reveal(client, town, login, signed_in):
    post_visit(client, login, town.helper, town.household)
    head = town.household.members[0]
    signed_in(town.village_cadre)
    html = client.get(f"/web/households/{town.household.id}").get_data(as_text=True)
    assert head.id_number not in html and head.id_number[-4:] in html
    assert town.household.phone not in html
    assert 'data-action="reveal"' in html
    assert "住房" in html and "/media/" in html  # photos, by signed links
    assert 'data-status="cleared"' in html
    assert audit_rows("pii.read") == []

    token = csrf_token(client, f"/web/households/{town.household.id}")
    resp = client.post(f"/web/households/{town.household.id}/reveal", data={"csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert head.id_number in html and town.household.phone in html
    assert "已记入审计日志" in html
    rows = audit_rows("pii.read")
    assert [(r.actor_user_id, r.target_id, r.detail["via"]) for r in rows] == [
        (town.village_cadre.id, str(town.household.id), "household")
    ]
    # A link followed from the revealed page (its pager, its month) lands on the masked page.
    back = client.get(f"/web/households/{town.household.id}/reveal?page=2")
    assert back.status_code == 302
    assert back.headers["Location"] == f"/web/households/{town.household.id}?page=2"
    assert len(audit_rows("pii.read")) == 1


def test_reveal_needs_csrf_and_a_pii_role(client, town, signed_in):
    signed_in(town.office)
    page = client.get(f"/web/households/{town.household.id}").get_data(as_text=True)
    assert 'data-action="reveal"' not in page
    no_token = client.post(f"/web/households/{town.household.id}/reveal")
    assert no_token.status_code == 400 and error_code(no_token) == "web.csrf_failed"
    token = csrf_token(client, "/web/")
    resp = client.post(f"/web/households/{town.household.id}/reveal", data={"csrf_token": token})
    assert resp.status_code == 403 and error_code(resp) == "auth.forbidden"
    assert audit_rows("pii.read") == []


def test_household_scope_is_404_outside(client, town, signed_in):
    signed_in(town.helper)
    assert client.get(f"/web/households/{town.household.id}").status_code == 200
    for household_id in (town.other_household.id, town.far_household.id, 999999):
        resp = client.get(f"/web/households/{household_id}")
        assert resp.status_code == 404 and error_code(resp) == "household.not_found"


# --- problems ---------------------------------------------------------------------------------


@pytest.fixture
def assigned_problem(town):
    problem = make_problem(town.household, "院坝排水不畅", area="other", office_code="nyfw")
    db.session.flush()
    return problem


def _transition(client, problem_id, action, **extra):
    token = csrf_token(client, "/web/problems")
    data = {"csrf_token": token, "action": action, "next": "/web/problems", **extra}
    return client.post(f"/web/problems/{problem_id}/transitions", data=data)


def test_problem_board_filters_and_offers_the_allowed_transitions(
    client, town, assigned_problem, signed_in
):
    signed_in(town.office)
    html = client.get("/web/problems").get_data(as_text=True)
    assert f'data-problem="{assigned_problem.id}"' in html
    assert 'data-action-form="start"' in html
    assert 'data-action-form="verify"' not in html
    closed = client.get("/web/problems?status=closed").get_data(as_text=True)
    assert f'data-problem="{assigned_problem.id}"' not in closed
    bad = client.get("/web/problems?status=nonsense")
    assert bad.status_code == 422 and error_code(bad) == "request.validation"


def test_office_starts_and_rectifies_with_evidence(client, town, assigned_problem, signed_in):
    signed_in(town.office)
    resp = _transition(client, assigned_problem.id, "start", note="已安排施工")
    assert resp.status_code == 303 and resp.headers["Location"] == "/web/problems"
    db.session.refresh(assigned_problem)
    assert assigned_problem.status == "rectifying"
    assert "已办理：开始整改" in client.get("/web/problems").get_data(as_text=True)

    missing = _transition(client, assigned_problem.id, "rectify", note="已疏通")
    assert missing.status_code == 303
    db.session.refresh(assigned_problem)
    assert assigned_problem.status == "rectifying"
    page = client.get("/web/problems").get_data(as_text=True)
    assert "整改完成须上传整改后的照片作为证据" in page

    token = csrf_token(client, f"/web/problems/{assigned_problem.id}")
    resp = client.post(
        f"/web/problems/{assigned_problem.id}/transitions",
        data={
            "csrf_token": token,
            "action": "rectify",
            "note": "排水沟已疏通",
            "photos": (io.BytesIO(make_jpeg(1)), "after.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"/web/problems/{assigned_problem.id}"
    db.session.refresh(assigned_problem)
    assert assigned_problem.status == "rectified"
    detail = client.get(f"/web/problems/{assigned_problem.id}").get_data(as_text=True)
    assert "整改完成" in detail and "/media/" in detail
    transitions = audit_rows("problem.transition")
    assert [r.detail["action"] for r in transitions] == ["start", "rectify"]


def test_a_bad_evidence_file_is_refused_on_the_page(client, town, assigned_problem, signed_in):
    signed_in(town.office)
    _transition(client, assigned_problem.id, "start")
    token = csrf_token(client, "/web/problems")
    resp = client.post(
        f"/web/problems/{assigned_problem.id}/transitions",
        data={
            "csrf_token": token,
            "action": "rectify",
            "note": "已整改",
            "photos": (io.BytesIO(b"not a picture at all"), "note.txt"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 303
    assert "文件不是图片" in client.get("/web/problems").get_data(as_text=True)
    db.session.refresh(assigned_problem)
    assert assigned_problem.status == "rectifying"


def test_transition_errors(client, town, assigned_problem, signed_in):
    signed_in(town.helper)  # sees the problem (their household) but holds no role over it
    resp = _transition(client, assigned_problem.id, "start")
    assert resp.status_code == 403 and error_code(resp) == "problem.role_not_allowed"
    far = make_problem(town.far_household, "远方", status="reported", area="other")
    db.session.flush()
    outside = _transition(client, far.id, "accept")
    assert outside.status_code == 404 and error_code(outside) == "problem.not_found"
    no_token = client.post(
        f"/web/problems/{assigned_problem.id}/transitions", data={"action": "start"}
    )
    assert no_token.status_code == 400 and error_code(no_token) == "web.csrf_failed"
    db.session.refresh(assigned_problem)
    assert assigned_problem.status == "assigned"
    assert client.get("/web/problems/999999").status_code == 404


def test_a_transition_from_the_wrong_state_is_flashed(client, town, assigned_problem, signed_in):
    signed_in(town.town_admin)
    resp = _transition(client, assigned_problem.id, "close")
    assert resp.status_code == 303
    html = client.get("/web/problems").get_data(as_text=True)
    assert "问题当前状态不允许此操作" in html


# --- review, spot-checks, exports, audit ------------------------------------------------------


def test_review_queue_and_verdict(client, town, login, signed_in):
    visit = post_visit(client, login, town.helper, town.household, minutes=2)
    assert visit["flags"]
    signed_in(town.town_admin)
    html = client.get("/web/review").get_data(as_text=True)
    assert f'data-review-visit="{visit["id"]}"' in html
    assert "走访时长过短" in html and "<svg" in html
    token = csrf_token(client, "/web/review")
    no_note = client.post(
        f"/web/review/{visit['id']}", data={"csrf_token": token, "status": "invalid"}
    )
    assert no_note.status_code == 303
    assert "判定走访无效时须填写说明" in client.get("/web/review").get_data(as_text=True)
    resp = client.post(
        f"/web/review/{visit['id']}",
        data={"csrf_token": token, "status": "invalid", "note": "电话回访未走访"},
    )
    assert resp.status_code == 303
    row = db.session.get(Visit, visit["id"])
    db.session.refresh(row)
    assert row.review_status == "invalid" and row.review_note == "电话回访未走访"
    assert [r.detail["to"] for r in audit_rows("visit.review")] == ["invalid"]
    unknown = client.post("/web/review/999999", data={"csrf_token": token, "status": "valid"})
    assert unknown.status_code == 404 and error_code(unknown) == "visit.not_found"


def test_review_and_audit_pages_are_for_their_roles(client, town, signed_in):
    signed_in(town.helper)
    html = client.get("/web/").get_data(as_text=True)
    assert 'href="/web/review' not in html and 'href="/web/audit' not in html
    for path in ("/web/review", "/web/spot-checks", "/web/audit"):
        resp = client.get(path)
        assert resp.status_code == 403, path
        assert error_code(resp) == "auth.forbidden"


def test_spot_check_drawn_and_recorded(client, town, login, signed_in):
    visit = post_visit(client, login, town.helper, town.household)
    signed_in(town.inspector)
    token = csrf_token(client, "/web/spot-checks")
    resp = client.post(
        "/web/spot-checks",
        data={
            "csrf_token": token,
            "region_id": town.town.id,
            "period": china_today().strftime("%Y-%m"),
            "share_pct": "100",
        },
    )
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    item_id = re.search(r'data-item="(\d+)"', page).group(1)
    spot_check_path = resp.headers["Location"]
    again = client.post(
        "/web/spot-checks",
        data={
            "csrf_token": token,
            "region_id": town.town.id,
            "period": china_today().strftime("%Y-%m"),
        },
    )
    assert again.headers["Location"] == spot_check_path
    bad_share = client.post(
        "/web/spot-checks",
        data={
            "csrf_token": token,
            "region_id": town.town.id,
            "period": "2026-11",
            "share_pct": "0",
        },
    )
    assert bad_share.status_code == 303
    assert "抽查比例应大于0" in client.get("/web/spot-checks").get_data(as_text=True)
    resp = client.post(
        f"{spot_check_path}/items/{item_id}",
        data={"csrf_token": token, "outcome": "not_confirmed", "note": "户主称本月无人走访"},
    )
    assert resp.status_code == 303
    row = db.session.get(Visit, visit["id"])
    db.session.refresh(row)
    assert row.review_status == "invalid"
    problem = db.session.scalar(select(Problem).where(Problem.source == "spot_check"))
    assert problem.office_code == "jw"


def test_export_streams_the_services_xlsx_in_scope(client, town, login, signed_in):
    post_visit(client, login, town.helper, town.household)
    signed_in(town.town_admin)
    page = client.get("/web/exports").get_data(as_text=True)
    assert 'data-download="households.xlsx"' in page
    resp = client.get("/web/exports/households.xlsx")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "attachment" in resp.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(resp.data), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("户编号", "户主姓名")
    numbers = {row[0] for row in rows[1:]}
    assert numbers == {town.household.number, town.other_household.number}
    assert town.household.head_name not in {row[1] for row in rows[1:]}
    assert [r.detail["format"] for r in audit_rows("export.households")] == ["xlsx"]


def test_export_errors_and_unmasking(client, town, signed_in):
    signed_in(town.helper)
    forbidden = client.get("/web/exports/coverage.xlsx")
    assert forbidden.status_code == 403 and error_code(forbidden) == "export.forbidden"
    region = client.get(f"/web/exports/households.csv?region_id={town.village.id}")
    assert region.status_code == 403 and error_code(region) == "export.forbidden"
    unknown = client.get("/web/exports/secrets.xlsx")
    assert unknown.status_code == 404 and error_code(unknown) == "export.unknown"
    no_token = client.post("/web/exports/households.xlsx", data={"unmask": "1"})
    assert no_token.status_code == 400 and error_code(no_token) == "web.csrf_failed"
    token = csrf_token(client, "/web/exports")
    resp = client.post("/web/exports/households.xlsx", data={"unmask": "1", "csrf_token": token})
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.data), read_only=True).active
    heads = [row[1] for row in list(sheet.iter_rows(values_only=True))[1:]]
    assert heads == [town.household.head_name]
    assert [r.detail["via"] for r in audit_rows("pii.read")] == ["export"]


def test_audit_viewer_filters(client, town, signed_in):
    signed_in(town.inspector)
    html = client.get("/web/audit?action=auth.").get_data(as_text=True)
    assert 'data-audit="auth.login"' in html and "登录" in html
    none = client.get("/web/audit?action=export.").get_data(as_text=True)
    assert "data-audit=" not in none
    bad = client.get("/web/audit?from=2026-02-30")
    assert bad.status_code == 422 and error_code(bad) == "request.validation"


def test_the_audit_page_shows_a_town_its_own_events_and_people_only(client, town, signed_in):
    neighbour = factories.RegionFactory(
        code="500151106", name="邻镇", level="town", parent=town.district
    )
    admin = factories.user_with_role(Role.TOWN_ADMIN, neighbour, display_name="邻镇扶贫办")
    record_event(actor=actor_for_user(user=admin), action="export.households")
    record_event(actor=actor_for_user(user=town.inspector), action="export.problems")
    db.session.commit()
    signed_in(town.town_admin)
    html = client.get("/web/audit").get_data(as_text=True)
    assert 'data-audit="export.problems"' in html and ">纪委</option>" in html
    assert "邻镇扶贫办" not in html and 'data-audit="export.households"' not in html
    # The district reads both towns, and may filter by either town's people.
    district = actor_for_user(user=town.district_user)
    names = [name for _id, name in audit_service.list_event_actors(actor=district, limit=300)]
    assert "邻镇扶贫办" in names and "纪委" in names


# --- pieces -------------------------------------------------------------------------------------


def test_convex_hull_and_projection():
    square = [(0, 0), (2, 0), (2, 2), (0, 2), (1, 1), (1, 0)]
    assert charts.convex_hull(square) == [(0, 0), (2, 0), (2, 2), (0, 2)]
    assert charts.convex_hull([(1, 1), (1, 1)]) == [(1, 1)]
    project = charts.fit_projection(
        [(29.80, 106.05), (29.82, 106.07)], width=1000, height=600, pad=50
    )
    x1, y1 = project(29.80, 106.05)
    x2, y2 = project(29.82, 106.07)
    assert 50 <= x1 < x2 <= 950 and 50 <= y2 < y1 <= 550  # north is up


def test_charts_escape_text():
    svg = charts.household_map(
        [charts.MapPoint(29.8, 106.05, "cleared", 1, "<script>", "/web/x?a=1&b=2")],
        {1: "石桥村<b>"},
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "&amp;b=2" in svg and "石桥村&lt;b&gt;" in svg
    trend = charts.trend_chart([charts.TrendPoint("11月", 50.0, None)])
    assert "50%" in trend


def test_answers_are_shown_in_words():
    question = {
        "key": "school_status",
        "per_member": True,
        "options": [{"value": "in_school", "label": "在校就读"}],
    }
    assert format_answer(question, {"7": "in_school"}, {"7": "张测三"}) == "张测三：在校就读"
    assert format_answer({"key": "food_secure"}, True, {}) == "是"
