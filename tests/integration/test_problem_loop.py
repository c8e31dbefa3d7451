"""The whole loop through HTTP: a helper's visit fails the water-quality check, 镇农业服务中心
rectifies with evidence, the town verifies and closes (销号); later visits reopen and verify."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.extensions import db
from backend.models import Problem
from tests.helpers import gps_fix, submit_visit, visit_body
from tests.integration.test_photos import make_jpeg, relative, upload


def _visit(client, town, login, *, water_ok: bool, minutes_ago: int) -> dict:
    household, helper = town.household, town.helper
    end = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    gps = gps_fix(household, accuracy=10, captured_at=end - timedelta(minutes=5))
    body = visit_body(household, helper, ended_at=end, minutes=25, gps=gps, water_quality=water_ok)
    return submit_visit(client, login, helper, body)


def _act(client, headers, problem_id, **body):
    return client.post(f"/api/v1/problems/{problem_id}/transitions", json=body, headers=headers)


def test_visit_problem_is_rectified_verified_closed_reopened_and_offered(client, town, login):
    office, admin = login(town.office), login(town.town_admin)

    # 1. A helper's visit finds the water unsafe: the problem goes straight to 镇农业服务中心.
    first = _visit(client, town, login, water_ok=False, minutes_ago=60 * 24 * 3)
    assert first["failed_check_count"] == 1
    listed = client.get("/api/v1/problems", headers=office)
    assert listed.status_code == 200
    assert listed.json["total"] == 1
    item = listed.json["items"][0]
    problem_id = item["id"]
    assert item["household_id"] == town.household.id
    assert item["household_number"] == town.household.number
    assert item["head_name"] != town.household.head_name
    assert item["head_name"].startswith(town.household.head_name[0])
    assert (item["office_code"], item["office_name"]) == ("nyfw", "镇农业服务中心")
    assert (item["area"], item["area_label"], item["check_key"]) == (
        "water",
        "饮水安全",
        "water_quality",
    )
    assert (item["source"], item["source_label"]) == ("visit_check", "走访核查")
    assert (item["status"], item["status_label"]) == ("assigned", "已交办")
    assert item["title"] == "饮用水水质不达标"
    assert item["village"] == {"id": town.village.id, "name": "石桥村"}
    assert item["overdue"] is False and item["deadline_at"]
    assert item["allowed_actions"] == ["start"]

    # 2. The office starts, uploads its evidence photo and rectifies with a note.
    resp = _act(client, office, problem_id, action="start", note="已安排净水设备")
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "rectifying"
    assert resp.json["allowed_actions"] == ["rectify"]
    photo = upload(client, office, make_jpeg(4), purpose="evidence", household_id=town.household.id)
    assert photo.status_code == 201, photo.json
    assert photo.json["purpose"] == "evidence"
    note = "已安装净水设备，水质复检合格"
    resp = _act(
        client, office, problem_id, action="rectify", note=note, photo_ids=[photo.json["id"]]
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "rectified"
    assert [p["id"] for p in resp.json["photos"]] == [photo.json["id"]]
    evidence = resp.json["timeline"][-1]
    assert (evidence["action"], evidence["note"]) == ("rectify", note)
    assert [p["id"] for p in evidence["photos"]] == [photo.json["id"]]
    thumb = client.get(relative(evidence["photos"][0]["thumb_url"]))
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"

    # 3. The town verifies and closes it (销号).
    assert _act(client, admin, problem_id, action="verify", note="现场核验").status_code == 200
    resp = _act(client, admin, problem_id, action="close")
    assert resp.status_code == 200, resp.json
    assert (resp.json["status"], resp.json["status_label"]) == ("closed", "已销号")
    assert resp.json["closed_at"]

    detail = client.get(f"/api/v1/problems/{problem_id}", headers=admin).json
    assert detail["household"]["head_name"] == town.household.head_name
    assert detail["source_visit_id"] == first["id"]
    steps = [
        (e["action"], e["from_status"], e["to_status"], e["actor_label"], e["actor_role"])
        for e in detail["timeline"]
    ]
    assert steps == [
        ("open", None, "assigned", "帮扶甲", None),
        ("start", "assigned", "rectifying", "农服中心", "office"),
        ("rectify", "rectifying", "rectified", "农服中心", "office"),
        ("verify", "rectified", "verified", "扶贫办", "town_admin"),
        ("close", "verified", "closed", "扶贫办", "town_admin"),
    ]
    assert [e["action_label"] for e in detail["timeline"]] == [
        "发现问题",
        "开始整改",
        "整改完成",
        "核验通过",
        "销号",
    ]
    assert all(e["created_at"] for e in detail["timeline"])

    # 4. A later visit fails the same check: the same problem is reopened, by the system.
    _visit(client, town, login, water_ok=False, minutes_ago=60 * 24)
    detail = client.get(f"/api/v1/problems/{problem_id}", headers=admin).json
    assert detail["status"] == "reopened" and detail["reopen_count"] == 1
    assert detail["closed_at"] is None
    reopen = detail["timeline"][-1]
    assert (reopen["action"], reopen["from_status"], reopen["actor_label"]) == (
        "reopen",
        "closed",
        "系统",
    )
    assert reopen["note"].startswith("再次走访发现问题")
    assert client.get("/api/v1/problems", headers=office).json["total"] == 1
    assert db.session.query(Problem).count() == 1

    # 5. A later visit passes the check: it is offered to the verifier.
    third = _visit(client, town, login, water_ok=True, minutes_ago=5)
    detail = client.get(f"/api/v1/problems/{problem_id}", headers=admin).json
    assert detail["verification_visit_id"] == third["id"]
    offered = detail["timeline"][-1]
    assert (offered["action"], offered["from_status"], offered["to_status"]) == (
        "verification_offered",
        "reopened",
        "reopened",
    )
    assert offered["data"] == {"visit_id": third["id"]}

    # Every transition is in the audit log too.
    audit = client.get(
        "/api/v1/audit-logs?action=problem.transition&page_size=50", headers=admin
    ).json
    assert sorted(row["detail"]["action"] for row in audit["items"]) == sorted(
        ["start", "rectify", "verify", "close", "reopen"]
    )
