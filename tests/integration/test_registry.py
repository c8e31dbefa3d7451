"""Household registry, users, roles and assignments through HTTP."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from backend.extensions import db
from backend.models import Assignment, AuditLog
from tests.factories import PASSWORD


def test_household_detail_is_masked_by_default(client, town, login):
    resp = client.get(f"/api/v1/households/{town.household.id}", headers=login(town.helper))
    assert resp.status_code == 200
    body = resp.json
    assert body["unmasked"] is False
    head = body["members"][0]
    assert (
        "*" in head["id_number"]
        and head["id_number"][-4:] == town.household.members[0].id_number[-4:]
    )
    assert head["chronic_illness"] == "已登记"
    assert body["household"]["phone"].count("*") == 4
    assert body["helper"]["display_name"] == "帮扶甲"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "pii.read")) is None


def test_unmasked_read_is_audited(client, town, login):
    resp = client.get(
        f"/api/v1/households/{town.household.id}?unmask=true", headers=login(town.village_cadre)
    )
    assert resp.status_code == 200
    assert resp.json["members"][0]["id_number"] == town.household.members[0].id_number
    assert resp.json["members"][0]["chronic_illness"] == "高血压"
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "pii.read"))
    assert row.actor_user_id == town.village_cadre.id
    assert row.target_id == str(town.household.id)


def test_office_cannot_unmask(client, town, login):
    resp = client.get(
        f"/api/v1/households/{town.household.id}?unmask=true", headers=login(town.office)
    )
    assert resp.status_code == 403
    assert resp.json["error"] == {
        "code": "auth.forbidden",
        "message": "您的角色不能查看完整的个人信息。",
    }


def test_household_list_filters(client, town, login):
    headers = login(town.town_admin)
    resp = client.get(f"/api/v1/households?region_id={town.other_village.id}", headers=headers)
    assert [i["id"] for i in resp.json["items"]] == [town.other_household.id]
    resp = client.get(f"/api/v1/households?q={town.household.head_name}", headers=headers)
    assert [i["id"] for i in resp.json["items"]] == [town.household.id]
    resp = client.get("/api/v1/households?category=nonsense", headers=headers)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert "category" in resp.json["error"]["fields"]["query"]


def test_household_list_unknown_region(client, town, login):
    resp = client.get("/api/v1/households?region_id=999999", headers=login(town.town_admin))
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "region.not_found"


def test_reassignment_ends_old_and_keeps_history(client, town, login):
    headers = login(town.town_admin)
    resp = client.post(
        f"/api/v1/households/{town.household.id}/assignments",
        json={"helper_id": town.helper_b.id, "start_date": "2026-11-10"},
        headers=headers,
    )
    assert resp.status_code == 201, resp.json
    history = client.get(f"/api/v1/households/{town.household.id}/assignments", headers=headers)
    rows = history.json
    assert [(r["helper_name"], r["start_date"], r["end_date"]) for r in rows] == [
        ("帮扶丙", "2026-11-10", None),
        ("帮扶甲", "2026-01-01", "2026-11-09"),
    ]
    # The old helper loses the household at once; the new one gains it.
    assert (
        client.get(
            f"/api/v1/households/{town.household.id}", headers=login(town.helper)
        ).status_code
        == 404
    )
    mine = client.get("/api/v1/assignments/mine", headers=login(town.helper_b))
    assert [h["id"] for h in mine.json] == [town.household.id]
    actions = db.session.scalars(select(AuditLog.action)).all()
    assert "assignment.changed" in actions


def test_reassignment_rejects_helper_of_another_village(client, town, login):
    resp = client.post(
        f"/api/v1/households/{town.household.id}/assignments",
        json={"helper_id": town.other_helper.id},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "assignment.invalid"
    assert resp.json["error"]["message"] == "该用户不是本村的帮扶责任人。"
    open_rows = db.session.scalars(
        select(Assignment).where(
            Assignment.household_id == town.household.id, Assignment.end_date.is_(None)
        )
    ).all()
    assert [a.helper_id for a in open_rows] == [town.helper.id]


def test_reassignment_start_before_current_is_rejected(client, town, login):
    resp = client.post(
        f"/api/v1/households/{town.household.id}/assignments",
        json={"helper_id": town.helper_b.id, "start_date": "2025-12-31"},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "assignment.invalid"
    assert resp.json["error"]["fields"] == {"start_date": ["开始日期过早"]}


def test_create_user_with_role_then_login(client, town, login):
    headers = login(town.town_admin)
    resp = client.post(
        "/api/v1/users",
        json={
            "display_name": "新帮扶人",
            "username": "new.helper",
            "password": "Sturdy-Pass-1",
            "roles": [{"role": "helper", "region_id": town.village.id}],
        },
        headers=headers,
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["grants"][0]["role_label"] == "帮扶责任人"
    login_resp = client.post(
        "/api/v1/auth/login", json={"username": "new.helper", "password": "Sturdy-Pass-1"}
    )
    assert login_resp.status_code == 200
    actions = db.session.scalars(select(AuditLog.action)).all()
    assert {"user.created", "role.granted"} <= set(actions)


def test_create_user_duplicate_username(client, town, login):
    resp = client.post(
        "/api/v1/users",
        json={"display_name": "重名", "username": town.helper.username},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "user.conflict"


def test_create_user_short_password(client, town, login):
    resp = client.post(
        "/api/v1/users",
        json={"display_name": "短密码", "username": "shorty", "password": "abc"},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 422
    assert resp.json["error"]["fields"] == {"json": {"password": ["密码至少 8 位。"]}}


def test_grant_outside_own_scope_is_refused(client, town, login):
    resp = client.post(
        f"/api/v1/users/{town.helper.id}/roles",
        json={"role": "helper", "region_id": town.far_village.id},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 422
    assert resp.json["error"] == {"code": "role.invalid", "message": "只能在您管辖的地区内授权。"}


def test_office_role_needs_office_code(client, town, login):
    resp = client.post(
        f"/api/v1/users/{town.helper.id}/roles",
        json={"role": "office", "region_id": town.town.id},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 422
    assert resp.json["error"]["fields"] == {
        "json": {"office_code": ["责任单位角色必须指定有效的单位。"]}
    }


def test_town_admin_cannot_grant_district(client, town, login):
    resp = client.post(
        f"/api/v1/users/{town.helper.id}/roles",
        json={"role": "district", "region_id": town.town.id},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 403
    assert resp.json["error"]["message"] == "只有区扶贫办可以授予区级角色。"


def test_revoke_role_takes_effect_immediately(client, town, login):
    helper_headers = login(town.helper)
    grant_id = town.helper.grants[0].id
    resp = client.delete(
        f"/api/v1/users/{town.helper.id}/roles/{grant_id}", headers=login(town.town_admin)
    )
    assert resp.status_code == 204
    mine = client.get("/api/v1/assignments/mine", headers=helper_headers)
    assert mine.status_code == 403
    assert mine.json["error"]["code"] == "auth.forbidden"
    assert "role.revoked" in db.session.scalars(select(AuditLog.action)).all()


def test_revoke_unknown_grant(client, town, login):
    resp = client.delete(
        f"/api/v1/users/{town.helper.id}/roles/999999", headers=login(town.town_admin)
    )
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "role.not_found"


def test_deactivating_user_revokes_tokens(client, town, login):
    helper_headers = login(town.helper)
    resp = client.patch(
        f"/api/v1/users/{town.helper.id}", json={"is_active": False}, headers=login(town.town_admin)
    )
    assert resp.status_code == 200
    me = client.get("/api/v1/auth/me", headers=helper_headers)
    assert me.status_code == 401
    assert me.json["error"]["code"] == "auth.token_revoked"
    again = client.post(
        "/api/v1/auth/login", json={"username": town.helper.username, "password": PASSWORD}
    )
    assert again.status_code == 403
    assert again.json["error"]["code"] == "auth.user_disabled"


def test_user_list_is_scoped(client, town, login):
    resp = client.get("/api/v1/users?page_size=500", headers=login(town.town_admin))
    ids = {u["id"] for u in resp.json["items"]}
    assert town.helper.id in ids
    assert town.far_helper.id not in ids
    resp = client.get("/api/v1/users?role=inspector", headers=login(town.town_admin))
    assert [u["id"] for u in resp.json["items"]] == [town.inspector.id]


def test_regions_are_scoped(client, town, login):
    resp = client.get("/api/v1/regions", headers=login(town.village_cadre))
    names = [r["name"] for r in resp.json]
    # The cadre sees the path down to their village and its groups, not the neighbour village.
    assert "石桥村" in names and "土桥镇" in names and "铜梁区" in names
    assert "观音村" not in names and "远方村" not in names
    resp = client.get(f"/api/v1/regions?parent_id={town.town.id}", headers=login(town.town_admin))
    assert sorted(r["name"] for r in resp.json) == ["石桥村", "观音村"]
    assert resp.json[0]["level_label"] == "村"


def test_audit_log_lists_events(client, town, login):
    client.get(f"/api/v1/households/{town.household.id}?unmask=true", headers=login(town.helper))
    resp = client.get("/api/v1/audit-logs?action=pii.read", headers=login(town.inspector))
    assert resp.status_code == 200
    assert resp.json["total"] == 1
    assert resp.json["items"][0]["actor_user_id"] == town.helper.id


def test_audit_rows_cannot_be_changed(town):
    from backend.models.audit import AuditLogImmutableError
    from backend.services.audit import record_event

    row = record_event(actor=None, action="test.event")
    row.action = "tampered"
    try:
        db.session.flush()
    except AuditLogImmutableError:
        db.session.rollback()
    else:  # pragma: no cover - the assertion below documents the failure
        raise AssertionError("audit row was updated")


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json == {"status": "ok", "database": "ok"}
    spec = client.get("/api/openapi.json").json
    assert "/api/v1/households" in spec["paths"]
    assert spec["paths"]["/api/v1/households"]["get"]["summary"].startswith("List households")
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"/api/docs-static/" in docs.data
    assert client.get("/api/docs-static/swagger-ui-bundle.js").status_code == 200


def test_unknown_route_is_json_404(client):
    resp = client.get("/api/v1/nope")
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "request.not_found"


def test_method_not_allowed_is_json(client):
    resp = client.delete("/api/v1/auth/login")
    assert resp.status_code == 405
    assert resp.json["error"]["code"] == "request.method_not_allowed"


def test_malformed_json_is_4xx(client, town, login):
    resp = client.post(
        "/api/v1/users",
        data="{not json",
        content_type="application/json",
        headers=login(town.town_admin),
    )
    assert resp.status_code in (400, 422)
    assert resp.json["error"]["code"] in {"request.bad", "request.validation"}


def test_start_date_in_assignment_defaults_to_today(client, town, login):
    resp = client.post(
        f"/api/v1/households/{town.household.id}/assignments",
        json={"helper_id": town.helper_b.id},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 201
    assert resp.json["start_date"] == date.today().isoformat()
