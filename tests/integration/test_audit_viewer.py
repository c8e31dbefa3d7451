"""The audit-log viewer API: who may read it and how it filters."""

from __future__ import annotations

from datetime import timedelta

from backend.extensions import db
from backend.models import AuditLog, Role, utcnow
from backend.services.audit import record_event
from backend.services.auth import actor_for_user
from tests import factories
from tests.factories import PASSWORD


def _event(user, action, **kw):
    actor = actor_for_user(user=user) if user is not None else None
    return record_event(actor=actor, action=action, **kw)


def _actions(client, headers, query=""):
    resp = client.get(f"/api/v1/audit-logs?page_size=500&{query}", headers=headers)
    assert resp.status_code == 200, resp.json
    return [row["action"] for row in resp.json["items"]]


def test_filters_cover_the_recorded_events(client, town, login):
    # Real events through the API: a login, a failed login, an unmasked read, an export.
    ok = client.post(
        "/api/v1/auth/login", json={"username": town.helper.username, "password": PASSWORD}
    )
    assert ok.status_code == 200
    bad = client.post(
        "/api/v1/auth/login", json={"username": town.helper.username, "password": "wrong"}
    )
    assert bad.status_code == 401
    client.get(f"/api/v1/households/{town.household.id}?unmask=true", headers=login(town.helper))
    client.get("/api/v1/exports/households.csv", headers=login(town.town_admin))
    # And the ones other areas write.
    _event(town.office, "problem.transition", target_type="problem", target_id=7)
    _event(town.inspector, "visit.review", target_type="visit", target_id=11)
    _event(town.inspector, "spot_check.create", target_type="spot_check", target_id=3)
    _event(town.inspector, "spot_check.outcome", target_type="spot_check_item", target_id=4)
    headers = login(town.inspector)

    assert _actions(client, headers, "action=pii.read") == ["pii.read"]
    assert _actions(client, headers, "action=auth.login") == ["auth.login_failed", "auth.login"]
    assert _actions(client, headers, "action=export.") == ["export.households"]
    assert _actions(client, headers, "action=problem.transition") == ["problem.transition"]
    assert _actions(client, headers, "action=spot_check.") == [
        "spot_check.outcome",
        "spot_check.create",
    ]
    assert sorted(_actions(client, headers, "action=visit.review,export.")) == [
        "export.households",
        "visit.review",
    ]
    # A prefix is literal: "_" and "%" are not wildcards.
    assert _actions(client, headers, "action=spot%") == []

    resp = client.get(
        f"/api/v1/audit-logs?actor_user_id={town.inspector.id}&action=spot_check.", headers=headers
    )
    assert resp.json["total"] == 2
    assert {row["actor_name"] for row in resp.json["items"]} == {"纪委"}
    resp = client.get("/api/v1/audit-logs?target_type=visit&target_id=11", headers=headers)
    assert [row["action"] for row in resp.json["items"]] == ["visit.review"]
    assert resp.json["items"][0]["actor_user_id"] == town.inspector.id


def test_date_range_is_china_days(client, town, login):
    old = AuditLog(
        action="pii.read",
        at=utcnow() - timedelta(days=10),
        actor_user_id=None,
        region_path=town.household.region_path,
    )
    db.session.add(old)
    db.session.flush()
    _event(town.helper, "pii.read", target_type="household", target_id=1)
    headers = login(town.town_admin)
    today = utcnow() + timedelta(hours=8)
    day = today.date()
    assert len(_actions(client, headers, f"action=pii.read&from={day}&to={day}")) == 1
    ten_ago = day - timedelta(days=10)
    assert len(_actions(client, headers, f"action=pii.read&from={ten_ago}&to={ten_ago}")) == 1
    assert len(_actions(client, headers, f"action=pii.read&from={ten_ago}")) == 2
    assert len(_actions(client, headers, f"action=pii.read&to={day - timedelta(days=1)}")) == 1

    resp = client.get("/api/v1/audit-logs?from=2026-02-30", headers=headers)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert resp.json["error"]["fields"]["query"]["from"] == ["日期格式有误，应为 YYYY-MM-DD。"]


def test_only_town_inspector_and_district_read_the_log(client, town, login):
    for user in (town.helper, town.office, town.village_cadre):
        resp = client.get("/api/v1/audit-logs", headers=login(user))
        assert resp.status_code == 403
        assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}
    for user in (town.town_admin, town.inspector, town.district_user):
        assert client.get("/api/v1/audit-logs", headers=login(user)).status_code == 200
    resp = client.get("/api/v1/audit-logs")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"


def _neighbour_town(town):
    """A second town of the same district, with its admin and one household."""
    neighbour = factories.RegionFactory(
        code="500151106", name="邻镇", level="town", parent=town.district
    )
    village = factories.RegionFactory(
        code="500151106201", name="邻村", level="village", parent=neighbour
    )
    household = factories.HouseholdFactory(region=village, village=village)
    admin = factories.user_with_role(Role.TOWN_ADMIN, neighbour, display_name="邻镇扶贫办")
    db.session.flush()
    return household, admin


def _rows(client, headers):
    resp = client.get("/api/v1/audit-logs?page_size=500", headers=headers)
    assert resp.status_code == 200, resp.json
    return [(row["action"], row["target_id"], row["region_path"]) for row in resp.json["items"]]


def test_a_town_reads_its_own_events_and_the_district_every_one(client, town, login):
    """Events belong to the region of what they name, else of who acted; towns read theirs."""
    far_household, neighbour_admin = _neighbour_town(town)
    own, theirs = str(town.household.id), str(far_household.id)
    # Reads of personal data: each town's admin in its own town, the district in the other.
    unmask = "/api/v1/households/{}?unmask=true"
    assert client.get(unmask.format(own), headers=login(town.town_admin)).status_code == 200
    assert client.get(unmask.format(theirs), headers=login(neighbour_admin)).status_code == 200
    assert client.get(unmask.format(theirs), headers=login(town.district_user)).status_code == 200
    # Failed logins: on an account of the town, and on no account at all.
    login_body = {"username": town.helper.username, "password": "wrong"}
    assert client.post("/api/v1/auth/login", json=login_body).status_code == 401
    nobody = {"username": "nobody", "password": "wrong"}
    assert client.post("/api/v1/auth/login", json=nobody).status_code == 401
    helper_region = town.helper.grants[0].region.path

    ours = [
        ("auth.login_failed", None, helper_region),
        ("pii.read", own, town.household.region_path),
    ]
    assert [r for r in _rows(client, login(town.town_admin)) if r[0] != "auth.login"] == ours
    assert [r for r in _rows(client, login(town.inspector)) if r[0] != "auth.login"] == ours
    neighbours = [r for r in _rows(client, login(neighbour_admin)) if r[0] != "auth.login"]
    assert neighbours == [
        ("pii.read", theirs, far_household.region_path),
        ("pii.read", theirs, far_household.region_path),
    ]
    # The district reads every one, those of no region too (newest first).
    every = [r for r in _rows(client, login(town.district_user)) if r[0] != "auth.login"]
    assert every == [("auth.login_failed", None, None), ours[0], *neighbours, ours[1]]
    # Logins belong to the account's region: each town sees its own staff's.
    assert all(
        r[2].startswith(town.town.path)
        for r in _rows(client, login(town.town_admin))
        if r[0] == "auth.login"
    )
