"""Monthly spot-checks through HTTP: the stratified sample, its seed, outcomes and their effects."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, Problem, SpotCheck, SpotCheckItem, Visit
from backend.services.spot_checks import draw_sample
from tests.factories import HouseholdFactory, VisitFactory

PERIOD = "2026-10"


def make_visit(household, helper, ended_at, *, review_status="unreviewed"):
    """A stored visit of ``helper`` to ``household`` ending at ``ended_at``."""
    return VisitFactory(
        household=household, helper=helper, ended_at=ended_at, review_status=review_status
    )


def _october(town):
    """25 visits in 石桥村 and 3 in 观音村 in October (China time), plus ones that must not count."""
    a, b = [], []
    extra = HouseholdFactory(region=town.group, village=town.village)
    for day in range(25):
        household = town.household if day % 2 else extra
        a.append(make_visit(household, town.helper, datetime(2026, 10, 2 + day, 3, tzinfo=UTC)))
    # 01:00 on 1 October in China is still 30 September in UTC: it belongs to October.
    b.append(
        make_visit(town.other_household, town.other_helper, datetime(2026, 9, 30, 17, tzinfo=UTC))
    )
    for day in (5, 6):
        b.append(
            make_visit(town.other_household, town.other_helper, datetime(2026, 10, day, tzinfo=UTC))
        )
    # Not candidates: already invalid, 1 November in China, another district.
    make_visit(
        town.household, town.helper, datetime(2026, 10, 9, tzinfo=UTC), review_status="invalid"
    )
    make_visit(town.household, town.helper, datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    make_visit(town.far_household, town.far_helper, datetime(2026, 10, 9, tzinfo=UTC))
    return a, b


def _create(client, town, headers, **body):
    payload = {"period": PERIOD, "region_id": town.town.id, **body}
    return client.post("/api/v1/spot-checks", json=payload, headers=headers)


def test_sample_is_stratified_stored_and_reproducible(client, town, login):
    a, b = _october(town)
    resp = _create(client, town, login(town.inspector), share=0.1, seed="tuqiao-2026-10")

    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["period"] == PERIOD and body["seed"] == "tuqiao-2026-10" and body["share"] == 0.1
    assert body["region"] == {"id": town.town.id, "name": "土桥镇"}
    assert body["population_size"] == 28 and body["sample_size"] == 4
    strata = {s["village"]["name"]: (s["population"], s["sample"]) for s in body["strata"]}
    assert strata == {"石桥村": (25, 3), "观音村": (3, 1)}
    items = body["items"]
    assert len(items) == 4
    assert all(i["outcome"] == "pending" and i["outcome_label"] == "待核验" for i in items)
    assert body["outcomes"]["pending"] == 4 and body["pending"] == 4

    # Redrawn from the stored seed over the same visits: the same sample.
    expected = draw_sample(
        {town.village.id: [v.id for v in a], town.other_village.id: [v.id for v in b]},
        share=0.1,
        seed="tuqiao-2026-10",
    )
    by_village = {}
    for item in items:
        by_village.setdefault(item["village"]["id"], []).append(item["visit_id"])
    assert {k: sorted(v) for k, v in by_village.items()} == expected
    stored = db.session.scalars(select(SpotCheckItem.visit_id).order_by(SpotCheckItem.visit_id))
    assert sorted(stored) == sorted(i for ids in expected.values() for i in ids)

    [row] = db.session.scalars(select(AuditLog).where(AuditLog.action == "spot_check.create"))
    assert row.actor_user_id == town.inspector.id
    assert row.detail["seed"] == "tuqiao-2026-10" and row.detail["sample"] == 4


def test_default_share_and_random_seed(client, town, login, app):
    _october(town)
    resp = _create(client, town, login(town.town_admin))
    assert resp.status_code == 201, resp.json
    assert resp.json["share"] == app.config["SPOT_CHECK_SHARE"] == 0.05
    assert len(resp.json["seed"]) == 16
    # 5% of 25 → 2, of 3 → at least 1.
    assert resp.json["sample_size"] == 3


def test_one_spot_check_per_town_and_month(client, town, login):
    _october(town)
    first = _create(client, town, login(town.inspector), seed="x")
    assert first.status_code == 201
    resp = _create(client, town, login(town.town_admin), seed="y")
    assert resp.status_code == 409
    assert resp.json["error"] == {
        "code": "spot_check.exists",
        "message": "该地区本月已抽取过样本，不能重复抽取。",
        "details": {"spot_check_id": first.json["id"]},
    }
    assert db.session.scalar(select(SpotCheck.seed)) == "x"


def test_create_errors(client, town, login):
    _october(town)
    inspector = login(town.inspector)
    for user in (town.helper, town.office, town.village_cadre, town.district_user):
        resp = _create(client, town, login(user))
        assert resp.status_code == 403
        assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}

    resp = _create(client, town, inspector, region_id=town.far_village.id)
    assert resp.status_code == 404
    assert resp.json["error"] == {"code": "region.not_found", "message": "地区不存在。"}

    resp = _create(client, town, inspector, region_id=town.district.id)
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "auth.forbidden"
    assert resp.json["error"]["message"] == "所选地区不在您的管辖范围内。"

    resp = _create(client, town, inspector, region_id=town.village.id)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "spot_check.region_invalid"
    assert resp.json["error"]["message"] == "请选择一个镇进行抽查。"

    resp = _create(client, town, inspector, period="2026-07")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "spot_check.empty"
    assert resp.json["error"]["message"] == "该月没有可抽查的走访记录。"

    for bad in ({"period": "2026-13"}, {"period": "2026-Q4"}, {"share": 0}, {"share": 1.5}):
        resp = _create(client, town, inspector, **bad)
        assert resp.status_code == 422, bad
        assert resp.json["error"]["code"] == "request.validation"
        assert list(resp.json["error"]["fields"]["json"]) == list(bad)
    resp = client.post("/api/v1/spot-checks", json={"period": PERIOD}, headers=inspector)
    assert resp.status_code == 422
    assert resp.json["error"]["fields"]["json"]["region_id"] == ["必填项不能为空。"]
    assert db.session.scalar(select(SpotCheck.id)) is None


def test_list_and_detail_are_scoped(client, town, login):
    _october(town)
    created = _create(client, town, login(town.inspector), seed="s").json
    far_town = town.far_village.parent
    foreign = SpotCheck(
        region_id=far_town.id,
        region_path=far_town.path,
        period=PERIOD,
        share=0.05,
        seed="far",
        population_size=0,
        sample_size=0,
        strata={},
    )
    db.session.add(foreign)
    db.session.flush()

    for user in (town.town_admin, town.inspector, town.district_user):
        resp = client.get("/api/v1/spot-checks", headers=login(user))
        assert resp.status_code == 200
        assert [s["id"] for s in resp.json["items"]] == [created["id"]]
        assert resp.json["items"][0]["outcomes"]["pending"] == created["sample_size"]
    listed = client.get("/api/v1/spot-checks?period=2026-10", headers=login(town.town_admin))
    assert listed.json["items"][0]["pending"] == created["sample_size"]
    empty = client.get("/api/v1/spot-checks?period=2026-09", headers=login(town.town_admin))
    assert empty.json["total"] == 0

    resp = client.get(f"/api/v1/spot-checks/{created['id']}", headers=login(town.town_admin))
    assert resp.status_code == 200
    assert [i["id"] for i in resp.json["items"]] == [i["id"] for i in created["items"]]

    resp = client.get(f"/api/v1/spot-checks/{foreign.id}", headers=login(town.inspector))
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "spot_check.not_found",
        "message": "抽查记录不存在或不在您的管辖范围内。",
    }
    resp = client.get(f"/api/v1/spot-checks/{created['id']}", headers=login(town.helper))
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "auth.forbidden"


def _outcome(client, spot_check_id, item_id, headers, **body):
    return client.post(
        f"/api/v1/spot-checks/{spot_check_id}/items/{item_id}/outcome", json=body, headers=headers
    )


def test_confirmed_outcome(client, town, login):
    _october(town)
    created = _create(client, town, login(town.inspector), seed="s").json
    item = created["items"][0]
    inspector = login(town.inspector)

    resp = _outcome(
        client, created["id"], item["id"], login(town.town_admin), outcome="confirmed_phone"
    )
    assert resp.status_code == 403
    assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}

    resp = _outcome(
        client, created["id"], item["id"], inspector, outcome="confirmed_phone", note="户主确认"
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["outcome"] == "confirmed_phone"
    assert resp.json["outcome_label"] == "电话回访属实"
    assert resp.json["decided_by"] == {"id": town.inspector.id, "display_name": "纪委"}
    assert resp.json["problem_id"] is None
    visit = db.session.get(Visit, item["visit_id"])
    assert visit.review_status == "unreviewed"

    resp = _outcome(client, created["id"], item["id"], inspector, outcome="not_confirmed", note="x")
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "spot_check.already_decided"
    assert resp.json["error"]["message"] == "该样本已记录核验结果，不能重复记录。"
    assert resp.json["error"]["details"]["outcome"] == "confirmed_phone"

    detail = client.get(f"/api/v1/spot-checks/{created['id']}", headers=inspector).json
    assert detail["outcomes"]["confirmed_phone"] == 1
    assert detail["pending"] == created["sample_size"] - 1
    [row] = db.session.scalars(select(AuditLog).where(AuditLog.action == "spot_check.outcome"))
    assert row.target_type == "spot_check_item" and row.target_id == str(item["id"])
    assert row.detail["outcome"] == "confirmed_phone"


def test_not_confirmed_invalidates_the_visit_and_opens_a_problem_for_jw(client, town, login):
    _october(town)
    created = _create(client, town, login(town.inspector), seed="s").json
    item = created["items"][0]
    inspector = login(town.inspector)

    resp = _outcome(client, created["id"], item["id"], inspector, outcome="not_confirmed")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "spot_check.note_required"
    assert resp.json["error"]["message"] == "核实不属实时须填写说明。"
    assert resp.json["error"]["fields"] == {"json": {"note": ["请写明核实不属实的情况。"]}}

    resp = _outcome(
        client,
        created["id"],
        item["id"],
        inspector,
        outcome="not_confirmed",
        note="回访户主称当月无人走访",
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["outcome"] == "not_confirmed"
    assert resp.json["visit_review_status"] == "invalid"
    problem = db.session.get(Problem, resp.json["problem_id"])
    assert problem.area == "authenticity" and problem.office_code == "jw"
    assert problem.source == "spot_check" and problem.status == "assigned"
    assert problem.source_visit_id == item["visit_id"]
    assert problem.household_id == item["household"]["id"]
    assert problem.description == "回访户主称当月无人走访"
    assert problem.deadline_at is not None

    visit = db.session.get(Visit, item["visit_id"])
    db.session.refresh(visit)
    assert visit.review_status == "invalid"
    assert visit.review_note == "抽查核实不属实：回访户主称当月无人走访"
    assert visit.reviewed_by_id == town.inspector.id
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"spot_check.outcome", "visit.review"} <= actions
    review_row = db.session.scalar(select(AuditLog).where(AuditLog.action == "visit.review"))
    assert review_row.detail["via"] == "spot_check"


def test_outcome_errors(client, town, login):
    _october(town)
    created = _create(client, town, login(town.inspector), seed="s").json
    inspector = login(town.inspector)
    item_id = created["items"][0]["id"]

    resp = _outcome(client, created["id"], 999999, inspector, outcome="confirmed_revisit")
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "spot_check.item_not_found",
        "message": "抽查样本不存在。",
    }
    resp = _outcome(client, 999999, item_id, inspector, outcome="confirmed_revisit")
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "spot_check.not_found"
    resp = _outcome(client, created["id"], item_id, inspector, outcome="maybe")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert "outcome" in resp.json["error"]["fields"]["json"]
    resp = _outcome(client, created["id"], item_id, login(town.helper), outcome="confirmed_revisit")
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "auth.forbidden"
    assert db.session.get(SpotCheckItem, item_id).outcome == "pending"


def test_only_the_inspector_can_undo_a_not_confirmed_finding(client, town, login):
    _october(town)
    created = _create(client, town, login(town.inspector), seed="s").json
    item = created["items"][0]
    inspector = login(town.inspector)
    resp = _outcome(
        client, created["id"], item["id"], inspector, outcome="not_confirmed", note="无人走访"
    )
    assert resp.status_code == 200
    url = f"/api/v1/visits/{item['visit_id']}/review"

    resp = client.post(url, json={"status": "valid"}, headers=login(town.town_admin))
    assert resp.status_code == 409
    assert resp.json["error"] == {
        "code": "review.locked",
        "message": "该走访经镇纪委抽查核实不属实，只有镇纪委可以改变审核结果。",
        "details": {"visit_id": item["visit_id"]},
    }
    assert db.session.get(Visit, item["visit_id"]).review_status == "invalid"

    resp = client.post(url, json={"status": "valid", "note": "复核后确认属实"}, headers=inspector)
    assert resp.status_code == 200
    assert resp.json["review"]["status"] == "valid"
