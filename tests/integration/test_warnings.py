"""Early warning through HTTP: visits raise flags, the town confirms or dismisses, history."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, Household, WarningFlag
from backend.services import warnings as warning_service
from tests.integration.test_visits import _body as visit_body

WARNINGS = "/api/v1/warnings"


def post_visit(client, town, login, **answers):
    """Submit a visit to ``town.household`` by its helper with ``answers`` changed."""
    body = visit_body(town.household, town.helper)
    body["answers"].update(answers)
    resp = client.post("/api/v1/visits", json=body, headers=login(town.helper))
    assert resp.status_code == 201, resp.json
    return resp.json


POOR_AND_IN_DEBT = {
    "income_per_capita": 3200,
    "has_microloan": True,
    "microloan_amount": 30000,
    "microloan_overdue": True,
    "microloan_use": "production",
}
HARDSHIP = {
    "hardship": True,
    "hardship_types": ["serious_illness", "accident"],
    "hardship_date": "2026-01-05",
    "temporary_relief": "applying",
    "remarks": "户主车祸后住院，花费较大",
}


def pending(client, headers, **query):
    resp = client.get(WARNINGS, headers=headers, query_string=query)
    assert resp.status_code == 200, resp.json
    return resp.json


def by_reason(page) -> dict[str, dict]:
    return {item["reason"]: item for item in page["items"]}


@pytest.fixture
def admin(town, login):
    """Headers of the town admin (scope: 土桥镇)."""
    return login(town.town_admin)


def test_visit_below_the_line_with_overdue_loan_raises_two_pending_flags(
    client, town, login, admin
):
    visit = post_visit(client, town, login, **POOR_AND_IN_DEBT)
    page = pending(client, admin)
    assert page["total"] == 2
    flags = by_reason(page)
    income = flags["income_below_line"]
    assert income["household"]["id"] == town.household.id
    assert income["status"] == "pending" and income["status_label"] == "待研判"
    assert income["reason_label"] == "人均纯收入低于监测线"
    assert income["source"] == "visit" and income["source_label"] == "走访"
    assert income["summary"] == "人均纯收入 3200 元，低于监测线 6000 元"
    assert income["suggested_monitor_type"] == "unstable"
    [evidence] = income["evidence"]
    assert evidence["visit_id"] == visit["id"]
    assert evidence["facts"] == {"income_per_capita": 3200, "line": 6000.0}
    loan = flags["microloan_overdue"]
    assert loan["summary"] == "扶贫小额信贷逾期未还款"
    assert loan["evidence"][0]["facts"] == {"microloan_amount": 30000}

    # A later visit adds evidence to the pending flags instead of raising new ones.
    post_visit(client, town, login, **dict(POOR_AND_IN_DEBT, income_per_capita=3500))
    again = by_reason(pending(client, admin))
    assert len(again) == 2
    assert [e["facts"]["income_per_capita"] for e in again["income_below_line"]["evidence"]] == [
        3200,
        3500,
    ]
    assert (
        again["income_below_line"]["summary"]
        == "人均纯收入 3500 元，低于监测线 6000 元（共 2 次记录）"
    )
    assert again["income_below_line"]["id"] == income["id"]


def test_a_visit_above_the_line_raises_nothing(client, town, login, admin):
    post_visit(client, town, login, income_per_capita=6000)
    assert pending(client, admin)["total"] == 0


def test_confirm_one_dismiss_the_other_and_decisions_are_final(client, town, login, admin):
    post_visit(client, town, login, **POOR_AND_IN_DEBT)
    flags = by_reason(pending(client, admin))
    income, loan = flags["income_below_line"], flags["microloan_overdue"]

    confirmed = client.post(
        f"{WARNINGS}/{income['id']}/confirm",
        json={"monitor_type": "unstable", "note": "收入骤降，纳入监测"},
        headers=admin,
    )
    assert confirmed.status_code == 200, confirmed.json
    body = confirmed.json
    assert body["status"] == "confirmed" and body["status_label"] == "已纳入监测"
    assert body["monitor_type"] == "unstable" and body["monitor_type_label"] == "脱贫不稳定户"
    assert body["decision_note"] == "收入骤降，纳入监测"
    assert body["decided_by"] == {"id": town.town_admin.id, "display_name": "扶贫办"}
    assert body["household"]["is_monitored"] is True
    household = db.session.get(Household, town.household.id)
    db.session.refresh(household)
    assert household.is_monitored is True and household.monitor_type == "unstable"
    assert household.category == "registered_poor"  # keeps its category, gains the flag
    [audit] = db.session.scalars(select(AuditLog).where(AuditLog.action == "warning.confirmed"))
    assert audit.actor_user_id == town.town_admin.id
    assert audit.target_id == str(town.household.id)
    assert audit.detail["old"]["is_monitored"] is False
    assert audit.detail["new"]["monitor_type"] == "unstable"

    twice = client.post(
        f"{WARNINGS}/{income['id']}/confirm", json={"monitor_type": "unstable"}, headers=admin
    )
    assert twice.status_code == 409
    error = twice.json["error"]
    assert error["code"] == "warning.already_decided"
    assert error["message"] == "该预警已研判，不能重复处理。"
    assert error["details"]["status"] == "confirmed"
    assert error["details"]["status_label"] == "已纳入监测"

    no_reason = client.post(f"{WARNINGS}/{loan['id']}/dismiss", json={}, headers=admin)
    assert no_reason.status_code == 422
    assert no_reason.json["error"]["code"] == "request.validation"
    assert no_reason.json["error"]["fields"]["json"]["reason"] == ["必填项不能为空。"]
    blank = client.post(f"{WARNINGS}/{loan['id']}/dismiss", json={"reason": "  "}, headers=admin)
    assert blank.status_code == 422
    assert blank.json["error"]["code"] == "request.validation"
    assert blank.json["error"]["fields"]["json"]["reason"] == ["请填写不予纳入监测的理由。"]
    still = db.session.get(WarningFlag, loan["id"])
    db.session.refresh(still)
    assert still.status == "pending"

    dismissed = client.post(
        f"{WARNINGS}/{loan['id']}/dismiss",
        json={"reason": "已于当月还清，系统未同步"},
        headers=admin,
    )
    assert dismissed.status_code == 200, dismissed.json
    assert dismissed.json["status"] == "dismissed"
    assert dismissed.json["decision_note"] == "已于当月还清，系统未同步"
    assert dismissed.json["monitor_type"] is None
    again = client.post(
        f"{WARNINGS}/{loan['id']}/dismiss", json={"reason": "再驳回"}, headers=admin
    )
    assert again.status_code == 409
    assert again.json["error"]["code"] == "warning.already_decided"
    assert again.json["error"]["details"]["status"] == "dismissed"
    assert pending(client, admin)["total"] == 0
    assert pending(client, admin, status="dismissed")["items"][0]["id"] == loan["id"]

    # History: every flag with its decision, newest first.
    history = client.get(f"/api/v1/households/{town.household.id}/warnings", headers=admin)
    assert history.status_code == 200, history.json
    assert history.json["household"]["id"] == town.household.id
    decided = {i["reason"]: (i["status"], i["decision_note"]) for i in history.json["items"]}
    assert decided == {
        "income_below_line": ("confirmed", "收入骤降，纳入监测"),
        "microloan_overdue": ("dismissed", "已于当月还清，系统未同步"),
    }

    # A monitored household is not flagged again by later low-income visits.
    post_visit(client, town, login, income_per_capita=2000)
    assert pending(client, admin)["total"] == 0


def test_monitor_type_must_fit_the_household(client, town, login, admin):
    post_visit(client, town, login, income_per_capita=3000)
    [flag] = pending(client, admin)["items"]
    wrong = client.post(
        f"{WARNINGS}/{flag['id']}/confirm", json={"monitor_type": "edge"}, headers=admin
    )
    assert wrong.status_code == 422
    assert wrong.json["error"]["code"] == "warning.monitor_type_invalid"
    assert wrong.json["error"]["message"] == "已脱贫的建档立卡贫困户应纳入为脱贫不稳定户。"
    assert wrong.json["error"]["details"] == {"suggested": "unstable"}
    bogus = client.post(
        f"{WARNINGS}/{flag['id']}/confirm", json={"monitor_type": "rich"}, headers=admin
    )
    assert bogus.status_code == 422
    assert bogus.json["error"]["code"] == "request.validation"
    assert "monitor_type" in bogus.json["error"]["fields"]["json"]
    missing = client.post(f"{WARNINGS}/{flag['id']}/confirm", json={}, headers=admin)
    assert missing.status_code == 422
    assert missing.json["error"]["fields"]["json"]["monitor_type"] == ["必填项不能为空。"]


def test_an_ordinary_household_becomes_a_monitored_one(client, town, admin):
    household = town.other_household
    household.category = "ordinary"
    household.poverty_status = None
    flag, created = warning_service.flag_household(
        household=household,
        reason="sudden_hardship",
        source="report",
        facts={"words": ["灾"]},
        text="房屋被洪水冲毁",
    )
    assert created
    resp = client.post(
        f"{WARNINGS}/{flag.id}/confirm", json={"monitor_type": "sudden_hardship"}, headers=admin
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["household"]["category"] == "monitored"
    assert resp.json["household"]["monitor_type_label"] == "突发严重困难户"


def test_hardship_evidence_is_masked_unless_unmasked_and_audited(client, town, login, admin):
    post_visit(client, town, login, **HARDSHIP)
    [flag] = pending(client, admin)["items"]
    assert flag["reason"] == "sudden_hardship"
    assert flag["summary"] == "遭遇突发严重困难"
    [evidence] = flag["evidence"]
    assert evidence["text"] == "已登记"
    assert evidence["facts"]["hardship_types"] == "已登记"
    assert evidence["facts"]["temporary_relief"] == "applying"

    url = f"/api/v1/households/{town.household.id}/warnings"
    masked = client.get(url, headers=admin)
    assert masked.json["unmasked"] is False
    assert masked.json["items"][0]["evidence"][0]["text"] == "已登记"
    assert db.session.scalars(select(AuditLog).where(AuditLog.action == "pii.read")).all() == []

    full = client.get(url + "?unmask=true", headers=admin)
    assert full.status_code == 200, full.json
    [item] = full.json["items"]
    assert item["summary"] == "遭遇突发严重困难：重大疾病、意外事故"
    assert item["evidence"][0]["text"] == "户主车祸后住院，花费较大"
    assert item["evidence"][0]["facts"]["hardship_types"] == ["serious_illness", "accident"]
    [audit] = db.session.scalars(select(AuditLog).where(AuditLog.action == "pii.read"))
    assert audit.detail == {"fields": ["health"], "via": "warnings"}
    assert audit.target_id == str(town.household.id)


# -- scope and roles -------------------------------------------------------------------------


def test_out_of_region_households_are_404(client, town, admin):
    far, _ = warning_service.flag_household(
        household=town.far_household,
        reason="income_below_line",
        source="visit",
        facts={"income_per_capita": 1000, "line": 6000},
    )
    assert pending(client, admin)["total"] == 0
    for action, body in (("confirm", {"monitor_type": "unstable"}), ("dismiss", {"reason": "x"})):
        resp = client.post(f"{WARNINGS}/{far.id}/{action}", json=body, headers=admin)
        assert resp.status_code == 404
        assert resp.json["error"] == {
            "code": "warning.not_found",
            "message": "预警不存在或您无权查看。",
        }
    unknown = client.post(f"{WARNINGS}/999999/dismiss", json={"reason": "x"}, headers=admin)
    assert unknown.status_code == 404
    assert unknown.json["error"]["code"] == "warning.not_found"
    history = client.get(f"/api/v1/households/{town.far_household.id}/warnings", headers=admin)
    assert history.status_code == 404
    assert history.json["error"] == {
        "code": "household.not_found",
        "message": "农户不存在或不在您的管辖范围内。",
    }


def test_inspector_reads_but_does_not_decide_and_others_may_not_read(client, town, login):
    flag, _ = warning_service.flag_household(
        household=town.household,
        reason="microloan_overdue",
        source="visit",
        facts={"microloan_amount": 5000},
    )
    inspector = login(town.inspector)
    assert pending(client, inspector)["total"] == 1
    district = login(town.district_user)
    assert pending(client, district)["total"] == 1
    resp = client.post(f"{WARNINGS}/{flag.id}/dismiss", json={"reason": "x"}, headers=inspector)
    assert resp.status_code == 403
    assert resp.json["error"] == {
        "code": "auth.forbidden",
        "message": "只有镇扶贫办和区扶贫办可以研判预警。",
    }
    for role in ("office", "helper", "village_cadre"):
        denied = client.get(WARNINGS, headers=login(town.users_by_role()[role]))
        assert denied.status_code == 403, role
        assert denied.json["error"]["code"] == "auth.forbidden"
    anonymous = client.get(WARNINGS)
    assert anonymous.status_code == 401
    assert anonymous.json["error"]["code"] == "auth.required"
    # The district decides too (研判 is also the district's work).
    decided = client.post(
        f"{WARNINGS}/{flag.id}/dismiss", json={"reason": "已还清"}, headers=district
    )
    assert decided.status_code == 200, decided.json


def test_queue_filters(client, town, login, admin):
    post_visit(client, town, login, **POOR_AND_IN_DEBT)
    only_loans = pending(client, admin, reason="microloan_overdue")
    assert [i["reason"] for i in only_loans["items"]] == ["microloan_overdue"]
    other_village = pending(client, admin, village_id=town.other_village.id)
    assert other_village["total"] == 0
    bad = client.get(WARNINGS, headers=admin, query_string={"status": "maybe"})
    assert bad.status_code == 422
    assert bad.json["error"]["code"] == "request.validation"
    assert "status" in bad.json["error"]["fields"]["query"]


def test_a_visit_appends_evidence_to_a_long_pending_flag_as_the_single_rule_does(
    client, town, login
):
    """Batched ingest keeps a pending flag's first entry and latest ones, and counts them all."""
    first = post_visit(client, town, login, **POOR_AND_IN_DEBT)
    flag = db.session.scalar(
        select(WarningFlag).where(
            WarningFlag.household_id == town.household.id,
            WarningFlag.reason == "income_below_line",
        )
    )
    raised_by = flag.detail["evidence"][0]
    # A flag pending for months: its first entry, MAX_EVIDENCE - 1 later ones, 30 in all.
    later = [{"n": n} for n in range(warning_service.MAX_EVIDENCE - 1)]
    flag.detail = {"evidence": [raised_by, *later], "evidence_count": 30, "note": "kept"}
    loan = db.session.scalar(
        select(WarningFlag).where(
            WarningFlag.household_id == town.household.id,
            WarningFlag.reason == "microloan_overdue",
        )
    )
    # An older flag without a count: its entries are its count.
    loan.detail = {"evidence": loan.detail["evidence"] * 3}
    db.session.commit()

    visit = post_visit(client, town, login, **dict(POOR_AND_IN_DEBT, income_per_capita=3300))

    db.session.expire_all()
    flag, loan = db.session.get(WarningFlag, flag.id), db.session.get(WarningFlag, loan.id)
    entries = flag.detail["evidence"]
    assert len(entries) == warning_service.MAX_EVIDENCE
    assert entries[0] == raised_by and entries[0]["visit_id"] == first["id"]
    assert entries[1:-1] == later[1:]
    assert entries[-1]["visit_id"] == visit["id"]
    assert entries[-1]["facts"] == {"income_per_capita": 3300, "line": 6000.0}
    assert entries[-1]["source"] == "visit" and entries[-1]["text"] is None
    assert flag.detail["evidence_count"] == 31
    assert flag.detail["note"] == "kept"
    assert len(loan.detail["evidence"]) == 4 and loan.detail["evidence_count"] == 4
    assert loan.detail["evidence"][-1]["visit_id"] == visit["id"]
