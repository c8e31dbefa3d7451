"""The visit review queue, the reviewer's verdict and anomaly counts per helper, through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog
from backend.services.authenticity import FLAG_TITLES
from backend.services.clock import china_today
from tests.factories import PhotoFactory, VisitFactory
from tests.helpers import submit_visit, visit_body

FAR = {
    "code": "gps.far_from_household",
    "title": FLAG_TITLES["gps.far_from_household"],
    "description": "定位距农户登记位置约1.2公里",
    "detail": {"distance_m": 1234.5},
}
SHORT = {
    "code": "visit.too_short",
    "title": FLAG_TITLES["visit.too_short"],
    "description": "走访时长仅1分钟",
    "detail": {},
}


def make_visit(household, helper, *, ended_at=None, flags=(), review_status="unreviewed"):
    """A stored visit of ``helper`` to ``household`` with the given flags."""
    ended_at = ended_at or datetime.now(UTC) - timedelta(hours=1)
    return VisitFactory(
        household=household,
        helper=helper,
        ended_at=ended_at,
        received_at=ended_at + timedelta(minutes=1),
        gps_lat=household.lat + 0.01 if household.lat is not None else None,
        gps_lon=household.lon,
        gps_accuracy=15.0,
        distance_m=1112.0,
        flags=[dict(f) for f in flags],
        flag_count=len(flags),
        review_status=review_status,
    )


def _photo(visit, helper, purpose="house"):
    return PhotoFactory(
        uploader_id=helper.id, household_id=visit.household_id, visit_id=visit.id, purpose=purpose
    )


def _audit(action):
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_queue_lists_flagged_unreviewed_visits_with_photos_and_map(client, town, login):
    earlier = make_visit(
        town.household, town.helper, ended_at=datetime.now(UTC) - timedelta(days=40)
    )
    old_photo = _photo(earlier, town.helper)
    flagged = make_visit(town.household, town.helper, flags=[FAR, SHORT])
    new_photo = _photo(flagged, town.helper, "water")
    make_visit(town.household, town.helper)  # unflagged
    make_visit(town.household, town.helper, flags=[FAR], review_status="valid")
    make_visit(town.far_household, town.far_helper, flags=[FAR])  # another district

    resp = client.get("/api/v1/review/visits", headers=login(town.town_admin))

    assert resp.status_code == 200, resp.json
    assert resp.json["total"] == 1
    item = resp.json["items"][0]
    assert item["id"] == flagged.id
    assert [f["code"] for f in item["flags"]] == ["gps.far_from_household", "visit.too_short"]
    assert item["flags"][0]["title"] == "定位距农户过远"
    assert item["flags"][0]["description"] == "定位距农户登记位置约1.2公里"
    assert item["household"]["number"] == town.household.number
    assert item["household"]["village"] == {"id": town.village.id, "name": "石桥村"}
    assert item["helper"] == {"id": town.helper.id, "display_name": "帮扶甲"}
    assert item["distance_m"] == 1112.0
    assert item["gps"]["lat"] == town.household.lat + 0.01
    assert item["household_location"] == {"lat": town.household.lat, "lon": town.household.lon}
    assert item["duration_minutes"] == 20.0
    assert item["review"]["status"] == "unreviewed" and item["review"]["status_label"] == "未审核"
    assert [p["id"] for p in item["photos"]] == [new_photo.id]
    assert item["photos"][0]["purpose"] == "water"
    assert item["photos"][0]["thumb_url"].startswith(
        f"https://hhq.example.cn/media/{new_photo.thumb_key}?exp="
    )
    assert item["photos"][0]["display_url"].startswith(
        f"https://hhq.example.cn/media/{new_photo.display_key}?exp="
    )
    assert [p["id"] for p in item["earlier_photos"]] == [old_photo.id]
    assert item["earlier_photos"][0]["visit_id"] == earlier.id


def test_queue_filters(client, town, login):
    a = make_visit(town.household, town.helper, flags=[FAR])
    b = make_visit(town.other_household, town.other_helper, flags=[SHORT])
    c = make_visit(town.household, town.helper_b, flags=[SHORT], review_status="invalid")
    headers = login(town.inspector)

    def ids(query):
        resp = client.get(f"/api/v1/review/visits?{query}", headers=headers)
        assert resp.status_code == 200, resp.json
        return sorted(i["id"] for i in resp.json["items"])

    assert ids("") == sorted([a.id, b.id])
    assert ids("flag=visit.too_short") == [b.id]
    assert ids("flag=visit.too_short&status=all") == sorted([b.id, c.id])
    assert ids(f"village_id={town.village.id}") == [a.id]
    assert ids(f"village_id={town.village.id}&status=invalid") == [c.id]
    assert ids(f"helper_id={town.other_helper.id}") == [b.id]
    day = china_today()
    assert ids(f"from={day - timedelta(days=3)}&to={day + timedelta(days=1)}") == sorted(
        [a.id, b.id]
    )
    assert ids("period=2020-01") == []


def test_queue_bad_filters(client, town, login):
    headers = login(town.town_admin)
    resp = client.get("/api/v1/review/visits?flag=gps.nonsense", headers=headers)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert "flag" in resp.json["error"]["fields"]["query"]

    resp = client.get("/api/v1/review/visits?period=2026-13", headers=headers)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "period.invalid"
    assert resp.json["error"]["fields"]["query"]["period"] == ["月份应在 1 到 12 之间。"]

    resp = client.get(f"/api/v1/review/visits?village_id={town.far_village.id}", headers=headers)
    assert resp.status_code == 404
    assert resp.json["error"] == {"code": "region.not_found", "message": "地区不存在。"}

    # The district is visible to the town (an ancestor) but not in its scope.
    resp = client.get(f"/api/v1/review/visits?village_id={town.district.id}", headers=headers)
    assert resp.status_code == 403
    assert resp.json["error"] == {
        "code": "auth.forbidden",
        "message": "所选地区不在您的管辖范围内。",
    }


def test_queue_is_for_town_inspector_and_district_only(client, town, login):
    for user in (town.helper, town.office, town.village_cadre):
        resp = client.get("/api/v1/review/visits", headers=login(user))
        assert resp.status_code == 403
        assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}
    assert client.get("/api/v1/review/visits", headers=login(town.district_user)).status_code == 200
    resp = client.get("/api/v1/review/visits")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"


def test_mark_visit_valid(client, town, login):
    visit = make_visit(town.household, town.helper, flags=[FAR])
    resp = client.post(
        f"/api/v1/visits/{visit.id}/review",
        json={"status": "valid", "note": "电话回访确认，农户住在山上老屋"},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 200, resp.json
    review = resp.json["review"]
    assert review["status"] == "valid" and review["status_label"] == "有效"
    assert review["note"] == "电话回访确认，农户住在山上老屋"
    assert review["reviewed_by"] == {"id": town.town_admin.id, "display_name": "扶贫办"}
    db.session.refresh(visit)
    assert visit.review_status == "valid"
    assert visit.reviewed_by_id == town.town_admin.id and visit.reviewed_at is not None
    [row] = _audit("visit.review")
    assert row.actor_user_id == town.town_admin.id
    assert row.target_type == "visit" and row.target_id == str(visit.id)
    assert row.detail["from"] == "unreviewed" and row.detail["to"] == "valid"
    # Out of the default queue now.
    resp = client.get("/api/v1/review/visits", headers=login(town.town_admin))
    assert resp.json["total"] == 0


def test_mark_visit_invalid_needs_a_note(client, town, login):
    visit = make_visit(town.household, town.helper, flags=[SHORT])
    headers = login(town.inspector)
    url = f"/api/v1/visits/{visit.id}/review"

    resp = client.post(url, json={"status": "invalid"}, headers=headers)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "review.note_required"
    assert resp.json["error"]["message"] == "判定走访无效时须填写说明。"
    assert resp.json["error"]["fields"] == {"json": {"note": ["请填写无效的原因。"]}}
    resp = client.post(url, json={"status": "invalid", "note": "   "}, headers=headers)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "review.note_required"
    db.session.refresh(visit)
    assert visit.review_status == "unreviewed"
    assert _audit("visit.review") == []

    resp = client.post(url, json={"status": "invalid", "note": "照片为上月翻拍"}, headers=headers)
    assert resp.status_code == 200, resp.json
    assert resp.json["review"]["status"] == "invalid"
    db.session.refresh(visit)
    assert visit.review_status == "invalid" and visit.review_note == "照片为上月翻拍"
    assert len(_audit("visit.review")) == 1


def test_review_bad_status(client, town, login):
    visit = make_visit(town.household, town.helper, flags=[SHORT])
    resp = client.post(
        f"/api/v1/visits/{visit.id}/review",
        json={"status": "maybe"},
        headers=login(town.town_admin),
    )
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert resp.json["error"]["fields"]["json"]["status"] == ["取值应为以下之一：valid, invalid."]


def test_review_scope_and_roles(client, town, login):
    inside = make_visit(town.household, town.helper, flags=[SHORT])
    outside = make_visit(town.far_household, town.far_helper, flags=[SHORT])
    body = {"status": "valid"}

    resp = client.post(
        f"/api/v1/visits/{outside.id}/review", json=body, headers=login(town.town_admin)
    )
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "visit.not_found",
        "message": "走访记录不存在或不在您的管辖范围内。",
    }
    resp = client.post("/api/v1/visits/999999/review", json=body, headers=login(town.inspector))
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "visit.not_found"

    # Helpers (even the visit's own), offices and the district (read only) cannot decide.
    for user in (town.helper, town.office, town.district_user, town.village_cadre):
        resp = client.post(f"/api/v1/visits/{inside.id}/review", json=body, headers=login(user))
        assert resp.status_code == 403
        assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}
    db.session.refresh(inside)
    assert inside.review_status == "unreviewed"


def test_anomaly_counts_per_helper(client, town, login):
    make_visit(town.household, town.helper, flags=[FAR, SHORT])
    make_visit(town.household, town.helper, flags=[FAR], review_status="invalid")
    make_visit(town.household, town.helper)
    make_visit(town.other_household, town.other_helper, flags=[SHORT], review_status="valid")
    make_visit(town.far_household, town.far_helper, flags=[FAR])
    make_visit(
        town.household, town.helper, flags=[FAR], ended_at=datetime.now(UTC) - timedelta(days=70)
    )

    resp = client.get("/api/v1/review/helpers", headers=login(town.inspector))

    assert resp.status_code == 200, resp.json
    rows = {r["helper_id"]: r for r in resp.json["rows"]}
    assert set(rows) == {town.helper.id, town.other_helper.id}
    mine = rows[town.helper.id]
    assert mine["display_name"] == "帮扶甲"
    assert (mine["visits"], mine["flagged"], mine["invalid"], mine["valid"]) == (3, 2, 1, 0)
    assert mine["flagged_unreviewed"] == 1
    assert mine["flagged_pct"] == 66.7
    assert mine["by_flag"]["gps.far_from_household"] == 2
    assert mine["by_flag"]["visit.too_short"] == 1
    assert mine["by_flag"]["photo.duplicate"] == 0
    other = rows[town.other_helper.id]
    assert (other["visits"], other["flagged"], other["valid"]) == (1, 1, 1)
    assert resp.json["rows"][0]["helper_id"] == town.helper.id  # most flagged first
    assert {"code": "photo.duplicate", "title": "照片与其他农户重复"} in resp.json["flag_codes"]
    assert resp.json["period"]["kind"] == "month"

    resp = client.get(
        f"/api/v1/review/helpers?village_id={town.other_village.id}", headers=login(town.town_admin)
    )
    assert [r["helper_id"] for r in resp.json["rows"]] == [town.other_helper.id]


def test_anomaly_counts_errors(client, town, login):
    resp = client.get("/api/v1/review/helpers", headers=login(town.helper))
    assert resp.status_code == 403
    assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}
    resp = client.get("/api/v1/review/helpers?from=2026-11-01", headers=login(town.inspector))
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "period.invalid"
    assert "to" in resp.json["error"]["fields"]["query"]


def test_invalid_visit_drops_out_of_coverage(client, town, login):
    ended_at = datetime.now(UTC) - timedelta(minutes=1)
    # One minute without a location: too short, flagged.
    body = visit_body(town.household, town.helper, ended_at=ended_at, minutes=1)
    visit = submit_visit(client, login, town.helper, body)
    assert visit["flags"]
    url = f"/api/v1/coverage?region_id={town.village.id}"
    admin = login(town.town_admin)
    assert client.get(url, headers=admin).json["total"]["visited"] == 1

    resp = client.post(
        f"/api/v1/visits/{visit['id']}/review",
        json={"status": "invalid", "note": "走访时长不足且无定位"},
        headers=admin,
    )
    assert resp.status_code == 200
    assert client.get(url, headers=admin).json["total"]["visited"] == 0
