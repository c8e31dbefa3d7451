"""The prefilled visit form (减少填表报数) through HTTP: roster, last visit, masking, scope, cards."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, FormVersion, Visit
from backend.services import survey
from backend.services.clock import china_today
from backend.services.visit_forms import members_for_survey
from tests.factories import CardFactory, MemberFactory


def _seeded() -> FormVersion:
    return db.session.scalar(select(FormVersion).where(FormVersion.version == 1))


def _visit(town, *, answers, ended_at, review_status="unreviewed", household=None, helper=None):
    visit = Visit(
        client_uuid=str(uuid.uuid4()),
        body_hash="0" * 64,
        household_id=(household or town.household).id,
        helper_id=(helper or town.helper).id,
        form_version_id=_seeded().id,
        answers=answers,
        started_at=ended_at - timedelta(minutes=20),
        ended_at=ended_at,
        review_status=review_status,
    )
    db.session.add(visit)
    db.session.flush()
    return visit


def _members(town):
    head, child = town.household.members
    return head, child


def _school_age_child(town):
    """Make the household's child 10 years old today, at primary school, and uninsured."""
    _, child = _members(town)
    today = china_today()
    child.birth_date = date(today.year - 10, 1, 1)
    child.schooling = "在读小学"
    child.medical_insurance = False
    return child


def test_default_survey_v1_is_current_after_migration(client, town, login):
    seeded = _seeded()
    assert seeded.status == "published"
    assert seeded.definition == survey.load_default_definition()
    resp = client.get(
        f"/api/v1/households/{town.household.id}/visit-form", headers=login(town.helper)
    )
    assert resp.status_code == 200, resp.json
    form = resp.json["form"]
    assert (form["id"], form["version"], form["title"]) == (seeded.id, 1, "户户清走访调查表")
    assert form["definition"] == seeded.definition


def test_prefill_from_the_roster(client, town, login):
    head, _ = _members(town)
    child = _school_age_child(town)
    resp = client.get(
        f"/api/v1/households/{town.household.id}/visit-form", headers=login(town.helper)
    )
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["visit_date"] == china_today().isoformat()
    assert body["last_visit"] is None
    members = {m["id"]: m for m in body["members"]}
    assert members[child.id] == {
        "id": child.id,
        "name": child.name,
        "relation": "子女",
        "sex": "F",
        "birth_date": child.birth_date.isoformat(),
        "age": 10,
    }
    assert "id_number" not in members[head.id]
    prefill = body["prefill"]
    hid, cid = str(head.id), str(child.id)
    # Medical insurance, per member, straight from the roster.
    assert prefill["medical_insurance"] == {
        "value": {hid: True, cid: False},
        "source": {hid: "roster", cid: "roster"},
    }
    # Schooling is asked only of the 6–15-year-old child.
    assert prefill["school_status"] == {"value": {cid: "in_school"}, "source": {cid: "roster"}}
    assert prefill["family_doctor_name"] == {"value": "测医生", "source": "roster"}
    assert prefill["outpatient_treated"] == {"value": True, "source": "roster"}
    assert prefill["dibao_enrolled"] == {"value": False, "source": "roster"}
    # Observed afresh each visit: never suggested.
    assert "food_secure" not in prefill
    assert "house_inhabited" not in prefill


def test_prefill_from_the_last_valid_visit(client, town, login):
    now = datetime.now(UTC)
    _visit(
        town,
        answers={"house_grade": "C", "water_quantity": False},
        ended_at=now - timedelta(days=60),
    )
    last = _visit(
        town,
        answers={"house_grade": "B", "water_quantity": True, "food_secure": True},
        ended_at=now - timedelta(days=30),
    )
    # A later visit judged invalid by the town office is not a source.
    _visit(
        town,
        answers={"house_grade": "D"},
        ended_at=now - timedelta(days=1),
        review_status="invalid",
    )
    resp = client.get(
        f"/api/v1/households/{town.household.id}/visit-form", headers=login(town.helper)
    )
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["last_visit"]["id"] == last.id
    assert body["last_visit"]["form_version"] == 1
    assert datetime.fromisoformat(body["last_visit"]["ended_at"]) == last.ended_at
    assert body["prefill"]["house_grade"] == {"value": "B", "source": "last_visit"}
    assert body["prefill"]["water_quantity"] == {"value": True, "source": "last_visit"}
    assert "food_secure" not in body["prefill"]


def test_roster_wins_over_the_last_visit(client, town, login):
    head, _ = _members(town)
    _visit(
        town,
        answers={"medical_insurance": {str(head.id): False}},
        ended_at=datetime.now(UTC) - timedelta(days=3),
    )
    resp = client.get(
        f"/api/v1/households/{town.household.id}/visit-form", headers=login(town.helper)
    )
    suggestion = resp.json["prefill"]["medical_insurance"]
    assert suggestion["value"][str(head.id)] is True
    assert suggestion["source"][str(head.id)] == "roster"


def test_helper_sees_the_phone_and_the_read_is_audited(client, town, login):
    resp = client.get(
        f"/api/v1/households/{town.household.id}/visit-form", headers=login(town.helper)
    )
    assert resp.json["unmasked"] is True
    assert resp.json["household"]["phone"] == town.household.phone
    assert resp.headers["Cache-Control"] == "no-store"
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "pii.read"))
    assert row.actor_user_id == town.helper.id
    assert row.target_id == str(town.household.id)
    assert row.detail == {"fields": ["phone"], "via": "visit_form"}


