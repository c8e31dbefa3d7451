"""The problems API through HTTP: lists and filters, detail, transition errors, counts, and the
routing table. Every error asserts its JSON body."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, Problem, ProblemSource, Report, Role, RoutingRule, utcnow
from backend.services import problems as problem_service
from backend.services.auth import actor_for_user
from tests.factories import PhotoFactory, user_with_role
from tests.helpers import make_problem
from tests.unit.test_photo_service import make_visit


def _open(household, *, area="water", check_key="water_quality", status="assigned", **kw):
    title = kw.pop("title", "饮用水水质不达标")
    return make_problem(household, title, status=status, area=area, check_key=check_key, **kw)


@pytest.fixture
def world(town):
    """Three problems in the town and one far away; an office user of 镇民政办."""
    water = _open(town.household)
    report = _open(
        town.household,
        area="housing",
        check_key=None,
        status="reported",
        source=ProblemSource.VILLAGER_REPORT,
        title="房屋漏雨",
    )
    food = _open(town.other_household, area="food_clothing", check_key="food_secure", title="缺粮")
    far = _open(town.far_household)
    mzb = user_with_role(Role.OFFICE, town.town, office_code="mzb", display_name="民政办")
    return {"water": water, "report": report, "food": food, "far": far, "mzb": mzb}


def _ids(resp) -> list[int]:
    assert resp.status_code == 200, resp.json
    return [item["id"] for item in resp.json["items"]]


def _error(resp, status, code, message=None):
    assert resp.status_code == status, resp.json
    error = resp.json["error"]
    assert error["code"] == code
    assert error["message"] == (message or error["message"]) and error["message"]
    return error


# --- list ---------------------------------------------------------------------------------------


def test_list_filters_and_pagination(client, town, login, world):
    headers = login(town.town_admin)
    get = lambda q="": client.get(f"/api/v1/problems{q}", headers=headers)  # noqa: E731
    water, report, food = world["water"].id, world["report"].id, world["food"].id

    assert sorted(_ids(get())) == sorted([water, report, food])
    assert sorted(_ids(get("?status=assigned"))) == sorted([water, food])
    assert sorted(_ids(get("?status=reported,assigned"))) == sorted([water, report, food])
    assert sorted(_ids(get("?status=reported&status=closed"))) == [report]
    assert _ids(get("?office=mzb")) == [food]
    assert _ids(get("?area=housing")) == [report]
    assert sorted(_ids(get(f"?village_id={town.other_village.id}"))) == [food]
    assert _ids(get("?source=villager_report")) == [report]
    assert sorted(_ids(get(f"?household_id={town.household.id}"))) == sorted([water, report])
    assert _ids(get("?q=漏雨")) == [report]
    assert _ids(get(f"?q={town.other_household.number}")) == [food]

    world["food"].deadline_at = utcnow() - timedelta(days=2)
    db.session.flush()
    assert _ids(get("?overdue=true")) == [food]
    assert food not in _ids(get("?overdue=false"))

    page = get("?page=2&page_size=2")
    assert page.status_code == 200
    assert (page.json["total"], page.json["page"], page.json["page_size"]) == (3, 2, 2)
    assert len(page.json["items"]) == 1


def test_list_item_masks_the_head_name(client, town, login, world):
    resp = client.get(
        f"/api/v1/problems?household_id={town.household.id}", headers=login(town.village_cadre)
    )
    text = resp.get_data(as_text=True)
    assert town.household.head_name not in text
    item = next(i for i in resp.json["items"] if i["id"] == world["report"].id)
    assert item["head_name"] == town.household.head_name[0] + "*" * (
        len(town.household.head_name) - 1
    )
    assert (item["status"], item["status_label"]) == ("reported", "已反映")
    assert item["allowed_actions"] == ["accept", "reject", "merge"]
    assert item["area_label"] == "住房安全" and item["office_code"] == "ghjs"


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=bogus", "status"), ("source=gossip", "source"), ("page_size=501", "page_size")],
)
def test_list_rejects_bad_filters(client, town, login, query, field):
    resp = client.get(f"/api/v1/problems?{query}", headers=login(town.town_admin))
    error = _error(resp, 422, "request.validation", "提交的数据有误，请检查后重试。")
    assert field in error["fields"]["query"]


def test_anonymous_gets_401(client, town):
    for url in ("/api/v1/problems", "/api/v1/problems/counts", "/api/v1/routing-rules"):
        _error(client.get(url), 401, "auth.required", "请先登录。")


# --- detail -------------------------------------------------------------------------------------


def test_detail_has_timeline_photos_and_linked_reports(client, town, login, world):
    problem = world["report"]
    cadre = actor_for_user(user=town.village_cadre)
    problem_service.transition_problem(actor=cadre, problem=problem, action="accept")
    report = Report(
        receipt_code="R8K2M4Q7",
        household_id=town.household.id,
        region_path=town.household.region_path,
        area="housing",
        description="屋顶漏雨",
        channel="web",
        problem_id=problem.id,
    )
    db.session.add(report)
    photo = PhotoFactory(uploader_id=None, problem_id=problem.id, purpose="other")
    problem.photo_ids = [photo.id]
    db.session.flush()

    resp = client.get(f"/api/v1/problems/{problem.id}", headers=login(town.inspector))
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["status"] == "accepted"
    assert [(e["action"], e["to_status"]) for e in body["timeline"]] == [
        ("open", "reported"),
        ("accept", "accepted"),
    ]
    accept = body["timeline"][1]
    assert (accept["actor_label"], accept["actor_role"], accept["actor_role_label"]) == (
        "村干部",
        "village_cadre",
        "村支两委",
    )
    assert accept["action_label"] == "受理" and accept["to_status_label"] == "村已受理"
    assert [p["id"] for p in body["photos"]] == [photo.id]
    assert body["photos"][0]["thumb_url"].startswith("https://hhq.example.cn/")
    assert body["photos"][0]["display_url"] != body["photos"][0]["thumb_url"]
    assert body["reports"] == [
        {
            "id": report.id,
            "receipt_code": "R8K2M4Q7",
            "channel": "web",
            "description": "屋顶漏雨",
            "linked": False,
            "created_at": body["reports"][0]["created_at"],
        }
    ]
    assert body["household"]["head_name"] == town.household.head_name
    assert body["household"]["village_name"] == "石桥村"
    assert body["allowed_actions"] == []  # an inspector does not act before the town review


def test_unknown_and_out_of_scope_problems_are_404(client, town, login, world):
    cases = [
        (town.town_admin, 999_999),
        (town.town_admin, world["far"].id),
        (world["mzb"], world["water"].id),  # another office cannot see it at all
        (town.village_cadre, world["food"].id),  # another village
        (town.helper, world["food"].id),  # not their household
    ]
    for user, problem_id in cases:
        for resp in (
            client.get(f"/api/v1/problems/{problem_id}", headers=login(user)),
            client.post(
                f"/api/v1/problems/{problem_id}/transitions",
                json={"action": "start"},
                headers=login(user),
            ),
        ):
            _error(resp, 404, "problem.not_found", "问题不存在或您无权查看。")
            assert "details" not in resp.json["error"]


# --- transitions --------------------------------------------------------------------------------


def _act(client, headers, problem_id, **body):
    return client.post(f"/api/v1/problems/{problem_id}/transitions", json=body, headers=headers)


def test_illegal_transition_is_409_with_the_allowed_list(client, town, login, world):
    resp = _act(client, login(town.office), world["water"].id, action="rectify", note="好了")
    error = _error(resp, 409, "problem.transition_not_allowed", "问题当前状态不允许此操作。")
    assert error["details"] == {"status": "assigned", "action": "rectify", "allowed": ["start"]}
    resp = _act(client, login(town.town_admin), world["water"].id, action="close")
    error = _error(resp, 409, "problem.transition_not_allowed")
    assert error["details"]["allowed"] == ["reassign", "merge"]
    assert db.session.get(Problem, world["water"].id).status == "assigned"


def test_wrong_role_is_403(client, town, login, world):
    for user in (town.village_cadre, town.helper, town.town_admin, town.inspector):
        resp = _act(client, login(user), world["water"].id, action="start")
        error = _error(resp, 403, "problem.role_not_allowed", "您的角色不能对此问题执行此操作。")
        assert error["details"]["action"] == "start"
        assert error["details"]["roles"] == ["office"]
    assert error["details"]["allowed"] == []  # the inspector can do nothing here


def test_rectify_without_evidence_is_422(client, town, login, world):
    office = login(town.office)
    problem_id = world["water"].id
    assert _act(client, office, problem_id, action="start").status_code == 200
    resp = _act(client, office, problem_id, action="rectify", note="已整改")
    error = _error(resp, 422, "problem.evidence_required", "整改完成须附整改照片和说明。")
    assert error["fields"] == {"json": {"photo_ids": ["整改完成须上传整改后的照片作为证据。"]}}

    photo = PhotoFactory(uploader_id=town.office.id, purpose="evidence")
    resp = _act(client, office, problem_id, action="rectify", note="  ", photo_ids=[photo.id])
    error = _error(resp, 422, "problem.transition_invalid", "操作信息不完整，请检查后重试。")
    assert error["fields"] == {"json": {"note": ["请填写说明。"]}}

    foreign = PhotoFactory(uploader_id=town.helper.id, purpose="evidence")
    resp = _act(client, office, problem_id, action="rectify", note="已整改", photo_ids=[foreign.id])
    error = _error(resp, 422, "problem.photo_invalid")
    assert error["details"] == {"photo_ids": [foreign.id]}
    assert db.session.get(Problem, problem_id).status == "rectifying"


def test_assign_and_merge_need_what_they_name(client, town, login, world):
    admin = login(town.town_admin)
    report = world["report"]
    report.status = "town_review"
    db.session.flush()
    resp = _act(client, admin, report.id, action="assign", office_code="nosuch")
    error = _error(resp, 422, "problem.transition_invalid")
    assert error["fields"] == {"json": {"office_code": ["责任单位不存在。"]}}
    resp = _act(client, admin, report.id, action="merge", target_problem_id=world["food"].id)
    error = _error(resp, 422, "problem.transition_invalid")
    assert error["fields"] == {
        "json": {"target_problem_id": ["请选择同一户尚未销号的另一个问题。"]}
    }

    resp = _act(client, admin, report.id, action="merge", target_problem_id=world["water"].id)
    assert resp.status_code == 200, resp.json
    assert (resp.json["status"], resp.json["merged_into_id"]) == ("merged", world["water"].id)
    water = client.get(f"/api/v1/problems/{world['water'].id}", headers=admin).json
    assert water["timeline"][-1]["action"] == "merged_in"


def test_bad_transition_bodies_are_422(client, town, login, world):
    admin = login(town.town_admin)
    resp = _act(client, admin, world["water"].id, action="teleport")
    error = _error(resp, 422, "request.validation")
    assert "action" in error["fields"]["json"]
    resp = _act(client, admin, world["water"].id)
    assert _error(resp, 422, "request.validation")["fields"]["json"]["action"] == [
        "必填项不能为空。"
    ]

    other_visit = make_visit(town.other_household, town.other_helper)
    resp = _act(
        client,
        admin,
        world["water"].id,
        action="reassign",
        office_code="mzb",
        note="改派",
        visit_id=other_visit.id,
    )
    error = _error(resp, 422, "problem.transition_invalid")
    assert error["fields"] == {"json": {"visit_id": ["请选择该户的一次走访。"]}}


def test_reassign_moves_the_problem_to_the_other_office(client, town, login, world):
    resp = _act(
        client,
        login(town.town_admin),
        world["water"].id,
        action="reassign",
        office_code="mzb",
        note="属民政办职责",
    )
    assert resp.status_code == 200, resp.json
    assert (resp.json["office_code"], resp.json["office_name"]) == ("mzb", "镇民政办")
    assert resp.json["timeline"][-1]["data"] == {"from_office": "nyfw", "office_code": "mzb"}
    _error(
        client.get(f"/api/v1/problems/{world['water'].id}", headers=login(town.office)),
        404,
        "problem.not_found",
    )
    assert world["water"].id in _ids(client.get("/api/v1/problems", headers=login(world["mzb"])))


# --- counts and areas ----------------------------------------------------------------------------


def test_counts_by_office_and_village(client, town, login, world):
    world["water"].deadline_at = utcnow() - timedelta(hours=3)
    db.session.flush()
    headers = login(town.town_admin)
    resp = client.get("/api/v1/problems/counts?by=office", headers=headers)
    assert resp.status_code == 200, resp.json
    rows = {r["key"]: r for r in resp.json["rows"]}
    assert rows["nyfw"]["by_status"]["assigned"] == 1
    assert (rows["nyfw"]["open"], rows["nyfw"]["overdue"], rows["nyfw"]["total"]) == (1, 1, 1)
    assert (rows["ghjs"]["label"], rows["ghjs"]["by_status"]["reported"]) == (
        "镇规划建设管理环保办",
        1,
    )
    assert resp.json["total"]["total"] == 3 and resp.json["total"]["overdue"] == 1
    assert resp.json["statuses"][0] == {"status": "reported", "label": "已反映"}

    resp = client.get("/api/v1/problems/counts?by=village", headers=headers)
    rows = {r["label"]: r for r in resp.json["rows"]}
    assert (rows["石桥村"]["total"], rows["石桥村"]["open"], rows["石桥村"]["overdue"]) == (2, 2, 1)
    assert rows["观音村"]["total"] == 1

    resp = client.get("/api/v1/problems/counts?by=household", headers=headers)
    assert "by" in _error(resp, 422, "request.validation")["fields"]["query"]


def test_areas_for_pickers(client, town, login):
    resp = client.get("/api/v1/problems/areas", headers=login(town.helper))
    assert resp.status_code == 200
    assert {"area": "water", "label": "饮水安全"} in resp.json
    assert {"area": "other", "label": "其他"} in resp.json
    assert len({a["area"] for a in resp.json}) == len(resp.json)


# --- routing table ------------------------------------------------------------------------------


def test_any_staff_reads_the_routing_table(client, town, login):
    resp = client.get("/api/v1/routing-rules", headers=login(town.helper))
    assert resp.status_code == 200
    water = next(r for r in resp.json if (r["area"], r["check_key"]) == ("water", ""))
    assert water["office_codes"] == ["nyfw"]
    assert water["offices"] == [{"code": "nyfw", "name": "镇农业服务中心"}]
    assert (water["area_label"], water["deadline_days"]) == ("饮水安全", 30)


def test_town_admin_adds_a_check_rule_and_new_problems_follow_it(client, town, login):
    body = {
        "area": "water",
        "check_key": "water_convenience",
        "area_label": "饮水安全",
        "office_codes": ["ghjs", "nyfw"],
        "deadline_days": 20,
    }
    resp = client.post("/api/v1/routing-rules", json=body, headers=login(town.town_admin))
    assert resp.status_code == 201, resp.json
    assert resp.json["office_codes"] == ["ghjs", "nyfw"]
    assert resp.json["updated_by_id"] == town.town_admin.id
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "routing_rule.create"))
    assert audit.target_id == str(resp.json["id"]) and audit.actor_user_id == town.town_admin.id
    assert audit.detail["after"]["office_codes"] == ["ghjs", "nyfw"]

    problem = _open(town.household, check_key="water_convenience", title="取水不便")
    assert problem.office_code == "ghjs"
    days = (problem.deadline_at - problem.opened_at).days
    assert days == 20

    again = client.post("/api/v1/routing-rules", json=body, headers=login(town.town_admin))
    error = _error(
        again, 409, "routing.conflict", "该类别（检查项）已有路由规则，请直接修改原规则。"
    )
    assert error["details"] == {"id": resp.json["id"]}


def test_town_admin_updates_a_rule_audited(client, town, login):
    rule = db.session.scalar(
        select(RoutingRule).where(RoutingRule.area == "water", RoutingRule.check_key == "")
    )
    body = {
        "area": "water",
        "area_label": "饮水安全保障",
        "office_codes": ["nyfw", "ghjs"],
        "deadline_days": 45,
    }
    resp = client.put(f"/api/v1/routing-rules/{rule.id}", json=body, headers=login(town.town_admin))
    assert resp.status_code == 200, resp.json
    assert (resp.json["area_label"], resp.json["deadline_days"]) == ("饮水安全保障", 45)
    assert resp.json["check_key"] == ""
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "routing_rule.update"))
    assert audit.detail["before"]["deadline_days"] == 30
    assert audit.detail["after"]["office_codes"] == ["nyfw", "ghjs"]
    assert audit.target_type == "routing_rule"

    areas = client.get("/api/v1/problems/areas", headers=login(town.office)).json
    assert {"area": "water", "label": "饮水安全保障"} in areas


@pytest.mark.parametrize("role", ["helper", "village_cadre", "office", "inspector", "district"])
def test_only_the_town_admin_changes_the_routing_table(client, town, login, role):
    body = {"area": "pension", "area_label": "养老", "office_codes": ["mzb"], "deadline_days": 10}
    headers = login(town.users_by_role()[role])
    _error(
        client.post("/api/v1/routing-rules", json=body, headers=headers),
        403,
        "auth.forbidden",
        "您无权执行此操作。",
    )
    rule_id = db.session.scalar(select(RoutingRule.id).where(RoutingRule.area == "water"))
    _error(
        client.put(f"/api/v1/routing-rules/{rule_id}", json=body, headers=headers),
        403,
        "auth.forbidden",
    )


@pytest.mark.parametrize(
    ("change", "code", "field", "message"),
    [
        (
            {"office_codes": ["nosuch"]},
            "routing.invalid",
            "office_codes",
            "责任单位不存在：nosuch。",
        ),
        ({"office_codes": ["mzb", "mzb"]}, "routing.invalid", "office_codes", "责任单位不能重复。"),
        ({"area": "Water Supply"}, "routing.invalid", "area", None),
        (
            {"area_label": "   "},
            "routing.invalid",
            "area_label",
            "请填写类别名称（不超过64个字）。",
        ),
        ({"office_codes": []}, "request.validation", "office_codes", "请选择1至10个责任单位。"),
        ({"deadline_days": 0}, "request.validation", "deadline_days", "整改期限应为1至365天。"),
        ({"deadline_days": 366}, "request.validation", "deadline_days", "整改期限应为1至365天。"),
        ({"area_label": None}, "request.validation", "area_label", "该项不能为空。"),
    ],
)
def test_routing_rule_validation(client, town, login, change, code, field, message):
    body = {"area": "pension", "area_label": "养老", "office_codes": ["mzb"], "deadline_days": 10}
    body.update(change)
    resp = client.post("/api/v1/routing-rules", json=body, headers=login(town.town_admin))
    error = _error(resp, 422, code)
    messages = error["fields"]["json"][field]
    if message is not None:
        assert messages == [message]
    assert db.session.scalar(select(RoutingRule).where(RoutingRule.area == "pension")) is None


def test_routing_update_errors(client, town, login):
    headers = login(town.town_admin)
    body = {"area": "misc", "area_label": "其他", "office_codes": ["fpb"], "deadline_days": 15}
    resp = client.put("/api/v1/routing-rules/999999", json=body, headers=headers)
    _error(resp, 404, "routing.not_found", "路由规则不存在。")

    other = db.session.scalar(
        select(RoutingRule).where(RoutingRule.area == "other", RoutingRule.check_key == "")
    )
    resp = client.put(f"/api/v1/routing-rules/{other.id}", json=body, headers=headers)
    error = _error(resp, 422, "routing.invalid")
    assert error["fields"] == {"json": {"area": ["“其他”是兜底类别，不能修改其类别代码或检查项。"]}}

    water = db.session.scalar(
        select(RoutingRule).where(RoutingRule.area == "water", RoutingRule.check_key == "")
    )
    body = {"area": "housing", "area_label": "住房", "office_codes": ["ghjs"], "deadline_days": 30}
    resp = client.put(f"/api/v1/routing-rules/{water.id}", json=body, headers=headers)
    _error(resp, 409, "routing.conflict")
