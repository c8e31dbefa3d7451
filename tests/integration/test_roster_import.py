"""Roster import through HTTP and the CLI: upserts, rejections, scope, helpers and templates."""

from __future__ import annotations

import io
import time
from datetime import date

import openpyxl
import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Assignment, AuditLog, Household, Member, Region, Role, RoleGrant, User
from backend.services import roster_import
from tests import factories
from tests import roster_files as rf

URL = "/api/v1/imports/roster"


def upload(client, headers, data: bytes, name: str = "花名册.csv", query: str = "", **form):
    """POST a roster file as multipart/form-data."""
    return client.post(
        URL + query,
        headers=headers,
        data={"file": (io.BytesIO(data), name), **form},
        content_type="multipart/form-data",
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def audit_rows(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


def household_by_number(number: str) -> Household | None:
    return db.session.scalar(select(Household).where(Household.number == number))


def errors_of(resp) -> list[tuple]:
    return [(e["row"], e["column"], e["message"]) for e in resp.json["error"]["details"]["errors"]]


@pytest.fixture
def admin(town, login):
    """Headers of the town admin (scope: 土桥镇)."""
    return login(town.town_admin)


# -- the happy path and idempotence ----------------------------------------------------------


def test_template_imports_and_a_second_run_changes_nothing(client, town, admin):
    data = roster_import.roster_template_csv()
    resp = upload(client, admin, data, "template.csv")
    assert resp.status_code == 200, resp.json
    report = resp.json
    assert report["status"] == "imported"
    assert report["encoding"] == "utf-8-sig"
    assert report["errors"] == []
    counts = report["counts"]
    assert counts["households"] == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 0}
    assert counts["members"]["created"] == 6
    assert counts["groups"] == {"created": 1, "updated": 0, "unchanged": 1}
    assert counts["helpers"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert counts["assignments"] == {"created": 3, "updated": 0, "unchanged": 0}

    first = household_by_number("EXAMPLE-0001")
    assert first.region_id == town.group.id
    assert first.village_id == town.village.id
    assert first.region_path == town.group.path
    assert first.category == "registered_poor"
    assert first.poverty_status == "lifted"
    assert first.lat == pytest.approx(29.8012)
    assert [m.relation for m in first.members] == ["户主", "配偶", "子女"]
    child = first.members[2]
    assert child.sex == "M" and child.birth_date == date(2012, 9, 1)
    assert child.schooling == "小学在读"

    second = household_by_number("EXAMPLE-0002")
    group = db.session.get(Region, second.region_id)
    assert (group.code, group.name, group.level) == ("500151105201002", "二组", "group")
    assert group.parent_id == town.village.id
    assert group.path == town.village.path + "500151105201002/"
    assert second.region_path == group.path
    assert second.monitor_type == "edge" and second.is_monitored is True

    third = household_by_number("EXAMPLE-0003")
    assert third.region_id == third.village_id == town.other_village.id
    assert third.is_dibao is True and third.is_disabled is True
    assert third.lat is None

    helper = db.session.scalar(select(User).where(User.phone == "13800000101"))
    assert helper.display_name == "示例帮扶人王"
    assert helper.username is None and helper.password_hash is None
    assert [(g.role, g.region_id) for g in helper.grants] == [("helper", town.village.id)]
    assignment = db.session.scalar(select(Assignment).where(Assignment.household_id == first.id))
    assert assignment.helper_id == helper.id
    assert assignment.start_date == date(2024, 1, 1) and assignment.end_date is None
    # No start date in the file: the assignment starts on the day of the import.
    zhao = db.session.scalar(select(Assignment).where(Assignment.household_id == third.id))
    assert zhao.start_date == date.today()

    [audit] = audit_rows("roster.imported")
    assert audit.actor_user_id == town.town_admin.id
    assert audit.detail["file_name"] == "template.csv"
    assert audit.detail["sha256"] == report["sha256"]
    assert len(report["sha256"]) == 64
    assert audit.detail["counts"]["households"]["created"] == 3
    assert audit.region_path == town.town.path  # the importing admin's town
    # The bulk rows of the first assignments belong to their households' regions.
    paths = {h.id: h.region_path for h in (first, third)}
    stored = {int(r.target_id): r.region_path for r in audit_rows("assignment.changed")}
    assert {number: stored.get(number) for number in paths} == paths

    snapshot = (count(Household), count(Member), count(User), count(RoleGrant), count(Assignment))
    changes = len(audit_rows("assignment.changed"))
    again = upload(client, admin, data, "template.csv")
    assert again.status_code == 200, again.json
    for kind, numbers in again.json["counts"].items():
        assert numbers["created"] == 0, kind
        assert numbers["updated"] == 0, kind
    assert again.json["counts"]["households"]["unchanged"] == 3
    assert again.json["counts"]["members"]["unchanged"] == 6
    after = (count(Household), count(Member), count(User), count(RoleGrant), count(Assignment))
    assert after == snapshot
    assert len(audit_rows("assignment.changed")) == changes
    assert len(audit_rows("roster.imported")) == 2


def test_changed_rows_update_and_members_missing_from_the_file_stay(client, town, admin):
    rows = rf.household("HH-T-0001", members=3)
    assert upload(client, admin, rf.to_csv(rows)).status_code == 200
    for r in rows:
        r["address"] = "搬到新址"
        r["group_code"], r["group_name"] = "", ""
    rows[1]["chronic_illness"] = "高血压"
    del rows[2]
    resp = upload(client, admin, rf.to_csv(rows))
    assert resp.status_code == 200, resp.json
    counts = resp.json["counts"]
    assert counts["households"]["updated"] == 1
    assert counts["members"] == {
        "created": 0,
        "updated": 1,
        "unchanged": 1,
        "skipped": 0,
        "not_in_file": 1,
    }
    household = household_by_number("HH-T-0001")
    assert household.address == "搬到新址"
    # Without a group the household sits in the village itself.
    assert household.region_id == household.village_id == town.village.id
    assert household.region_path == town.village.path
    assert len(household.members) == 3
    assert household.members[1].chronic_illness == "高血压"


def test_existing_households_are_matched_by_number(client, town, admin):
    existing = town.household
    head = existing.members[0]
    line = rf.row(
        household_number=existing.number,
        head_name=existing.head_name,
        member_name=head.name,
        id_number=head.id_number,
        sex="",
        birth_date="",
        category="低保户",
        poverty_status="",
        is_dibao="是",
    )
    members_before = count(Member)
    resp = upload(client, admin, rf.to_csv([line]))
    assert resp.status_code == 200, resp.json
    assert resp.json["counts"]["households"]["updated"] == 1
    assert resp.json["counts"]["members"]["updated"] == 1
    assert resp.json["counts"]["members"]["not_in_file"] == 1
    db.session.refresh(existing)
    assert existing.category == "dibao" and existing.is_dibao is True
    assert count(Member) == members_before


def test_without_group_columns_a_household_keeps_its_group(client, town, admin):
    existing = town.household
    head = existing.members[0]
    keys = [k for k in rf.HEADER if k not in ("group_code", "group_name")]
    line = rf.row(
        household_number=existing.number,
        head_name=existing.head_name,
        member_name=head.name,
        id_number=head.id_number,
        sex="",
        birth_date="",
    )
    resp = upload(client, admin, rf.to_csv([line], keys=keys))
    assert resp.status_code == 200, resp.json
    db.session.refresh(existing)
    assert existing.region_id == town.group.id
    assert existing.region_path == town.group.path


def test_an_excel_saved_workbook_imports(client, town, admin):
    lines = rf.table(rf.household("HH-X-0001", members=2))
    lines = [[v if v != "" else None for v in line] for line in lines]
    birth = lines[0].index("出生日期")
    for line in lines[1:]:
        born = date.fromisoformat(line[birth])
        line[birth] = rf.XCell(f"<v>{(born - date(1899, 12, 30)).days}</v>", s=1)
    data = rf.excel_xlsx({"Sheet1": lines})
    resp = upload(client, admin, data, "从Excel保存.xlsx")
    assert resp.status_code == 200, resp.json
    assert resp.json["counts"]["members"]["created"] == 2
    household = household_by_number("HH-X-0001")
    assert household.members[0].birth_date == date(1970, 5, 17)


# -- a bad file is rejected whole ------------------------------------------------------------


def test_a_bad_row_rejects_the_whole_file_and_only_the_audit_row_is_written(client, town, admin):
    rows = rf.household("HH-T-0001", members=2) + rf.household("HH-T-0002", first_seq=21)
    rows[3]["id_number"] = rf.bad_checksum(rows[3]["id_number"])
    rows[1]["birth_date"] = "1999-02-30"
    before = (count(Household), count(Member), count(Region), count(User))
    resp = upload(client, admin, rf.to_csv(rows), "坏文件.csv")
    assert resp.status_code == 422
    body = resp.json["error"]
    assert body["code"] == "import.rejected"
    assert body["message"] == "导入文件有误，已整体退回，未导入任何数据。"
    assert errors_of(resp) == [
        (3, "出生日期", "日期“1999-02-30”格式有误，应为 YYYY-MM-DD（如 1970-05-17）。"),
        (5, "身份证号", "身份证号校验位错误。"),
    ]
    details = body["details"]
    assert details["status"] == "rejected"
    assert details["bad_rows"] == 2
    assert details["counts"]["households"]["skipped"] == 2
    assert (count(Household), count(Member), count(Region), count(User)) == before
    [audit] = audit_rows("roster.rejected")
    assert audit.detail["file_name"] == "坏文件.csv"
    assert audit.detail["error_count"] == 2
    assert audit_rows("roster.imported") == []


def test_missing_columns_are_reported_once_for_the_file(client, town, admin):
    keys = [k for k in rf.HEADER if k != "id_number"]
    rows = rf.household("HH-T-0001", members=3)
    resp = upload(client, admin, rf.to_csv(rows, keys=keys), on_error="skip")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "import.rejected"
    assert errors_of(resp) == [(None, "身份证号", "缺少必需的列“身份证号”。")]
    assert household_by_number("HH-T-0001") is None


def test_skip_imports_the_good_households_and_reports_the_bad_rows(client, town, admin):
    good = rf.household("HH-T-0001", members=2)
    bad = rf.household("HH-T-0002", members=2, first_seq=21)
    bad[1]["sex"] = "女" if bad[1]["sex"] == "男" else "男"
    resp = upload(client, admin, rf.to_csv(good + bad), on_error="skip")
    assert resp.status_code == 200, resp.json
    report = resp.json
    assert report["status"] == "imported"
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(5, "性别")]
    assert report["errors"][0]["message"].startswith("性别与身份证号不符")
    assert report["counts"]["households"]["created"] == 1
    assert report["counts"]["households"]["skipped"] == 1
    assert report["counts"]["members"]["created"] == 2
    assert report["counts"]["members"]["skipped"] == 2
    assert household_by_number("HH-T-0001") is not None
    assert household_by_number("HH-T-0002") is None
    [audit] = audit_rows("roster.imported")
    assert audit.detail["error_count"] == 1


def test_skip_and_dry_run_may_come_in_the_query_string(client, town, admin):
    rows = [*rf.household("HH-T-0001"), rf.row(household_number="HH-T-0002", category="不知道")]
    resp = upload(client, admin, rf.to_csv(rows), query="?on_error=skip&dry_run=true")
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "validated"
    assert resp.json["dry_run"] is True
    assert resp.json["counts"]["households"]["created"] == 1
    assert household_by_number("HH-T-0001") is None


def test_dry_run_validates_and_writes_nothing(client, town, admin):
    before = (count(Household), count(AuditLog))
    resp = upload(client, admin, roster_import.roster_template_csv(), dry_run="1")
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "validated"
    assert resp.json["counts"]["households"]["created"] == 3
    assert count(Household) == before[0]
    # The login's own audit row aside, a dry run leaves no trace.
    assert audit_rows("roster.imported") == []
    bad = upload(client, admin, rf.to_csv([rf.row(category="?")]), dry_run="true")
    assert bad.status_code == 422
    assert bad.json["error"]["code"] == "import.rejected"
    assert audit_rows("roster.rejected") == []


def test_invalid_on_error_is_a_validation_error(client, town, admin):
    resp = upload(client, admin, rf.to_csv([rf.row()]), on_error="ignore")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert "on_error" in resp.json["error"]["fields"]["multipart"]


def test_missing_file_is_a_validation_error(client, town, admin):
    resp = client.post(URL, headers=admin, data={}, content_type="multipart/form-data")
    assert resp.status_code == 422
    assert resp.json["error"]["fields"]["multipart"]["file"] == ["必填项不能为空。"]


# -- duplicates against the file and the database --------------------------------------------


def test_the_same_id_number_twice_in_the_file(client, town, admin):
    rows = rf.household("HH-T-0001", members=1) + rf.household("HH-T-0002", members=1)
    rows[1].update(id_number=rows[0]["id_number"], sex=rows[0]["sex"])
    rows[1]["birth_date"] = rows[0]["birth_date"]
    resp = upload(client, admin, rf.to_csv(rows))
    assert resp.status_code == 422
    assert errors_of(resp) == [
        (2, "身份证号", "身份证号在文件中重复出现（第 3 行）。"),
        (3, "身份证号", "身份证号在文件中重复出现（第 2 行）。"),
    ]


def test_the_same_household_number_with_conflicting_fields(client, town, admin):
    rows = rf.household("HH-T-0001", members=2)
    rows[1]["phone"] = "13900000999"
    resp = upload(client, admin, rf.to_csv(rows))
    assert resp.status_code == 422
    assert errors_of(resp) == [
        (3, "联系电话", "同一户（户编号 HH-T-0001）的“联系电话”与第 2 行不一致。")
    ]


def test_an_id_number_of_a_member_of_another_household(client, town, admin):
    taken = town.other_household.members[0]
    line = rf.row(id_number=taken.id_number, sex="", birth_date="")
    resp = upload(client, admin, rf.to_csv([line]))
    assert resp.status_code == 422
    assert errors_of(resp) == [
        (
            2,
            "身份证号",
            f"身份证号已登记在其他户（户编号 {town.other_household.number}）的成员名下。",
        )
    ]


def test_an_id_number_of_another_household_outside_the_scope_is_not_described(client, town, admin):
    taken = town.far_household.members[0]
    line = rf.row(id_number=taken.id_number, sex="", birth_date="")
    resp = upload(client, admin, rf.to_csv([line]))
    assert errors_of(resp) == [(2, "身份证号", "身份证号已登记在其他户的成员名下。")]
    # A household number used outside the scope cannot be taken over either.
    line = rf.row(household_number=town.far_household.number)
    resp = upload(client, admin, rf.to_csv([line]))
    assert errors_of(resp) == [(2, "户编号", "户编号已被辖区外的农户使用。")]


# -- regions ---------------------------------------------------------------------------------


def test_unknown_villages_are_row_errors(client, town, admin):
    rows = [
        rf.row(household_number="A", village_code="500151105299", group_code="", seq=1),
        rf.row(household_number="B", village_name="石头村", seq=3),
        rf.row(household_number="C", village_code=town.group.code, group_code="", seq=5),
    ]
    resp = upload(client, admin, rf.to_csv(rows))
    assert resp.status_code == 422
    assert errors_of(resp) == [
        (2, "村代码", "未知的村：系统和地区表中都没有代码为 500151105299、名称为“石桥村”的村。"),
        (3, "村代码", "未知的村：系统和地区表中都没有代码为 500151105201、名称为“石头村”的村。"),
        (
            4,
            "村代码",
            "未知的村：系统和地区表中都没有代码为 500151105201001、名称为“石桥村”的村。",
        ),
    ]


def test_villages_outside_the_callers_scope_are_row_errors(client, town, login):
    far_town = factories.RegionFactory(
        code="500151106", name="远镇", level="town", parent=town.district
    )
    factories.RegionFactory(code="500151106201", name="远村", level="village", parent=far_town)
    rows = rf.household("HH-T-0001", members=2, village_code="500151106201", village_name="远村")
    rows += [rf.row(household_number="HH-T-0002", seq=31)]
    for r in rows[:2]:
        r["group_code"], r["group_name"] = "", ""
    resp = upload(client, login(town.town_admin), rf.to_csv(rows), on_error="skip")
    assert resp.status_code == 200
    assert [(e["row"], e["column"], e["message"]) for e in resp.json["errors"]] == [
        (2, "村代码", "该村不在您的管辖范围内。"),
        (3, "村代码", "该村不在您的管辖范围内。"),
    ]
    assert resp.json["counts"]["households"]["created"] == 1
    # The district reaches every town under it.
    resp = upload(client, login(town.district_user), rf.to_csv(rows[:2]))
    assert resp.status_code == 200, resp.json
    assert household_by_number("HH-T-0001").village.code == "500151106201"


def test_villages_declared_on_the_region_sheet_are_created(client, town, admin):
    rows = rf.household(
        "HH-N-0001",
        members=2,
        village_code="500151105203",
        village_name="新桥村",
        group_code="1",
        group_name="一组",
    )
    regions = [
        {"code": "500151105203", "name": "新桥村", "level": "村", "parent_code": "500151105"},
        {"code": "500151105201", "name": "石桥村", "level": "村", "parent_code": "500151105"},
    ]
    resp = upload(client, admin, rf.to_xlsx(rows, regions=regions), "花名册.xlsx")
    assert resp.status_code == 200, resp.json
    assert resp.json["format"] == "xlsx"
    assert resp.json["counts"]["regions"] == {"created": 1, "updated": 0, "unchanged": 1}
    assert resp.json["counts"]["groups"]["created"] == 1
    village = db.session.scalar(select(Region).where(Region.code == "500151105203"))
    assert (village.level, village.parent_id) == ("village", town.town.id)
    assert village.path == "/500151/500151105/500151105203/"
    household = household_by_number("HH-N-0001")
    assert household.village_id == village.id
    assert household.region_path == "/500151/500151105/500151105203/500151105203001/"
    again = upload(client, admin, rf.to_xlsx(rows, regions=regions), "花名册.xlsx")
    assert again.json["counts"]["regions"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert again.json["counts"]["groups"]["created"] == 0


def test_region_sheet_errors(client, town, admin):
    regions = [
        {"code": "500151105201", "name": "改名村", "level": "村", "parent_code": "500151105"},
        {"code": "500151105209", "name": "孤村", "level": "村", "parent_code": "500151199"},
        {"code": "500151105208", "name": "错级", "level": "组", "parent_code": "500151105"},
        {"code": "509999", "name": "外区", "level": "区", "parent_code": ""},
    ]
    resp = upload(client, admin, rf.to_xlsx([rf.row()], regions=regions), "x.xlsx")
    assert resp.status_code == 422
    found = [
        (e["sheet"], e["row"], e["column"], e["message"])
        for e in resp.json["error"]["details"]["errors"]
    ]
    assert found == [
        (
            "地区",
            2,
            "代码",
            "地区代码 500151105201 已存在（石桥村），但名称、级别或上级与系统中不一致。",
        ),
        ("地区", 3, "上级代码", "上级代码 500151199 在系统和地区表中都不存在。"),
        ("地区", 4, "级别", "级别与上级不符：组的上级应为村。"),
        ("地区", 5, "代码", "该地区不在您的管辖范围内。"),
    ]


def test_group_name_must_match_an_existing_group(client, town, admin):
    resp = upload(client, admin, rf.to_csv([rf.row(group_name="二组")]))
    assert errors_of(resp) == [(2, "组名称", "组名称与系统中的“一组”不一致。")]
    resp = upload(client, admin, rf.to_csv([rf.row(group_code="9", group_name="")]))
    assert errors_of(resp) == [(2, "组名称", "新建的组须填写组名称。")]


# -- helpers and assignments ---------------------------------------------------------------


def test_helpers_are_matched_by_phone_and_reassigned(client, town, admin):
    existing = town.household
    head = existing.members[0]
    old = db.session.scalar(select(Assignment).where(Assignment.household_id == existing.id))
    users_before = count(User)
    line = rf.row(
        household_number=existing.number,
        head_name=existing.head_name,
        member_name=head.name,
        id_number=head.id_number,
        sex="",
        birth_date="",
        helper_name=town.other_helper.display_name,
        helper_phone=town.other_helper.phone,
        helper_start_date="2026-03-01",
    )
    resp = upload(client, admin, rf.to_csv([line]))
    assert resp.status_code == 200, resp.json
    counts = resp.json["counts"]
    # 帮扶乙 helps in 观音村 only: a grant on 石桥村 is added.
    assert counts["helpers"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert counts["assignments"] == {"created": 0, "updated": 1, "unchanged": 0}
    db.session.refresh(old)
    assert old.end_date == date(2026, 2, 28)
    current = db.session.scalar(
        select(Assignment).where(
            Assignment.household_id == existing.id, Assignment.end_date.is_(None)
        )
    )
    assert current.helper_id == town.other_helper.id
    assert current.start_date == date(2026, 3, 1)
    grants = {(g.role, g.region_id) for g in town.other_helper.grants}
    assert grants == {("helper", town.other_village.id), ("helper", town.village.id)}
    assert count(User) == users_before


def test_same_helper_again_is_unchanged(client, town, admin):
    existing = town.household
    head = existing.members[0]
    line = rf.row(
        household_number=existing.number,
        head_name=existing.head_name,
        member_name=head.name,
        id_number=head.id_number,
        sex="",
        birth_date="",
        helper_name=town.helper.display_name,
        helper_phone=town.helper.phone,
    )
    resp = upload(client, admin, rf.to_csv([line]))
    assert resp.status_code == 200, resp.json
    assert resp.json["counts"]["helpers"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert resp.json["counts"]["assignments"] == {"created": 0, "updated": 0, "unchanged": 1}


def test_reassignment_must_start_after_the_current_one(client, town, admin):
    existing = town.household
    head = existing.members[0]
    line = rf.row(
        household_number=existing.number,
        head_name=existing.head_name,
        member_name=head.name,
        id_number=head.id_number,
        sex="",
        birth_date="",
        helper_name="新帮扶人",
        helper_phone="13511112222",
        helper_start_date="2025-06-01",
    )
    resp = upload(client, admin, rf.to_csv([line]))
    assert resp.status_code == 422
    assert errors_of(resp) == [
        (
            2,
            "帮扶开始日期",
            "更换帮扶人时，帮扶开始日期须晚于现任帮扶人的开始日期（2026-01-01）。",
        )
    ]


def test_helper_phone_registered_to_someone_else(client, town, admin):
    line = rf.row(helper_name="冒名者", helper_phone=town.helper.phone)
    resp = upload(client, admin, rf.to_csv([line]))
    assert errors_of(resp) == [
        (2, "帮扶人电话", "帮扶人电话已登记为用户“帮扶甲”，与帮扶人姓名不一致。")
    ]


def test_one_phone_with_two_names_in_the_file(client, town, admin):
    rows = [
        rf.row(household_number="A", helper_name="甲", helper_phone="13511112222", seq=1),
        rf.row(household_number="B", helper_name="乙", helper_phone="13511112222", seq=3),
    ]
    resp = upload(client, admin, rf.to_csv(rows))
    assert errors_of(resp) == [
        (3, "帮扶人姓名", "同一帮扶人电话在第 2 行对应的姓名为“甲”，与此处不一致。")
    ]


def test_an_existing_user_without_a_helper_grant_gets_one(client, town, admin):
    cadre = town.village_cadre
    line = rf.row(helper_name=cadre.display_name, helper_phone=cadre.phone)
    resp = upload(client, admin, rf.to_csv([line]))
    assert resp.status_code == 200, resp.json
    assert resp.json["counts"]["helpers"] == {"created": 0, "updated": 1, "unchanged": 0}
    roles = sorted(g.role for g in cadre.grants)
    assert roles == [Role.HELPER.value, Role.VILLAGE_CADRE.value]


# -- who may import --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["helper", "village_cadre", "office", "inspector"])
def test_other_roles_are_forbidden(client, town, login, role):
    user = town.users_by_role()[role]
    resp = upload(client, login(user), rf.to_csv([rf.row()]))
    assert resp.status_code == 403
    assert resp.json["error"] == {"code": "auth.forbidden", "message": "您无权执行此操作。"}
    assert household_by_number("HH-T-0001") is None


def test_anonymous_callers_must_log_in(client, town):
    resp = upload(client, {}, rf.to_csv([rf.row()]))
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"


# -- files: size, type, encodings, formulas --------------------------------------------------


def test_files_over_the_byte_limit_are_413(app, client, town, admin, monkeypatch):
    data = rf.to_csv(rf.household("HH-T-0001", members=3))
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", len(data) - 1)
    resp = upload(client, admin, data)
    assert resp.status_code == 413
    assert resp.json["error"]["code"] == "import.too_large"
    assert "导入文件过大" in resp.json["error"]["message"]


def test_files_over_the_row_limit_are_413(app, client, town, admin, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_ROWS", 2)
    resp = upload(client, admin, rf.to_csv(rf.household("HH-T-0001", members=3)))
    assert resp.status_code == 413
    assert resp.json["error"]["code"] == "import.too_large"
    assert resp.json["error"]["message"] == "导入文件超过 2 行的上限，请分批导入。"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "花名册.csv"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "花名册.xls"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "花名册.xlsx"),
    ],
)
def test_unsupported_files_are_415(client, town, admin, data, name):
    resp = upload(client, admin, data, name)
    assert resp.status_code == 415
    assert resp.json["error"]["code"] == "import.unsupported_format"


def test_an_xlsx_named_csv_is_read_as_xlsx(client, town, admin):
    resp = upload(client, admin, rf.to_xlsx(rf.household("HH-T-0001")), "roster.csv")
    assert resp.status_code == 200, resp.json
    assert resp.json["format"] == "xlsx"


def test_gbk_csv_from_excel_is_imported(client, town, admin):
    rows = rf.household("HH-T-0001", members=2, address="石桥村一组（老屋）")
    resp = upload(client, admin, rf.to_csv(rows, encoding="gbk"))
    assert resp.status_code == 200, resp.json
    assert resp.json["encoding"] == "gb18030"
    household = household_by_number("HH-T-0001")
    assert household.address == "石桥村一组（老屋）"
    assert household.head_name == "户主HH-T-0001"


def test_utf8_csv_with_bom_is_imported(client, town, admin):
    resp = upload(client, admin, rf.to_csv(rf.household("HH-T-0001"), bom=True))
    assert resp.status_code == 200, resp.json
    assert resp.json["encoding"] == "utf-8-sig"
    assert household_by_number("HH-T-0001").village_id == town.village.id


def test_formulas_are_refused(client, town, admin):
    rows = rf.household("HH-T-0001", members=2)
    xlsx = rf.to_xlsx(rows, formulas={(3, "phone"): "=A2"})
    resp = upload(client, admin, xlsx, "x.xlsx")
    assert resp.status_code == 422
    [error] = resp.json["error"]["details"]["errors"]
    assert (error["sheet"], error["row"], error["column"]) == ("花名册", 3, "联系电话")
    assert "公式" in error["message"]
    rows[0]["address"] = '=HYPERLINK("http://evil","点我")'
    resp = upload(client, admin, rf.to_csv(rows))
    assert resp.status_code == 422
    assert [(e[0], e[1]) for e in errors_of(resp)] == [(2, "家庭住址")]


# -- templates -------------------------------------------------------------------------------


def test_csv_template_download(client, town, login):
    resp = client.get(URL + "/template.csv", headers=login(town.helper))
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.data.startswith(b"\xef\xbb\xbf")
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.data.decode("utf-8-sig").splitlines()[0].split(",") == roster_import.ROSTER_HEADERS


def test_xlsx_template_download(client, town, login):
    resp = client.get(URL + "/template.xlsx", headers=login(town.village_cadre))
    assert resp.status_code == 200
    assert resp.data.startswith(b"PK\x03\x04")
    book = openpyxl.load_workbook(io.BytesIO(resp.data))
    assert [c.value for c in book["花名册"][1]] == roster_import.ROSTER_HEADERS
    assert [c.value for c in book["地区"][1]] == ["代码", "名称", "级别", "上级代码"]


def test_templates_need_a_login(client):
    for suffix in ("csv", "xlsx"):
        resp = client.get(f"{URL}/template.{suffix}")
        assert resp.status_code == 401
        assert resp.json["error"]["code"] == "auth.required"


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_imports_and_reports(app, town, tmp_path):
    path = tmp_path / "花名册.csv"
    path.write_bytes(rf.to_csv(rf.household("HH-T-0001", members=2), encoding="gbk"))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["hhq", "import-roster", str(path)])
    assert result.exit_code == 0, result.output
    assert "已导入" in result.output
    assert household_by_number("HH-T-0001") is not None
    [audit] = audit_rows("roster.imported")
    assert audit.actor_user_id is None
    again = runner.invoke(args=["hhq", "import-roster", str(path)])
    assert again.exit_code == 0
    assert "农户：新增 0，更新 0，未变 1，跳过 0" in again.output


def test_cli_rejects_bad_files_and_can_skip(app, town, tmp_path):
    rows = rf.household("HH-T-0001") + rf.household("HH-T-0002", first_seq=21)
    rows[2]["category"] = "贫困"
    path = tmp_path / "bad.csv"
    path.write_bytes(rf.to_csv(rows))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["hhq", "import-roster", str(path)])
    assert result.exit_code == 1
    assert "第 4 行 “户类别”列" in result.output
    assert household_by_number("HH-T-0001") is None
    assert len(audit_rows("roster.rejected")) == 1
    dry = runner.invoke(args=["hhq", "import-roster", "--skip-bad-rows", "--dry-run", str(path)])
    assert dry.exit_code == 0, dry.output
    assert "校验通过（未写入）" in dry.output
    assert household_by_number("HH-T-0001") is None
    result = runner.invoke(args=["hhq", "import-roster", "--skip-bad-rows", str(path)])
    assert result.exit_code == 0, result.output
    assert household_by_number("HH-T-0001") is not None
    assert household_by_number("HH-T-0002") is None


# -- performance -----------------------------------------------------------------------------


def test_a_town_sized_roster_imports_in_seconds(client, town, admin):
    rows = rf.big_roster(1500, members=3)
    data = rf.to_csv(rows)
    started = time.perf_counter()
    resp = upload(client, admin, data)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.json["error"]["details"]["errors"][:5]
    counts = resp.json["counts"]
    assert counts["households"]["created"] == 1500
    assert counts["members"]["created"] == 4500
    assert counts["assignments"]["created"] == 1500
    assert counts["helpers"]["created"] == 60
    assert counts["groups"]["created"] == 10  # six per village, one of which already exists
    print(f"\nimported 1,500 households / 4,500 rows in {elapsed:.1f}s")
    assert elapsed < 60
    started = time.perf_counter()
    again = upload(client, admin, data)
    print(f"re-imported unchanged in {time.perf_counter() - started:.1f}s")
    assert again.json["counts"]["households"]["unchanged"] == 1500
    assert again.json["counts"]["members"]["unchanged"] == 4500