def test_office_sees_a_masked_household(client, town, login):
    resp = client.get(
        f"/api/v1/households/{town.household.id}/visit-form", headers=login(town.office)
    )
    assert resp.status_code == 200
    assert resp.json["unmasked"] is False
    assert resp.json["household"]["phone"].count("*") == 4
    assert resp.json["household"]["phone"] != town.household.phone
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "pii.read")) is None


@pytest.mark.parametrize("role", ["village_cadre", "town_admin", "inspector", "district"])
def test_staff_in_scope_get_the_form(client, town, login, role):
    user = town.users_by_role()[role]
    resp = client.get(f"/api/v1/households/{town.household.id}/visit-form", headers=login(user))
    assert resp.status_code == 200
    assert resp.json["household"]["id"] == town.household.id


@pytest.mark.parametrize(
    ("user_attr", "household_attr"),
    [
        ("other_helper", "household"),  # a helper of another household
        ("helper_b", "household"),  # a helper of the same village, not assigned
        ("village_cadre", "other_household"),  # another village
        ("town_admin", "far_household"),  # another district
    ],
)
def test_out_of_scope_is_not_found(client, town, login, user_attr, household_attr):
    household = getattr(town, household_attr)
    resp = client.get(
        f"/api/v1/households/{household.id}/visit-form", headers=login(getattr(town, user_attr))
    )
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "household.not_found",
        "message": "农户不存在或不在您的管辖范围内。",
    }


def test_unknown_household_is_not_found(client, town, login):
    resp = client.get("/api/v1/households/999999/visit-form", headers=login(town.town_admin))
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "household.not_found"


def test_anonymous_is_refused(client, town):
    card = CardFactory(household=town.household)
    for path in (
        f"/api/v1/households/{town.household.id}/visit-form",
        f"/api/v1/scan/{card.token}/visit-form",
        "/api/v1/scan/NoSuchToken/visit-form",
    ):
        resp = client.get(path)
        assert resp.status_code == 401
        assert resp.json["error"] == {"code": "auth.required", "message": "请先登录。"}


def test_scan_opens_the_visit_form(client, town, login):
    card = CardFactory(household=town.household)
    resp = client.get(f"/api/v1/scan/{card.token}/visit-form", headers=login(town.helper))
    assert resp.status_code == 200, resp.json
    assert resp.json["household"]["id"] == town.household.id
    assert resp.json["form"]["version"] == 1
    assert resp.headers["Cache-Control"] == "no-store"


def test_scan_of_a_revoked_card(client, town, login):
    card = CardFactory(household=town.household, status="revoked")
    resp = client.get(f"/api/v1/scan/{card.token}/visit-form", headers=login(town.helper))
    assert resp.status_code == 410
    assert resp.json["error"] == {
        "code": "card.replaced",
        "message": "此二维码已作废，请使用新换发的明白卡。",
    }


@pytest.mark.parametrize("token", ["NoSuchToken0000000000000", "bad-token!"])
def test_scan_of_an_unknown_card(client, town, login, token):
    resp = client.get(f"/api/v1/scan/{token}/visit-form", headers=login(town.helper))
    assert resp.status_code == 404
    assert resp.json["error"] == {"code": "card.not_found", "message": "二维码无效，请核对明白卡。"}


def test_scan_of_a_household_out_of_scope(client, town, login):
    card = CardFactory(household=town.other_household)
    resp = client.get(f"/api/v1/scan/{card.token}/visit-form", headers=login(town.helper))
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "household.not_found",
        "message": "农户不存在或不在您的管辖范围内。",
    }


def test_latest_published_version_is_rendered(client, town, login):
    definition = survey.load_default_definition()
    definition["version"] = 2
    db.session.add(
        FormVersion(version=2, title="第二版", definition=definition, status="published")
    )
    db.session.add(FormVersion(version=3, title="草稿", definition=definition, status="draft"))
    resp = client.get(
        f"/api/v1/households/{town.household.id}/visit-form", headers=login(town.helper)
    )
    assert (resp.json["form"]["version"], resp.json["form"]["title"]) == (2, "第二版")


def test_no_published_version(client, town, login):
    _seeded().status = "retired"
    resp = client.get(
        f"/api/v1/households/{town.household.id}/visit-form", headers=login(town.helper)
    )
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "form.not_found",
        "message": "当前没有在用的问卷，请联系镇扶贫办发布问卷。",
    }


def test_members_for_survey_carries_the_roster_facts(town):
    MemberFactory(household=town.household, relation="配偶", migrant_work=True, disability="肢体")
    db.session.refresh(town.household)
    rows = members_for_survey(town.household)
    assert [r["relation"] for r in rows] == ["户主", "子女", "配偶"]
    assert set(rows[2]) == {
        "id",
        "name",
        "birth_date",
        "relation",
        "sex",
        "schooling",
        "medical_insurance",
        "serious_illness_insurance",
        "doctor_name",
        "disability",
        "chronic_illness",
        "migrant_work",
    }
    assert (rows[2]["migrant_work"], rows[2]["disability"]) == (True, "肢体")


def test_china_today_is_the_town_calendar_day():
    assert china_today(datetime(2026, 1, 31, 15, 59, tzinfo=UTC)) == date(2026, 1, 31)
    assert china_today(datetime(2026, 1, 31, 16, 0, tzinfo=UTC)) == date(2026, 2, 1)
