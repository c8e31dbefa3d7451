"""Screening lists and village reports through HTTP: rows → problems, reports, dedup, scope."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import AuditLog, Problem, ScreeningImport
from backend.services import screening_import
from backend.services.pii import mask_id_number
from tests import roster_files as rf
from tests.helpers import make_problem

URL = "/api/v1/imports/screening"
HEADER = ["身份证号", "户编号", "类别", "说明", "责任单位"]


def upload(client, headers, data: bytes, name: str = "名单.csv", **form):
    """POST a screening list as multipart/form-data."""
    return client.post(
        URL,
        headers=headers,
        data={"file": (io.BytesIO(data), name), **form},
        content_type="multipart/form-data",
    )


def csv_of(lines: list[list], *, encoding: str = "utf-8", bom: bool = False) -> bytes:
    """A CSV file of ``lines`` (header first)."""
    return rf.to_csv([], lines=lines, encoding=encoding, bom=bom)


def xlsx_of(lines: list[list], *, sheet: str = "筛查名单", formulas=None, numbers=None) -> bytes:
    """An XLSX of ``lines``; ``formulas``/``numbers`` put a formula or a number at (row, col)."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for line in lines:
        ws.append(line)
    for (row, col), value in {**(formulas or {}), **(numbers or {})}.items():
        ws.cell(row=row, column=col, value=value)
    book.create_sheet("说明").append(["这一页不是名单"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def problems() -> list[Problem]:
    return list(db.session.scalars(select(Problem).order_by(Problem.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def admin(town, login):
    """Headers of the town admin (scope: 土桥镇)."""
    return login(town.town_admin)


def uninsured_lines(town) -> list[list]:
    """The medical-insurance bureau's list: members of the town, one stranger, one typo."""
    child, head = town.household.members[1], town.household.members[0]
    other = town.other_household.members[0]
    return [
        HEADER,
        [head.id_number, "", "基本医疗", "未参加城乡居民基本医疗保险", "镇社保所"],
        [child.id_number, "", "medical", "未参加大病保险", ""],
        [other.id_number, "", "basic_medical_insurance", "未参保", ""],
        [rf.fake_id(date(1980, 1, 2), 501), "", "基本医疗", "未参保", ""],
        [rf.bad_checksum(head.id_number), "", "基本医疗", "未参保", ""],
        [town.far_household.members[0].id_number, "", "基本医疗", "未参保", ""],
        ["", town.household.number, "住房安全", "房屋为C级危房", ""],
    ]


# -- the happy path, the report and dedup ---------------------------------------------------


def test_uninsured_list_opens_routed_problems_and_lists_unknowns(client, town, admin):
    lines = uninsured_lines(town)
    resp = upload(client, admin, csv_of(lines, bom=True), "医保局未参保名单.csv")
    assert resp.status_code == 201, resp.json
    report = resp.json
    assert report["source"] == "data_screening"
    assert report["source_label"] == "部门大数据筛查比对"
    assert report["file_name"] == "医保局未参保名单.csv"
    assert report["format"] == "csv" and report["encoding"] == "utf-8-sig"
    assert report["uploaded_by"]["id"] == town.town_admin.id
    assert report["counts"] == {
        "rows": 7,
        "created": 4,
        "linked_existing": 0,
        "unknown": 1,
        "error": 2,
    }
    rows = report["rows"]
    assert [r["row"] for r in rows] == [2, 3, 4, 5, 6, 7, 8]
    assert [r["outcome"] for r in rows] == [
        "created",
        "created",
        "created",
        "unknown",
        "error",
        "error",
        "created",
    ]
    # Offices: named in the row, the area's lead office, the check-level routing row.
    assert [r["office_code"] for r in rows if r["outcome"] == "created"] == [
        "sbs",
        "wjb",
        "sbs",
        "ghjs",
    ]
    unknown = rows[3]
    assert unknown["id_number"] == mask_id_number(lines[4][0])
    assert unknown["household_id"] is None and unknown["problem_id"] is None
    assert unknown["messages"] == [
        {"column": "身份证号", "message": "系统中没有该身份证号的人员，请核实后补录或反馈。"}
    ]
    assert rows[4]["messages"] == [{"column": "身份证号", "message": "身份证号校验位错误。"}]
    far = rows[5]
    assert far["messages"] == [
        {"column": "身份证号", "message": "该户不在您的管辖范围内，未导入。"}
    ]
    assert far["household_id"] is None and far["household_number"] is None
    assert rows[0]["area"] == "medical" and rows[0]["area_label"] == "基本医疗"
    assert rows[2]["check_key"] == "basic_medical_insurance"
    assert rows[6]["household_number"] == town.household.number
    assert rows[6]["member_id"] is None

    opened = problems()
    assert len(opened) == 4
    record = db.session.get(ScreeningImport, report["id"])
    for problem in opened:
        assert problem.source == "data_screening"
        assert problem.status == "town_review"
        assert problem.source_import_id == record.id
        assert problem.deadline_at is not None
    assert {p.id for p in opened} == {r["problem_id"] for r in rows if r["problem_id"]}
    head = town.household.members[0]
    first = db.session.get(Problem, rows[0]["problem_id"])
    assert first.household_id == town.household.id
    assert first.dedup_key == f"screening:medical:m{head.id}"
    assert first.title == "基本医疗：未参加城乡居民基本医疗保险"
    assert head.name in first.description and "第 2 行" in first.description
    assert first.events[0].action == "open"
    assert first.events[0].data["import_id"] == record.id
    housing = db.session.get(Problem, rows[6]["problem_id"])
    assert housing.dedup_key == "screening:housing:household"

    assert (record.row_count, record.created_count, record.unknown_count) == (7, 4, 1)
    assert record.error_count == 2 and record.linked_count == 0
    assert record.rows == rows
    assert record.region_path == town.town.path
    [audit] = db.session.scalars(select(AuditLog).where(AuditLog.action == "screening.imported"))
    assert audit.detail["counts"]["created"] == 4

    # The same file again: every problem is already open, nothing is opened twice.
    again = upload(client, admin, csv_of(lines, bom=True), "医保局未参保名单.csv")
    assert again.status_code == 201, again.json
    assert again.json["counts"] == {
        "rows": 7,
        "created": 0,
        "linked_existing": 4,
        "unknown": 1,
        "error": 2,
    }
    linked = [r for r in again.json["rows"] if r["outcome"] == "linked_existing"]
    assert [r["problem_id"] for r in linked] == [p.id for p in opened]
    assert (
        linked[0]["messages"][0]["message"] == f"该户已有未销号的同类问题（编号 {opened[0].id}）。"
    )
    assert len(problems()) == 4
    assert count(ScreeningImport) == 2


def test_list_and_report_read_back(client, town, admin, login):
    first = upload(client, admin, csv_of(uninsured_lines(town))).json
    resp = client.get(URL, headers=login(town.inspector))
    assert resp.status_code == 200, resp.json
    assert resp.json["total"] == 1
    [item] = resp.json["items"]
    assert item["id"] == first["id"] and "rows" not in item
    assert item["counts"]["created"] == 4
    assert item["uploaded_by"] == {"id": town.town_admin.id, "display_name": "扶贫办"}
    detail = client.get(f"{URL}/{first['id']}", headers=admin)
    assert detail.status_code == 200, detail.json
    assert detail.json["rows"] == first["rows"]
    assert detail.json["counts"] == first["counts"]
    filtered = client.get(URL + "?source=village_report", headers=admin)
    assert filtered.status_code == 200 and filtered.json["total"] == 0


def test_duplicate_rows_in_one_file_link_to_the_first(client, town, admin):
    head = town.household.members[0]
    lines = [
        HEADER,
        [head.id_number, "", "基本医疗", "未参保", ""],
        [head.id_number, "", "基本医疗", "未参保（重复）", ""],
    ]
    resp = upload(client, admin, csv_of(lines))
    assert resp.status_code == 201, resp.json
    outcomes = [(r["outcome"], r["problem_id"]) for r in resp.json["rows"]]
    assert outcomes[0][0] == "created" and outcomes[1] == ("linked_existing", outcomes[0][1])


def test_a_row_for_a_failing_visit_check_links_to_that_problem(client, town, admin):
    visit_problem = make_problem(
        town.household,
        "有家庭成员未参加基本医保",
        area="medical",
        check_key="basic_medical_insurance",
        dedup_key="check:basic_medical_insurance",
    )
    head = town.household.members[0]
    lines = [HEADER, [head.id_number, "", "basic_medical_insurance", "未参保", ""]]
    resp = upload(client, admin, csv_of(lines))
    assert resp.status_code == 201, resp.json
    [row] = resp.json["rows"]
    assert row["outcome"] == "linked_existing"
    assert row["problem_id"] == visit_problem.id
    assert len(problems()) == 1


def test_row_level_mistakes_are_reported_and_good_rows_still_import(client, town, admin):
    head, child = town.household.members
    lines = [
        HEADER,
        [head.id_number, "", "天气", "未参保", ""],
        [child.id_number, "", "基本医疗", "未参保", "镇财政所"],
        [head.id_number, town.other_household.number, "基本医疗", "未参保", ""],
        ["", "", "基本医疗", "没有写是谁", ""],
        ["", "HH-NOBODY", "住房安全", "危房", ""],
        ["", town.other_household.number, "临时救助", "遭灾未救助", "民政办"],
    ]
    resp = upload(client, admin, csv_of(lines))
    assert resp.status_code == 201, resp.json
    rows = resp.json["rows"]
    assert [r["outcome"] for r in rows] == [
        "error",
        "error",
        "error",
        "error",
        "unknown",
        "created",
    ]
    area_message = rows[0]["messages"][0]
    assert area_message["column"] == "类别"
    assert area_message["message"].startswith("类别“天气”无效，应为以下之一：不愁吃穿、义务教育")
    assert rows[1]["messages"][0]["column"] == "责任单位"
    assert rows[1]["messages"][0]["message"].startswith("责任单位“镇财政所”不存在")
    assert rows[2]["messages"] == [
        {
            "column": "身份证号",
            "message": f"该身份证号的人员不属于户编号“{town.other_household.number}”的农户。",
        }
    ]
    assert rows[2]["household_id"] is None
    assert rows[3]["messages"] == [
        {"column": "身份证号", "message": "身份证号和户编号至少填写一项。"}
    ]
    assert rows[4]["messages"] == [
        {"column": "户编号", "message": "系统中没有户编号为“HH-NOBODY”的农户，请核实。"}
    ]
    # A part of a compound label and an office name without 镇 are understood.
    assert (rows[5]["area"], rows[5]["office_code"]) == ("basic_living", "mzb")
    assert len(problems()) == 1


# -- other formats ---------------------------------------------------------------------------


def test_xlsx_village_report_with_formula_and_number_cells(client, town, admin):
    head, child = town.household.members
    other = town.other_household.members[0]
    lines = [
        HEADER,
        [head.id_number, "", "义务教育", "孩子辍学", ""],
        [child.id_number, "", "基本医疗", "未签约家庭医生", ""],
        ["", "", "基本医疗", "公式", ""],
        [other.id_number, "", "住房安全", "危房", ""],
    ]
    data = xlsx_of(lines, formulas={(4, 1): "=A2"}, numbers={(5, 1): 5.00224197005171e17})
    resp = upload(client, admin, data, "村级上报.xlsx", source="village_report")
    assert resp.status_code == 201, resp.json
    report = resp.json
    assert report["format"] == "xlsx" and report["source"] == "village_report"
    rows = report["rows"]
    assert [(r["sheet"], r["row"], r["outcome"]) for r in rows] == [
        ("筛查名单", 2, "created"),
        ("筛查名单", 3, "created"),
        ("筛查名单", 4, "error"),
        ("筛查名单", 5, "error"),
    ]
    assert rows[2]["messages"][0]["column"] == "身份证号"
    assert rows[2]["messages"][0]["message"].startswith("单元格含公式")
    assert rows[3]["messages"] == [
        {
            "column": "身份证号",
            "message": "身份证号被存成了数字，末几位已丢失；请把该列设为文本格式后重新填写。",
        }
    ]
    opened = problems()
    assert [(p.source, p.status, p.area) for p in opened] == [
        ("village_report", "town_review", "schooling"),
        ("village_report", "town_review", "medical"),
    ]


def test_gbk_csv_with_english_headers_and_a_title_row(client, town, admin):
    lines = [
        ["土桥镇 部门筛查比对名单（2026年11月）", "", "", ""],
        ["household_number", "area", "note", "office"],
        [town.household.number, "饮水安全", "自来水水质检测不合格", "镇农业服务中心"],
    ]
    resp = upload(client, admin, csv_of(lines, encoding="gbk"))
    assert resp.status_code == 201, resp.json
    assert resp.json["encoding"] in ("gb18030", "gbk")
    [row] = resp.json["rows"]
    assert row["outcome"] == "created" and row["office_code"] == "nyfw"
    [problem] = problems()
    assert problem.title == "饮水安全：自来水水质检测不合格"


def test_template_downloads_and_imports_with_every_row_listed_back(client, town, admin):
    resp = client.get(URL + "/template.csv", headers=admin)
    assert resp.status_code == 200
    assert resp.data.startswith(b"\xef\xbb\xbf")
    assert (
        resp.data.decode("utf-8-sig").splitlines()[0] == "身份证号,户编号,类别,说明,责任单位,姓名"
    )
    imported = upload(client, admin, resp.data, "模板.csv")
    assert imported.status_code == 201, imported.json
    assert imported.json["counts"]["unknown"] == 3  # example rows: nobody in the registry
    assert [r["name"] for r in imported.json["rows"]] == ["示例张大山", "示例张小花", None]

    xlsx = client.get(URL + "/template.xlsx", headers=admin)
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    assert book.sheetnames == ["筛查名单", "说明"]
    assert [c.value for c in book["筛查名单"][1]][:3] == ["身份证号", "户编号", "类别"]
    notes = [row[1] for row in book["说明"].iter_rows(values_only=True) if row[0] == "类别可填"]
    assert "基本医疗" in notes[0]
    again = upload(client, admin, xlsx.data, "模板.xlsx")
    assert again.status_code == 201, again.json
    assert again.json["counts"]["unknown"] == 3

    anonymous = client.get(URL + "/template.csv")
    assert anonymous.status_code == 401
    assert anonymous.json["error"]["code"] == "auth.required"


# -- whole-file problems ---------------------------------------------------------------------


def test_missing_columns_reject_the_file(client, town, admin):
    resp = upload(client, admin, csv_of([["身份证号", "说明"], ["1", "x"]]))
    assert resp.status_code == 422
    error = resp.json["error"]
    assert error["code"] == "import.rejected"
    assert error["message"] == "缺少必需的列“类别”。未导入任何数据。"
    assert error["details"]["errors"] == [
        {"sheet": None, "row": None, "column": "类别", "message": "缺少必需的列“类别”。"}
    ]
    no_subject = upload(client, admin, csv_of([["类别", "说明"], ["基本医疗", "x"]]))
    assert no_subject.status_code == 422
    assert no_subject.json["error"]["code"] == "import.rejected"
    assert "缺少“身份证号”或“户编号”列" in no_subject.json["error"]["message"]
    empty = upload(client, admin, csv_of([HEADER]))
    assert empty.status_code == 422
    assert empty.json["error"]["message"] == "文件中没有数据行。未导入任何数据。"
    assert count(ScreeningImport) == 0 and problems() == []


def test_not_a_spreadsheet_is_415(client, town, admin):
    resp = upload(client, admin, b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "名单.xlsx")
    assert resp.status_code == 415
    assert resp.json["error"]["code"] == "import.unsupported_format"
    assert resp.json["error"]["message"] == "这是PNG 图片文件，仅支持 CSV 或 XLSX 文件。"


def test_too_big_is_413(app, client, town, admin, monkeypatch):
    data = csv_of(uninsured_lines(town))
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", len(data) - 1)
    resp = upload(client, admin, data)
    assert resp.status_code == 413
    assert resp.json["error"]["code"] == "import.too_large"
    assert resp.json["error"]["message"].startswith("导入文件过大")


def test_bad_form_fields_are_422(client, town, admin):
    resp = upload(client, admin, csv_of(uninsured_lines(town)), source="rumour")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert resp.json["error"]["fields"]["multipart"]["source"] == [
        "来源应为 data_screening 或 village_report。"
    ]
    no_file = client.post(URL, headers=admin, data={}, content_type="multipart/form-data")
    assert no_file.status_code == 422
    assert no_file.json["error"]["fields"]["multipart"]["file"] == ["必填项不能为空。"]


# -- who may do what -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["office", "inspector", "village_cadre", "helper"])
def test_only_admins_import(client, town, login, role):
    user = town.users_by_role()[role]
    resp = upload(client, login(user), csv_of(uninsured_lines(town)))
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "auth.forbidden"
    assert problems() == []


def test_anonymous_cannot_import_or_list(client, town):
    resp = upload(client, {}, csv_of(uninsured_lines(town)))
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"
    listing = client.get(URL)
    assert listing.status_code == 401
    assert listing.json["error"]["code"] == "auth.required"


def test_imports_outside_the_region_are_404(client, town, admin, login):
    foreign = ScreeningImport(
        source="data_screening",
        filename="远方.csv",
        sha256="0" * 64,
        uploaded_by_id=town.far_helper.id,
        region_path=town.far_village.path,
        rows=[],
    )
    db.session.add(foreign)
    db.session.flush()
    resp = client.get(f"{URL}/{foreign.id}", headers=admin)
    assert resp.status_code == 404
    assert resp.json["error"] == {
        "code": "screening.not_found",
        "message": "导入记录不存在或您无权查看。",
    }
    assert client.get(URL, headers=admin).json["total"] == 0
    office = client.get(URL, headers=login(town.office))
    assert office.status_code == 403
    assert office.json["error"]["code"] == "auth.forbidden"


def test_district_imports_across_its_towns(client, town, login):
    head = town.household.members[0]
    resp = upload(
        client,
        login(town.district_user),
        csv_of([HEADER, [head.id_number, "", "基本医疗", "", ""]]),
    )
    assert resp.status_code == 201, resp.json
    [row] = resp.json["rows"]
    assert row["outcome"] == "created"
    problem = db.session.get(Problem, row["problem_id"])
    assert problem.title == "基本医疗（部门大数据筛查比对）"
    # Made at district level: the town admin does not see the district's import.
    town_view = client.get(f"{URL}/{resp.json['id']}", headers=login(town.town_admin))
    assert town_view.status_code == 404
    assert town_view.json["error"]["code"] == "screening.not_found"


def test_dedup_key_shape():
    key = screening_import.screening_dedup_key(area="medical", check_key=None, member_id=7)
    assert key == "screening:medical:m7"
    household = screening_import.screening_dedup_key(
        area="medical", check_key="basic_medical_insurance", member_id=None
    )
    assert household == "screening:basic_medical_insurance:household"
