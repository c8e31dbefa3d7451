"""Submitting visits through HTTP: checks, GPS, flags, idempotency and batch sync."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import LocationProposal, Visit, VisitCheck
from backend.services.cards import ensure_active_card, reissue_card
from backend.services.geo import wgs84_to_gcj02
from tests.factories import PhotoFactory, default_answers


def _photos(user, household=None):
    slots = {}
    for slot in ("photo_house", "photo_water", "photo_helper_with_head"):
        photo = PhotoFactory(uploader_id=user.id, household_id=household.id if household else None)
        slots[slot] = [photo.id]
    return slots


def _body(household, user, **changes):
    now = datetime.now(UTC)
    body = {
        "client_uuid": str(uuid.uuid4()),
        "household_id": household.id,
        "form_version": 1,
        "answers": default_answers(household, _photos(user, household)),
        "started_at": (now - timedelta(minutes=20)).isoformat(),
        "ended_at": (now - timedelta(minutes=5)).isoformat(),
        "gps": {
            "lat": household.lat,
            "lon": household.lon,
            "accuracy": 12.5,
            "coord": "wgs84",
            "captured_at": (now - timedelta(minutes=10)).isoformat(),
        },
    }
    body.update(changes)
    return body


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_submit_visit_stores_checks_and_times(client, town, login):
    body = _body(town.household, town.helper)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 201, resp.json
    visit = resp.json
    assert visit["client_uuid"] == body["client_uuid"]
    assert visit["form_version"] == 1
    assert visit["failed_check_count"] == 0
    assert len(visit["checks"]) == 26
    assert all(c["passed"] for c in visit["checks"])
    assert visit["flags"] == []
    assert visit["distance_m"] == 0
    slots = [pid for k, ids in body["answers"].items() if k.startswith("photo_") for pid in ids]
    assert sorted(visit["photo_ids"]) == sorted(slots)
    assert datetime.fromisoformat(visit["received_at"]) > datetime.fromisoformat(visit["ended_at"])
    # Every result is stored with the visit; only checks that did not pass are rows.
    stored = db.session.scalar(select(Visit.check_results).where(Visit.id == visit["id"]))
    assert stored == visit["checks"]
    assert _count(VisitCheck) == 0


def test_a_failing_check_is_also_a_row(client, town, login):
    body = _body(town.household, town.helper)
    body["answers"]["water_quality"] = False
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 201, resp.json
    failed = [c for c in resp.json["checks"] if not c["passed"]]
    assert [c["check_key"] for c in failed] == ["water_quality"]
    rows = db.session.execute(
        select(VisitCheck.visit_id, VisitCheck.check_key, VisitCheck.evidence)
    )
    assert [tuple(r) for r in rows] == [(resp.json["id"], "water_quality", failed[0]["evidence"])]


def test_identical_retry_returns_stored_visit(client, town, login):
    headers = login(town.helper)
    body = _body(town.household, town.helper)
    first = client.post("/api/v1/visits", json=body, headers=headers)
    again = client.post("/api/v1/visits", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert _count(Visit) == 1


def test_same_uuid_different_body_is_conflict(client, town, login):
    headers = login(town.helper)
    body = _body(town.household, town.helper)
    assert client.post("/api/v1/visits", json=body, headers=headers).status_code == 201
    body["answers"]["remarks"] = "改了内容"
    resp = client.post("/api/v1/visits", json=body, headers=headers)
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "visit.conflict"
    assert resp.json["error"]["message"] == "该走访编号已提交过不同的内容，请勿重复使用编号。"
    assert _count(Visit) == 1


def test_gcj02_is_stored_as_wgs84(client, town, login):
    gcj_lat, gcj_lon = wgs84_to_gcj02(town.household.lat, town.household.lon)
    body = _body(town.household, town.helper)
    body["gps"].update(lat=gcj_lat, lon=gcj_lon, coord="gcj02")
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 201
    gps = resp.json["gps"]
    assert gps["lat"] == pytest.approx(town.household.lat, abs=1e-7)
    assert gps["lon"] == pytest.approx(town.household.lon, abs=1e-7)
    assert gps["raw_lat"] == gcj_lat and gps["coord_sent"] == "gcj02"
    assert resp.json["distance_m"] < 0.05


def test_failing_check_is_recorded_with_its_answer(client, town, login):
    body = _body(town.household, town.helper)
    body["answers"]["water_quality"] = False
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 201
    failed = [c for c in resp.json["checks"] if not c["passed"]]
    assert [c["check_key"] for c in failed] == ["water_quality"]
    assert failed[0]["office_codes"] == ["nyfw"]
    assert failed[0]["evidence"]["answers"] == {"water_quality": False}
    assert resp.json["failed_check_count"] == 1


def test_flags_far_and_short_visit(client, town, login):
    now = datetime.now(UTC)
    body = _body(
        town.household,
        town.helper,
        started_at=(now - timedelta(minutes=2)).isoformat(),
        ended_at=(now - timedelta(minutes=1)).isoformat(),
    )
    body["gps"].update(lat=town.household.lat + 0.02, accuracy=0)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 201
    codes = {f["code"] for f in resp.json["flags"]}
    assert {"gps.far_from_household", "visit.too_short", "gps.mock_suspected"} <= codes
    assert all(f["description"] for f in resp.json["flags"])
    assert resp.json["distance_m"] > 2000


def test_missing_gps_is_flagged_not_rejected(client, town, login):
    body = _body(town.household, town.helper, gps=None)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 201
    assert [f["code"] for f in resp.json["flags"]] == ["gps.missing"]


def test_first_good_visit_proposes_a_location(client, town, login):
    town.household.lat = None
    town.household.lon = None
    body = _body(town.household, town.helper)
    body["gps"].update(lat=29.81, lon=106.06, accuracy=8)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 201
    proposal = db.session.scalar(select(LocationProposal))
    assert (proposal.household_id, proposal.status) == (town.household.id, "pending")
    assert proposal.lat == pytest.approx(29.81)


def test_a_pending_proposal_is_not_proposed_again_nor_a_poor_fix(client, town, login):
    town.household.lat = None
    town.household.lon = None
    headers = login(town.helper)
    rough = _body(town.household, town.helper)
    rough["gps"].update(lat=29.80, lon=106.05, accuracy=400)
    assert client.post("/api/v1/visits", json=rough, headers=headers).status_code == 201
    assert db.session.scalar(select(LocationProposal)) is None

    for lat in (29.81, 29.82):
        body = _body(town.household, town.helper)
        body["gps"].update(lat=lat, lon=106.06, accuracy=8)
        assert client.post("/api/v1/visits", json=body, headers=headers).status_code == 201

    [proposal] = db.session.scalars(select(LocationProposal)).all()
    assert proposal.lat == pytest.approx(29.81) and proposal.status == "pending"


def test_visit_by_card_token(client, town, login):
    token = ensure_active_card(household=town.household).token
    body = _body(town.household, town.helper, household_id=None, card_token=token)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 201
    assert resp.json["household_id"] == town.household.id


def test_revoked_card_token_is_410(client, town, login):
    old = ensure_active_card(household=town.household).token
    reissue_card(actor=_admin_actor(town), household_id=town.household.id)
    body = _body(town.household, town.helper, household_id=None, card_token=old)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 410
    assert resp.json["error"]["code"] == "card.replaced"


def _admin_actor(town):
    from backend.services.auth import actor_for_user

    return actor_for_user(user=town.town_admin)


def test_household_not_assigned_to_helper(client, town, login):
    body = _body(town.household, town.helper_b)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper_b))
    assert resp.status_code == 403
    assert resp.json["error"] == {
        "code": "visit.not_assigned",
        "message": "该农户不是您的帮扶对象，不能提交走访。",
    }


def test_household_of_another_village_is_404(client, town, login):
    body = _body(town.other_household, town.helper)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "household.not_found"


def test_village_cadre_may_visit_in_their_village(client, town, login):
    body = _body(town.household, town.village_cadre)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.village_cadre))
    assert resp.status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"form_version": 99}, 422, "visit.form_version_invalid", None),
        ({"answers": {"nonsense_key": 1}}, 422, "visit.invalid_answers", "nonsense_key"),
        (
            {"gps": {"lat": 91, "lon": 106, "accuracy": 5, "coord": "wgs84"}},
            422,
            "request.validation",
            "gps",
        ),
        (
            {"gps": {"lat": 0, "lon": 0, "accuracy": 5, "coord": "wgs84"}},
            422,
            "visit.invalid_gps",
            "gps",
        ),
        (
            {"gps": {"lat": 29.8, "lon": 106.0, "accuracy": -1, "coord": "wgs84"}},
            422,
            "request.validation",
            "gps",
        ),
        (
            {"gps": {"lat": 29.8, "lon": 106.0, "accuracy": 5, "coord": "bd09"}},
            422,
            "request.validation",
            "gps",
        ),
        ({"household_id": None}, 422, "request.validation", "household_id"),
        ({"client_uuid": "not-a-uuid"}, 422, "request.validation", "client_uuid"),
        ({"started_at": "2026-11-28T10:00:00"}, 422, "request.validation", "started_at"),
    ],
)
def test_bad_input(client, town, login, change, status, code, field):
    body = _body(town.household, town.helper)
    body.update(change)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == status, resp.json
    assert resp.json["error"]["code"] == code
    assert resp.json["error"]["message"]
    if field:
        fields = resp.json["error"]["fields"]
        flat = {**fields.get("json", {}), **fields.get("answers", {})}
        assert field in flat, fields
    assert _count(Visit) == 0


def test_wrong_answer_type_is_chinese_field_error(client, town, login):
    body = _body(town.household, town.helper)
    body["answers"]["income_per_capita"] = "很多"
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "visit.invalid_answers"
    assert resp.json["error"]["fields"]["answers"]["income_per_capita"]


def test_started_after_ended(client, town, login):
    now = datetime.now(UTC)
    body = _body(
        town.household,
        town.helper,
        started_at=now.isoformat(),
        ended_at=(now - timedelta(minutes=30)).isoformat(),
    )
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "visit.invalid_times"
    assert resp.json["error"]["fields"] == {"json": {"started_at": ["开始时间不能晚于结束时间。"]}}


def test_times_more_than_a_day_ahead(client, town, login):
    future = datetime.now(UTC) + timedelta(days=2)
    body = _body(
        town.household,
        town.helper,
        started_at=future.isoformat(),
        ended_at=(future + timedelta(minutes=20)).isoformat(),
    )
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "visit.future_time"


def test_photo_of_another_user_is_refused(client, town, login):
    body = _body(town.household, town.helper)
    foreign = PhotoFactory(uploader_id=town.helper_b.id)
    body["answers"]["photo_house"] = [foreign.id]
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "visit.photo_invalid"
    assert _count(Visit) == 0


def test_unknown_photo_is_refused(client, town, login):
    body = _body(town.household, town.helper, photo_ids=[987654])
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "visit.photo_invalid"


def test_anonymous_cannot_submit(client, town):
    resp = client.post("/api/v1/visits", json=_body(town.household, town.helper))
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"


def test_sync_reports_each_item(client, town, login):
    headers = login(town.helper)
    stored = _body(town.household, town.helper)
    assert client.post("/api/v1/visits", json=stored, headers=headers).status_code == 201
    fresh = _body(town.household, town.helper)
    conflicting = dict(stored, answers=dict(stored["answers"], remarks="不同"))
    invalid = _body(town.household, town.helper, form_version=99)
    malformed = {"client_uuid": str(uuid.uuid4()), "answers": "x"}
    resp = client.post(
        "/api/v1/sync/visits",
        json={"visits": [fresh, stored, conflicting, invalid, malformed]},
        headers=headers,
    )
    assert resp.status_code == 200
    results = resp.json["results"]
    assert [r["status"] for r in results] == [
        "created",
        "duplicate",
        "conflict",
        "invalid",
        "invalid",
    ]
    assert results[2]["error"]["code"] == "visit.conflict"
    assert results[3]["error"]["code"] == "visit.form_version_invalid"
    assert results[4]["error"]["code"] == "request.validation"
    assert "form_version" in results[4]["error"]["fields"]["json"]
    assert _count(Visit) == 2


def test_sync_over_the_limit(client, town, login, app):
    app.config["SYNC_MAX_ITEMS"] = 2
    try:
        bodies = [_body(town.household, town.helper) for _ in range(3)]
        resp = client.post(
            "/api/v1/sync/visits", json={"visits": bodies}, headers=login(town.helper)
        )
    finally:
        app.config["SYNC_MAX_ITEMS"] = 200
    assert resp.status_code == 422
    assert resp.json["error"] == {"code": "sync.too_many", "message": "一次最多同步 2 条走访记录。"}
    assert _count(Visit) == 0


def test_read_back_and_scope(client, town, login):
    body = _body(town.household, town.helper)
    visit_id = client.post("/api/v1/visits", json=body, headers=login(town.helper)).json["id"]
    assert (
        client.get(f"/api/v1/visits/{visit_id}", headers=login(town.town_admin)).status_code == 200
    )
    resp = client.get(f"/api/v1/visits/{visit_id}", headers=login(town.other_helper))
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "visit.not_found"
    listing = client.get("/api/v1/visits", headers=login(town.village_cadre))
    assert [v["id"] for v in listing.json["items"]] == [visit_id]
    assert client.get("/api/v1/visits", headers=login(town.other_helper)).json["total"] == 0
