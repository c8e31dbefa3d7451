"""Household location proposals through HTTP: scoped list, confirm, reject, roles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, FormVersion, LocationProposal, Visit


def _visit(household, helper, *, ended_at=None):
    ended_at = ended_at or datetime.now(UTC) - timedelta(hours=1)
    visit = Visit(
        client_uuid=str(uuid.uuid4()),
        body_hash="0" * 64,
        household_id=household.id,
        helper_id=helper.id,
        form_version_id=db.session.scalar(select(FormVersion.id).where(FormVersion.version == 1)),
        answers={},
        started_at=ended_at - timedelta(minutes=25),
        ended_at=ended_at,
    )
    db.session.add(visit)
    db.session.flush()
    return visit


def _proposal(household, helper, *, lat=29.8123, lon=106.0456, accuracy=12.0, status="pending"):
    visit = _visit(household, helper)
    proposal = LocationProposal(
        household_id=household.id,
        visit_id=visit.id,
        lat=lat,
        lon=lon,
        accuracy=accuracy,
        status=status,
    )
    db.session.add(proposal)
    db.session.flush()
    return proposal


@pytest.fixture
def proposals(town):
    """One pending proposal per household of the town fixture; their locations unknown."""
    for household in (town.household, town.other_household, town.far_household):
        household.lat = household.lon = None
    return {
        "in": _proposal(town.household, town.helper),
        "other": _proposal(town.other_household, town.other_helper, lat=29.9, lon=106.1),
        "far": _proposal(town.far_household, town.far_helper, lat=30.1, lon=105.8),
    }


def _ids(resp) -> list[int]:
    assert resp.status_code == 200, resp.json
    return [item["id"] for item in resp.json["items"]]


def test_list_is_scoped_by_region(client, town, login, proposals):
    url = "/api/v1/location-proposals?status=pending"
    assert _ids(client.get(url, headers=login(town.village_cadre))) == [proposals["in"].id]
    town_ids = _ids(client.get(url, headers=login(town.town_admin)))
    assert town_ids == [proposals["in"].id, proposals["other"].id]
    assert _ids(client.get(url, headers=login(town.district_user))) == town_ids


def test_list_item_shows_household_location_and_visit(client, town, login, proposals):
    resp = client.get("/api/v1/location-proposals", headers=login(town.village_cadre))
    assert resp.json["total"] == 1
    item = resp.json["items"][0]
    proposal = proposals["in"]
    assert item["household"]["id"] == town.household.id
    assert item["household"]["phone"].count("*") == 4  # lists are always masked
    assert item["household"]["lat"] is None
    assert (item["lat"], item["lon"], item["accuracy"]) == (29.8123, 106.0456, 12.0)
    assert item["visit_id"] == proposal.visit_id
    assert item["helper_name"] == "帮扶甲"
    assert (item["status"], item["status_label"]) == ("pending", "待确认")
    assert item["decided_by_name"] is None


def test_list_filters_by_status(client, town, login, proposals):
    headers = login(town.town_admin)
    done = _proposal(town.household, town.helper, status="rejected")
    assert _ids(client.get("/api/v1/location-proposals?status=rejected", headers=headers)) == [
        done.id
    ]
    bad = client.get("/api/v1/location-proposals?status=maybe", headers=headers)
    assert bad.status_code == 422
    assert bad.json["error"]["code"] == "request.validation"
    assert bad.json["error"]["message"] == "提交的数据有误，请检查后重试。"
    assert "status" in bad.json["error"]["fields"]["query"]


@pytest.mark.parametrize("role", ["helper", "office", "inspector"])
def test_list_is_refused_to_other_roles(client, town, login, proposals, role):
    resp = client.get("/api/v1/location-proposals", headers=login(town.users_by_role()[role]))
    assert resp.status_code == 403
    assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}


def test_confirm_sets_the_household_location_and_audits(client, town, login, proposals):
    proposal = proposals["in"]
    resp = client.post(
        f"/api/v1/location-proposals/{proposal.id}/confirm", headers=login(town.town_admin)
    )
    assert resp.status_code == 200, resp.json
    assert (resp.json["status"], resp.json["status_label"]) == ("confirmed", "已确认")
    assert resp.json["decided_by_name"] == "扶贫办"
    assert resp.json["decided_at"] is not None
    assert (resp.json["household"]["lat"], resp.json["household"]["lon"]) == (29.8123, 106.0456)
    db.session.refresh(town.household)
    assert (town.household.lat, town.household.lon) == (29.8123, 106.0456)
    db.session.refresh(proposal)
    assert proposal.decided_by_id == town.town_admin.id
    row = db.session.scalar(
        select(AuditLog).where(AuditLog.action == "household.location_confirmed")
    )
    assert row.actor_user_id == town.town_admin.id
    assert row.target_type == "household"
    assert row.target_id == str(town.household.id)
    assert row.detail == {
        "proposal_id": proposal.id,
        "visit_id": proposal.visit_id,
        "accuracy_m": 12.0,
        "old": {"lat": None, "lon": None},
        "new": {"lat": 29.8123, "lon": 106.0456},
    }
    pending = client.get("/api/v1/location-proposals", headers=login(town.town_admin))
    assert proposal.id not in _ids(pending)


def test_confirm_overwrites_a_location_set_meanwhile(client, town, login, proposals):
    town.household.lat, town.household.lon = 29.7, 106.2
    proposal = proposals["in"]
    resp = client.post(
        f"/api/v1/location-proposals/{proposal.id}/confirm", headers=login(town.district_user)
    )
    assert resp.status_code == 200, resp.json
    db.session.refresh(town.household)
    assert (town.household.lat, town.household.lon) == (29.8123, 106.0456)
    row = db.session.scalar(
        select(AuditLog).where(AuditLog.action == "household.location_confirmed")
    )
    assert row.detail["old"] == {"lat": 29.7, "lon": 106.2}


def test_reject_keeps_the_household_location(client, town, login, proposals):
    proposal = proposals["in"]
    resp = client.post(
        f"/api/v1/location-proposals/{proposal.id}/reject",
        json={"note": "定位在村委会，不是农户家。"},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 200, resp.json
    assert (resp.json["status"], resp.json["status_label"]) == ("rejected", "已驳回")
    db.session.refresh(town.household)
    assert town.household.lat is None
    row = db.session.scalar(
        select(AuditLog).where(AuditLog.action == "household.location_rejected")
    )
    assert row.detail["note"] == "定位在村委会，不是农户家。"
    assert row.detail["proposal_id"] == proposal.id


def test_reject_without_a_note(client, town, login, proposals):
    resp = client.post(
        f"/api/v1/location-proposals/{proposals['other'].id}/reject",
        headers=login(town.town_admin),
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "rejected"


def test_reject_note_too_long(client, town, login, proposals):
    resp = client.post(
        f"/api/v1/location-proposals/{proposals['in'].id}/reject",
        json={"note": "长" * 501},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert resp.json["error"]["fields"] == {"json": {"note": ["说明不能超过500个字。"]}}


@pytest.mark.parametrize(
    ("first", "second"), [("confirm", "reject"), ("reject", "confirm"), ("confirm", "confirm")]
)
def test_a_proposal_is_decided_once(client, town, login, proposals, first, second):
    headers = login(town.town_admin)
    url = f"/api/v1/location-proposals/{proposals['in'].id}"
    assert client.post(f"{url}/{first}", headers=headers).status_code == 200
    resp = client.post(f"{url}/{second}", headers=headers)
    assert resp.status_code == 409
    error = resp.json["error"]
    assert error["code"] == "location.already_decided"
    assert error["message"] == "该位置建议已处理，不能重复处理。"
    assert error["details"]["status"] == ("confirmed" if first == "confirm" else "rejected")


@pytest.mark.parametrize("role", ["helper", "village_cadre", "office", "inspector"])
@pytest.mark.parametrize("action", ["confirm", "reject"])
def test_only_admins_decide(client, town, login, proposals, role, action):
    resp = client.post(
        f"/api/v1/location-proposals/{proposals['in'].id}/{action}",
        headers=login(town.users_by_role()[role]),
    )
    assert resp.status_code == 403
    assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}
    db.session.refresh(proposals["in"])
    assert proposals["in"].status == "pending"


@pytest.mark.parametrize("action", ["confirm", "reject"])
def test_out_of_scope_or_unknown_is_not_found(client, town, login, proposals, action):
    headers = login(town.town_admin)
    for proposal_id in (proposals["far"].id, 999999):
        resp = client.post(f"/api/v1/location-proposals/{proposal_id}/{action}", headers=headers)
        assert resp.status_code == 404
        assert resp.json["error"] == {
            "code": "location.not_found",
            "message": "位置建议不存在或不在您的管辖范围内。",
        }
    db.session.refresh(proposals["far"])
    assert proposals["far"].status == "pending"


@pytest.mark.parametrize(
    "path", ["/api/v1/location-proposals", "/api/v1/location-proposals/1/confirm"]
)
def test_anonymous_is_refused(client, town, path):
    resp = client.get(path) if path.endswith("proposals") else client.post(path)
    assert resp.status_code == 401
    assert resp.json["error"] == {"code": "auth.required", "message": "请先登录。"}
