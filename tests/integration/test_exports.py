"""Ledger exports through HTTP: XLSX, CSV and GeoJSON, scope, limits, masking and audit."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditLog, Problem
from backend.services.authz import Actor
from backend.services.exports import write_export
from backend.services.problems import open_problem
from tests.factories import (
    AssignmentFactory,
    HouseholdFactory,
    MemberFactory,
)
from tests.helpers import gps_fix, submit_visit, visit_body

HOUSEHOLD_HEADERS = [
    "户编号",
    "户主姓名",
    "户主身份证号",
    "联系电话",
    "村",
    "组",
    "住址",
    "户类别",
    "脱贫状态",
    "监测类型",
    "帮扶责任人",
    "最近走访时间",
    "最近走访检查结果",
    "未通过检查项",
    "未销号问题数",
]


def _submit(client, login, household, helper, **answers):
    ended_at = datetime.now(UTC) - timedelta(minutes=5)
    body = visit_body(
        household, helper, ended_at=ended_at, minutes=25, gps=gps_fix(household), **answers
    )
    return submit_visit(client, login, helper, body)


@pytest.fixture
def ledger(client, town, login):
    """石桥村: the helper's two households, one failing water quality, one all clear;
    观音村: one household not visited this month."""
    extra = HouseholdFactory(region=town.group, village=town.village, phone="13912345678")
    MemberFactory(household=extra, relation="户主", name=extra.head_name)
    AssignmentFactory(helper=town.helper, household=extra)
    db.session.refresh(extra)
    failing = _submit(client, login, town.household, town.helper, water_quality=False)
    passing = _submit(client, login, extra, town.helper)
    return {"extra": extra, "failing": failing, "passing": passing}


def _rows_by_number(ws):
    rows = list(ws.iter_rows(values_only=True))
    return rows[0], {r[0]: r for r in rows[1:]}


def _audit(action):
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_household_ledger_xlsx(client, town, login, ledger):
    resp = client.get("/api/v1/exports/households.xlsx", headers=login(town.town_admin))

    assert resp.status_code == 200, resp.data[:300]
    assert resp.is_streamed
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="households.xlsx"; ')
    assert f"filename*=UTF-8''{quote('农户台账_土桥镇_')}" in disposition
    assert resp.headers["X-Export-Rows"] == "3"

    wb = load_workbook(io.BytesIO(resp.data), read_only=True)
    assert wb.sheetnames == ["农户台账"]
    header, rows = _rows_by_number(wb["农户台账"])
    assert list(header[:15]) == HOUSEHOLD_HEADERS
    assert header[15].startswith("户户清状态（") and header[16] == "未清原因"
    assert set(rows) == {town.household.number, ledger["extra"].number, town.other_household.number}

    failing = rows[town.household.number]
    assert failing[1] == town.household.head_name[0] + "*" * (len(town.household.head_name) - 1)
    assert failing[2].startswith("500224") and "*" in failing[2]
    assert failing[3] == town.household.phone[:3] + "****" + town.household.phone[-4:]
    assert (failing[4], failing[5]) == ("石桥村", "一组")
    assert failing[7] == "建档立卡贫困户" and failing[8] == "已脱贫"
    assert failing[10] == "帮扶甲"
    assert failing[12] == "未通过1项"
    assert failing[13] == "饮水水质达标"
    assert failing[14] == 1
    assert failing[15] == "未清" and failing[16] == "最近一次走访发现的问题尚未销号"

    clear = rows[ledger["extra"].number]
    assert (clear[12], clear[13], clear[14], clear[15], clear[16]) == (
        "全部通过",
        None,
        0,
        "已清",
        None,
    )
    not_visited = rows[town.other_household.number]
    assert (not_visited[11], not_visited[12], not_visited[15], not_visited[16]) == (
        None,
        "无走访记录",
        "未清",
        "本期未走访",
    )

    [row] = _audit("export.households")
    assert row.actor_user_id == town.town_admin.id
    assert row.target_type == "export" and row.target_id == "households.xlsx"
    assert row.detail["rows"] == 3 and row.detail["unmask"] is False
    assert _audit("pii.read") == []


def test_household_ledger_csv_has_bom_and_filters(client, town, login, ledger):
    resp = client.get(
        f"/api/v1/exports/households.csv?region_id={town.village.id}",
        headers=login(town.village_cadre),
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0][:15] == HOUSEHOLD_HEADERS
    assert sorted(r[0] for r in rows[1:]) == sorted([town.household.number, ledger["extra"].number])
    assert "filename*=UTF-8''" + quote("农户台账_石桥村_") in resp.headers["Content-Disposition"]

    resp = client.get(
        "/api/v1/exports/households.csv?category=dibao", headers=login(town.town_admin)
    )
    assert resp.status_code == 200
    assert len(list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))) == 1


def test_household_geojson(client, town, login, ledger):
    town.other_household.lat = None
    town.other_household.lon = None
    db.session.flush()
    resp = client.get("/api/v1/exports/households.geojson", headers=login(town.inspector))
    assert resp.status_code == 200
    assert resp.mimetype == "application/geo+json"
    doc = json.loads(resp.data)
    assert doc["type"] == "FeatureCollection"
    features = {f["properties"]["number"]: f for f in doc["features"]}
    assert set(features) == {town.household.number, ledger["extra"].number}
    feature = features[ledger["extra"].number]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {
        "type": "Point",
        "coordinates": [ledger["extra"].lon, ledger["extra"].lat],
    }
    assert feature["properties"]["status"] == "cleared"
    assert feature["properties"]["status_label"] == "已清"
    assert feature["properties"]["village"] == "石桥村"
    failing = features[town.household.number]["properties"]
    assert failing["status"] == "not_cleared"
    assert failing["reasons"] == ["failing_checks_open"]
    assert failing["head_name"].endswith("*")
    assert _audit("export.households")[0].detail["format"] == "geojson"


def test_helper_exports_only_their_households(client, town, login, ledger):
    headers = login(town.helper)
    resp = client.get("/api/v1/exports/households.csv", headers=headers)
    assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert sorted(r[0] for r in rows[1:]) == sorted([town.household.number, ledger["extra"].number])

    for region in (town.town, town.village):
        resp = client.get(f"/api/v1/exports/households.xlsx?region_id={region.id}", headers=headers)
        assert resp.status_code == 403
        assert resp.json["error"] == {
            "code": "export.forbidden",
            "message": "帮扶责任人只能导出本人帮扶的农户，不能导出村、镇的数据。",
            "details": {"region_id": region.id},
        }
    assert len(_audit("export.households")) == 1


def test_scope_errors(client, town, login, ledger):
    cadre = login(town.village_cadre)
    resp = client.get(f"/api/v1/exports/visits.csv?region_id={town.town.id}", headers=cadre)
    assert resp.status_code == 403
    assert resp.json["error"] == {
        "code": "export.forbidden",
        "message": "您无权导出此范围的数据。",
        "details": {"region_id": town.town.id},
    }
    resp = client.get(f"/api/v1/exports/visits.csv?region_id={town.far_village.id}", headers=cadre)
    assert resp.status_code == 404
    assert resp.json["error"] == {"code": "region.not_found", "message": "地区不存在。"}

    resp = client.get("/api/v1/exports/households.xlsx", headers=login(town.office))
    assert resp.status_code == 403
    assert resp.json["error"] == {
        "code": "export.forbidden",
        "message": "您的角色不能导出此类台账。",
    }
    resp = client.get("/api/v1/exports/households.xlsx")
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "auth.required"
    assert _audit("export.households") == [] and _audit("export.visits") == []


def test_unknown_kind_or_format(client, town, login):
    headers = login(town.town_admin)
    for path in ("people.xlsx", "households.pdf", "problems.geojson", "coverage.json"):
        resp = client.get(f"/api/v1/exports/{path}", headers=headers)
        assert resp.status_code == 404, path
        assert resp.json["error"]["code"] == "export.unknown"
        assert resp.json["error"]["message"] == "不支持的导出类型或格式。"
        assert resp.json["error"]["details"]["kinds"]["households"] == ["xlsx", "csv", "geojson"]


def test_bad_period_and_filters(client, town, login):
    headers = login(town.town_admin)
    resp = client.get("/api/v1/exports/households.xlsx?period=2026-13", headers=headers)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "period.invalid"
    assert resp.json["error"]["fields"]["query"]["period"] == ["月份应在 1 到 12 之间。"]
    resp = client.get("/api/v1/exports/problems.csv?status=nonsense", headers=headers)
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "request.validation"
    assert "status" in resp.json["error"]["fields"]["query"]


def test_export_larger_than_the_role_limit_is_refused(client, town, login, ledger, app):
    limits = app.config["EXPORT_MAX_ROWS_BY_ROLE"]
    original = limits["town_admin"]
    limits["town_admin"] = 2
    try:
        resp = client.get("/api/v1/exports/households.xlsx", headers=login(town.town_admin))
    finally:
        limits["town_admin"] = original
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "export.too_large"
    assert resp.json["error"]["message"] == (
        "导出数据共3行，超出您的角色上限2行，请按村或时间缩小范围后再导出。"
    )
    assert resp.json["error"]["details"] == {"rows": 3, "limit": 2}
    assert _audit("export.households") == []


def test_unmask_for_pii_roles_is_audited(client, town, login, ledger):
    resp = client.get("/api/v1/exports/households.csv?unmask=true", headers=login(town.inspector))
    assert resp.status_code == 200
    rows = {r[0]: r for r in csv.reader(io.StringIO(resp.data.decode("utf-8-sig")))}
    extra = rows[ledger["extra"].number]
    assert extra[1] == ledger["extra"].head_name
    assert extra[2] == ledger["extra"].members[0].id_number
    assert extra[3] == "13912345678"
    [export_row] = _audit("export.households")
    assert export_row.detail["unmask"] is True
    [pii_row] = _audit("pii.read")
    assert pii_row.actor_user_id == town.inspector.id
    assert pii_row.target_type == "export" and pii_row.target_id == "households.csv"
    assert pii_row.detail["via"] == "export" and pii_row.detail["rows"] == 3
    assert pii_row.detail["fields"] == ["head_name", "id_number", "phone"]

    resp = client.get("/api/v1/exports/problems.csv?unmask=true", headers=login(town.office))
    assert resp.status_code == 403
    assert resp.json["error"] == {
        "code": "auth.forbidden",
        "message": "您的角色不能查看完整的个人信息。",
    }


def test_problem_ledger(client, town, login, ledger):
    mzb, _ = open_problem(
        household=town.other_household,
        area="food",
        source="village_report",
        title='=HYPERLINK("http://evil")',
        actor=None,
        description="缺少冬衣",
        office_code="mzb",
    )
    resp = client.get("/api/v1/exports/problems.xlsx", headers=login(town.town_admin))
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.data))["问题台账"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == (
        "问题编号",
        "责任单位",
        "问题类别",
        "状态",
        "村",
        "户编号",
        "户主姓名",
        "来源",
        "问题",
        "问题描述",
        "整改期限",
        "是否逾期",
        "督办级别",
        "发现时间",
        "销号时间",
    )
    by_id = {r[0]: r for r in rows[1:]}
    water = db.session.scalar(select(Problem).where(Problem.office_code == "nyfw"))
    assert set(by_id) == {water.id, mzb.id}
    assert [r[0] for r in rows[1:]] == [mzb.id, water.id]  # by office code: mzb < nyfw
    assert by_id[water.id][1] == "镇农业服务中心" and by_id[water.id][7] == "走访核查"
    assert by_id[water.id][4] == "石桥村" and by_id[water.id][11] == "否"
    # A cell that looks like a formula stays text.
    assert by_id[mzb.id][8] == '=HYPERLINK("http://evil")'
    assert ws.cell(row=2, column=9).data_type == "s"

    # The office sees its own office's problems only, and CSV neutralises formulas.
    resp = client.get("/api/v1/exports/problems.csv", headers=login(town.office))
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert [int(r[0]) for r in rows[1:]] == [water.id]
    resp = client.get(
        "/api/v1/exports/problems.csv?office=mzb&status=assigned,reported",
        headers=login(town.town_admin),
    )
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert [int(r[0]) for r in rows[1:]] == [mzb.id]
    assert rows[1][8] == '\'=HYPERLINK("http://evil")'
    assert len(_audit("export.problems")) == 3


def test_visit_ledger(client, town, login, ledger):
    resp = client.get("/api/v1/exports/visits.csv", headers=login(town.town_admin))
    assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0][:8] == [
        "走访编号",
        "走访时间",
        "走访时长（分钟）",
        "村",
        "组",
        "户编号",
        "户主姓名",
        "走访人",
    ]
    assert rows[0][-3:] == ["异常标记", "审核结果", "审核说明"]
    by_id = {int(r[0]): r for r in rows[1:]}
    assert set(by_id) == {ledger["failing"]["id"], ledger["passing"]["id"]}
    failing = by_id[ledger["failing"]["id"]]
    assert failing[2] == "25.0" and failing[3] == "石桥村" and failing[7] == "帮扶甲"
    assert failing[12] == "1" and failing[14] == "未审核"

    resp = client.get("/api/v1/exports/visits.xlsx?period=2020-01", headers=login(town.inspector))
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.data))["走访台账"]
    assert ws.max_row == 1


def test_coverage_summary(client, town, login, ledger):
    resp = client.get("/api/v1/exports/coverage.xlsx", headers=login(town.town_admin))
    assert resp.status_code == 200, resp.data[:300]
    rows = list(load_workbook(io.BytesIO(resp.data))["走访覆盖汇总"].iter_rows(values_only=True))
    assert rows[0][:5] == ("地区", "农户数", "已走访户数", "未走访户数", "走访覆盖率（%）")
    by_label = {r[0]: r for r in rows[1:]}
    assert set(by_label) == {"石桥村", "观音村", "合计"}
    assert by_label["石桥村"][1:4] == (2, 2, 0)
    assert by_label["石桥村"][8] == 1  # 户户清: the all-clear household
    assert by_label["观音村"][1:4] == (1, 0, 1)
    assert by_label["合计"][1:5] == (3, 2, 1, 66.7)
    assert rows[-1][0] == "合计"

    resp = client.get("/api/v1/exports/coverage.csv", headers=login(town.helper))
    assert resp.status_code == 403
    assert resp.json["error"]["code"] == "export.forbidden"


def test_write_export_streams_into_a_file(app, town, ledger):
    from backend.services.auth import actor_for_user

    actor: Actor = actor_for_user(user=town.district_user)
    out = io.BytesIO()
    rows = write_export(actor=actor, kind="households", fmt="xlsx", out=out)
    assert rows == 3
    ws = load_workbook(io.BytesIO(out.getvalue()))["农户台账"]
    assert ws.max_row == 4
    assert _audit("export.households")[0].actor_user_id == town.district_user.id
