"""Roster parsing (bytes → rows) and value validation, without the database."""

from __future__ import annotations

import codecs
import io
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

from backend.errors import DomainError
from backend.services import roster_import as ri
from backend.services.idnumber import is_valid_id_number
from tests import roster_files as rf


def parse(data: bytes, max_rows: int = 1000) -> ri.ParsedRoster:
    return ri.parse_roster(data, max_rows=max_rows)


def validate(data: bytes) -> ri.ValidatedRoster:
    return ri.validate_rows(parse(data))


def messages(errors, row=None, column=None):
    return [
        e.message
        for e in errors
        if (row is None or e.row == row) and (column is None or e.column == column)
    ]


# -- formats and encodings -------------------------------------------------------------------


def test_xlsx_is_detected_by_content_not_by_name():
    assert ri.detect_format(rf.to_xlsx([rf.row()])) == "xlsx"
    assert ri.detect_format(rf.to_csv([rf.row()])) == "csv"


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, ".xls"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"\x89PNG\r\n\x1a\n....", "PNG"),
    ],
)
def test_other_files_are_415(data, hint):
    with pytest.raises(DomainError) as caught:
        ri.detect_format(data)
    assert caught.value.code == "import.unsupported_format"
    assert caught.value.status == 415
    assert hint in caught.value.message


def test_a_zip_that_is_not_a_workbook_is_415():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(DomainError) as caught:
        parse(buffer.getvalue())
    assert caught.value.code == "import.unsupported_format"


def test_binary_without_magic_is_415():
    with pytest.raises(DomainError) as caught:
        parse(b"\x01\x02\x00\x03binary")
    assert caught.value.code == "import.unsupported_format"


def test_gbk_csv_is_detected_and_read():
    data = rf.to_csv([rf.row(member_name="测试户主", address="石桥村一组")], encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    parsed = parse(data)
    assert parsed.encoding == "gb18030"
    assert parsed.errors == []
    row_no, values = parsed.roster.rows[0]
    assert row_no == 2
    assert values["village_name"] == "石桥村"
    assert values["address"] == "石桥村一组"


def test_short_gbk_text_is_not_mistaken_for_big5():
    text, encoding = ri.decode_text("户编号,姓名\n1,李\n".encode("gbk"))
    assert encoding == "gb18030"
    assert "李" in text


def test_gb18030_only_characters_are_read():
    # 𠀀 (U+20000) exists in GB18030 but not in GBK.
    data = rf.to_csv([rf.row(address="测试𠀀路")], encoding="gb18030")
    parsed = parse(data)
    assert parsed.roster.rows[0][1]["address"] == "测试𠀀路"


def test_utf8_bom_is_not_glued_to_the_first_header():
    parsed = parse(rf.to_csv([rf.row()], bom=True))
    assert parsed.encoding == "utf-8-sig"
    assert parsed.errors == []
    assert parsed.roster.columns["village_code"] == "村代码"


def test_utf16_tab_separated_export_is_read():
    lines = rf.table([rf.row()])
    text = "\n".join("\t".join(str(v) for v in line) for line in lines)
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    parsed = parse(data)
    assert parsed.errors == []
    assert parsed.roster.rows[0][1]["household_number"] == "HH-T-0001"


# -- headers and row numbers -----------------------------------------------------------------


def test_title_rows_above_the_header_are_skipped_and_rows_keep_excel_numbers():
    lines = [["土桥镇石桥村花名册"], [], *rf.table([rf.row(), rf.row(seq=12, relation="配偶")])]
    parsed = parse(rf.to_csv([], lines=lines))
    assert parsed.roster.header_row == 3
    assert [r for r, _ in parsed.roster.rows] == [4, 5]


def test_blank_lines_and_multiline_cells_keep_excel_row_numbers():
    lines = rf.table([rf.row(address="第一行\n第二行")])
    lines.append([])
    lines += rf.table([rf.row(seq=13, relation="子女")])[1:]
    parsed = parse(rf.to_csv([], lines=lines))
    # Excel shows the quoted two-line cell as one row, and the blank line as row 3.
    assert [r for r, _ in parsed.roster.rows] == [2, 4]


def test_missing_required_columns_are_one_file_level_error_each():
    keys = [k for k in rf.HEADER if k not in ("id_number", "category")]
    parsed = parse(rf.to_csv([rf.row(), rf.row(seq=12)], keys=keys))
    missing = [e for e in parsed.errors if e.message.startswith("缺少必需的列")]
    assert [(e.row, e.column, e.message) for e in missing] == [
        (None, "户类别", "缺少必需的列“户类别”。"),
        (None, "身份证号", "缺少必需的列“身份证号”。"),
    ]


def test_header_aliases_stars_and_unknown_columns():
    lines = rf.table([rf.row()])
    header = lines[0]
    header[header.index("身份证号")] = "身份证号码"
    header[header.index("户编号")] = "户编号*"
    header.append("备注")
    lines[1].append("随便写")
    parsed = parse(rf.to_csv([], lines=lines))
    assert parsed.errors == []
    assert parsed.roster.columns["id_number"] == "身份证号码"
    assert parsed.warnings == ["未识别的列“备注”已忽略。"]


def test_duplicate_columns_are_a_file_error():
    lines = rf.table([rf.row()])
    lines[0].append("身份证号")
    lines[1].append("1")
    parsed = parse(rf.to_csv([], lines=lines))
    assert messages(parsed.errors) == ["列“身份证号”出现了多次。"]


def test_empty_files_are_file_errors():
    assert messages(parse(b"").errors) == ["文件为空。"]
    header_only = rf.to_csv([], lines=rf.table([]))
    assert messages(parse(header_only).errors) == ["文件中没有数据行。"]


def test_too_many_rows_is_413():
    data = rf.to_csv(rf.household("HH-T-0001", members=4))
    with pytest.raises(DomainError) as caught:
        parse(data, max_rows=3)
    assert caught.value.code == "import.too_large"
    assert caught.value.status == 413
    assert "3 行" in caught.value.message


def test_xlsx_that_unpacks_too_far_is_413():
    with pytest.raises(DomainError) as caught:
        ri.parse_roster(rf.to_xlsx([rf.row()]), max_rows=10, max_unpacked_bytes=100)
    assert caught.value.code == "import.too_large"


# -- XLSX as Excel writes it -----------------------------------------------------------------


def _excel_rows(**overrides):
    """Header plus one data row of the standard roster row, cells as Excel types them."""
    lines = rf.table([rf.row(**overrides)])
    return [lines[0], [v if v != "" else None for v in lines[1]]]


def _serial(day: date, epoch: date = date(1899, 12, 30)) -> int:
    return (day - epoch).days


def test_excel_shared_strings_numbers_and_date_styles():
    header, data = _excel_rows()
    col = {h: i for i, h in enumerate(header)}
    data[col["出生日期"]] = rf.XCell(f"<v>{_serial(date(1970, 5, 17))}</v>", s=1)
    data[col["帮扶开始日期"]] = rf.XCell(f"<v>{_serial(date(2025, 3, 1))}</v>", s=2)
    data[col["帮扶人姓名"]] = rf.Rich(["帮扶", "甲"], phonetic="bangfu jia")
    data[col["帮扶人电话"]] = 13600000001
    data[col["联系电话"]] = rf.XCell("<v>13900000001</v>", s=3)
    data[col["纬度"]] = 29.81
    data[col["户编号"]] = rf.Rich(["HH-T-", "0001"])
    parsed = parse(rf.excel_xlsx({"Sheet1": [header, data]}))
    assert parsed.format == "xlsx"
    assert parsed.errors == []
    row_no, values = parsed.roster.rows[0]
    assert row_no == 2
    assert values["birth_date"] == datetime(1970, 5, 17)
    assert values["helper_start_date"] == datetime(2025, 3, 1)
    assert values["helper_name"] == "帮扶甲"
    assert values["helper_phone"] == 13600000001
    assert values["lat"] == pytest.approx(29.81)
    validated = ri.validate_rows(parsed)
    assert validated.errors == []
    household = validated.households["HH-T-0001"]
    assert household.values["helper_phone"] == "13600000001"
    assert household.values["phone"] == "13900000001"


def test_excel_formula_cells_with_cached_values_are_refused():
    header, data = _excel_rows()
    col = {h: i for i, h in enumerate(header)}
    data[col["联系电话"]] = rf.XCell("<f>H1+1</f><v>13900000002</v>")
    data[col["家庭住址"]] = rf.XCell('<f t="shared" si="0"/><v>石桥村</v>', t="str")
    data[col["户主姓名"]] = rf.XCell('<f t="array" ref="F2">UPPER(R2)</f><v>测试户主</v>', t="str")
    validated = validate(rf.excel_xlsx({"花名册": [header, data]}))
    assert sorted((e.row, e.column) for e in validated.errors) == [
        (2, "家庭住址"),
        (2, "户主姓名"),
        (2, "联系电话"),
    ]
    assert all("公式" in e.message for e in validated.errors)


def test_excel_id_number_stored_as_a_number_is_refused():
    header, data = _excel_rows()
    data[header.index("身份证号")] = rf.XCell("<v>5.0015119700517101E+17</v>")
    validated = validate(rf.excel_xlsx({"花名册": [header, data]}))
    assert "文本格式" in messages(validated.errors, 2, "身份证号")[0]


def test_strict_xml_1904_dates_and_cells_without_references():
    header, data = _excel_rows(birth_date="")
    data[header.index("出生日期")] = rf.XCell(
        f"<v>{_serial(date(1970, 5, 17), date(1904, 1, 1))}</v>", s=1
    )
    # Without cell references, empty formatted cells hold the place of the ones after them.
    data = [v if v is not None else rf.XCell("", s=3) for v in data]
    parsed = parse(
        rf.excel_xlsx({"花名册": [header, data]}, ns=rf.STRICT, date1904=True, with_refs=False)
    )
    assert parsed.errors == []
    assert parsed.roster.rows[0][1]["birth_date"] == datetime(1970, 5, 17)
    assert ri.validate_rows(parsed).errors == []


def test_formatted_empty_cells_far_to_the_right_cost_nothing():
    header, data = _excel_rows()
    far = rf.XCell("<v>1</v>")
    workbook = rf.excel_xlsx({"花名册": [header, [*data, *[None] * 16000, far]]})
    parsed = parse(workbook)
    assert parsed.errors == []
    assert len(parsed.roster.rows) == 1


def test_excel_row_numbers_follow_the_sheet_with_gaps():
    header, data = _excel_rows()
    second = _excel_rows(seq=12, relation="配偶", member_name="配偶")[1]
    workbook = rf.excel_xlsx({"花名册": [header, data, second]}, row_numbers=[3, 4, 9])
    parsed = parse(workbook)
    assert parsed.roster.header_row == 3
    assert [r for r, _ in parsed.roster.rows] == [4, 9]


def test_excel_region_sheet_is_read_next_to_the_roster():
    header, data = _excel_rows()
    regions = [["代码", "名称", "级别", "上级代码"], ["500151105203", "新村", "村", "500151105"]]
    parsed = parse(rf.excel_xlsx({"说明": [["说明"]], "地区": regions, "花名册": [header, data]}))
    assert parsed.roster.sheet == "花名册"
    assert parsed.regions is not None
    assert parsed.regions.rows[0][1] == {
        "code": "500151105203",
        "name": "新村",
        "level": "村",
        "parent_code": "500151105",
    }


def test_a_damaged_workbook_is_415():
    data = rf.excel_xlsx({"花名册": _excel_rows()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content[: len(content) // 2]
            target.writestr(item, content)
    with pytest.raises(DomainError) as caught:
        parse(buffer.getvalue())
    assert caught.value.code == "import.unsupported_format"


# -- formulas --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["=1+1", "+86 13900000001", "-2+3", "@SUM(A1)", "=cmd|'/c calc'!A0"]
)
def test_csv_cells_that_look_like_formulas_are_refused(value):
    data = rf.to_csv([rf.row(address=value)])
    validated = validate(data)
    assert [(e.row, e.column) for e in validated.errors] == [(2, "家庭住址")]
    assert "公式" in validated.errors[0].message
    assert validated.households["HH-T-0001"].values.get("address") is None
    assert 2 in validated.bad_rows


def test_a_bare_dash_is_a_placeholder_not_a_formula():
    validated = validate(rf.to_csv([rf.row(chronic_illness="-")]))
    assert validated.errors == []
    assert validated.households["HH-T-0001"].members[0].values["chronic_illness"] is None


def test_xlsx_formula_cells_are_refused_not_evaluated():
    data = rf.to_xlsx(
        [rf.row(), rf.row(seq=12, relation="配偶", member_name="配偶")],
        formulas={(2, "phone"): "=13900000000+1", (3, "member_name"): '=CONCAT("张","三")'},
    )
    validated = validate(data)
    assert sorted((e.sheet, e.row, e.column) for e in validated.errors) == [
        ("花名册", 2, "联系电话"),
        ("花名册", 3, "成员姓名"),
    ]
    assert all("公式" in e.message for e in validated.errors)


def test_xlsx_text_that_starts_like_a_formula_is_refused_too():
    validated = validate(rf.to_xlsx([rf.row(address='=HYPERLINK("http://x")')]))
    assert [(e.row, e.column) for e in validated.errors] == [(2, "家庭住址")]


# -- values ----------------------------------------------------------------------------------


def test_bad_id_checksum_is_a_row_error():
    good = rf.fake_id(date(1970, 5, 17), 11)
    validated = validate(rf.to_csv([rf.row(id_number=rf.bad_checksum(good))]))
    assert messages(validated.errors, 2, "身份证号") == ["身份证号校验位错误。"]


def test_id_numbers_excel_turned_into_numbers_are_refused_with_a_hint():
    csv_data = rf.to_csv([rf.row(id_number="5.00151E+17")])
    assert "文本格式" in messages(validate(csv_data).errors, 2, "身份证号")[0]
    xlsx = rf.to_xlsx([rf.row()], numbers={(2, "id_number"): 5.00151197005171e17})
    assert "文本格式" in messages(validate(xlsx).errors, 2, "身份证号")[0]


def test_lower_case_x_and_a_leading_apostrophe_are_accepted():
    born = date(1970, 5, 17)
    number = next(rf.fake_id(born, s) for s in range(1, 999) if rf.fake_id(born, s)[-1] == "X")
    validated = validate(rf.to_csv([rf.row(id_number="'" + number.lower(), sex="", seq=1)]))
    assert validated.errors == []
    assert validated.households["HH-T-0001"].members[0].id_number == number


def test_sex_and_birth_date_come_from_the_id_number_when_blank():
    validated = validate(rf.to_csv([rf.row(sex="", birth_date="", seq=12, born=date(1988, 2, 29))]))
    assert validated.errors == []
    values = validated.households["HH-T-0001"].members[0].values
    assert values["sex"] == "F"
    assert values["birth_date"] == date(1988, 2, 29)


def test_sex_that_disagrees_with_the_id_number_is_a_row_error():
    validated = validate(rf.to_csv([rf.row(seq=11, sex="女")]))
    assert messages(validated.errors, 2, "性别") == ["性别与身份证号不符（身份证号显示为男）。"]


def test_birth_date_that_disagrees_with_the_id_number_is_a_row_error():
    validated = validate(rf.to_csv([rf.row(born=date(1970, 5, 17), birth_date="1970-05-18")]))
    assert messages(validated.errors, 2, "出生日期") == [
        "出生日期与身份证号不符（身份证号显示为 1970-05-17）。"
    ]


@pytest.mark.parametrize("spelling", ["1970/5/17", "1970.05.17", "19700517", "1970年5月17日"])
def test_common_date_spellings_are_read(spelling):
    assert validate(rf.to_csv([rf.row(birth_date=spelling)])).errors == []


def test_excel_date_cells_are_read():
    xlsx = rf.to_xlsx(
        [rf.row(helper_name="帮扶甲", helper_phone="13600000001")],
        numbers={
            (2, "birth_date"): datetime(1970, 5, 17),
            (2, "helper_start_date"): date(2025, 3, 1),
        },
    )
    validated = validate(xlsx)
    assert validated.errors == []
    assert validated.households["HH-T-0001"].values["helper_start_date"] == date(2025, 3, 1)


@pytest.mark.parametrize(
    ("key", "value", "column", "fragment"),
    [
        ("birth_date", "1970-13-01", "出生日期", "格式有误"),
        ("birth_date", "去年", "出生日期", "格式有误"),
        ("helper_start_date", "2999-01-01", "帮扶开始日期", "不合理"),
        ("category", "贫困户", "户类别", "取值“贫困户”无效"),
        ("poverty_status", "快脱贫了", "脱贫状态", "无效"),
        ("is_dibao", "也许", "低保", "应填写“是”或“否”"),
        ("medical_insurance", "参加了", "基本医保", "应填写“是”或“否”"),
        ("lat", "北纬29度", "纬度", "应为数字"),
        ("lat", "91", "纬度", "超出范围"),
        ("lon", "-106.05", "经度", "公式"),
        ("lon", "200", "经度", "超出范围"),
        ("phone", "12345", "联系电话", "格式有误"),
        ("doctor_phone", "1390000000", "医生电话", "格式有误"),
        ("sex", "未知", "性别", "应为“男”或“女”"),
        ("village_code", "石桥", "村代码", "代码应为数字"),
        ("household_number", "HH 0001", "户编号", "只能包含"),
        ("relation", "户主的远房表兄弟的朋友的邻居家的亲戚", "与户主关系", "过长"),
    ],
)
def test_bad_values_are_row_errors(key, value, column, fragment):
    validated = validate(rf.to_csv([rf.row(**{key: value})]))
    found = messages(validated.errors, 2, column)
    assert found, validated.errors
    assert fragment in found[0]


def test_helper_phone_must_be_a_mobile_number():
    validated = validate(rf.to_csv([rf.row(helper_name="帮扶甲", helper_phone="023-45600000")]))
    assert messages(validated.errors, 2, "帮扶人电话") == [
        "电话号码“023-45600000”格式有误，应为 11 位手机号。"
    ]


def test_landline_with_area_code_is_a_valid_household_phone():
    assert validate(rf.to_csv([rf.row(phone="023-45600000")])).errors == []


def test_latitude_without_longitude_is_an_error():
    validated = validate(rf.to_csv([rf.row(lon="")]))
    assert messages(validated.errors, 2, "经度") == ["纬度和经度须同时填写。"]


def test_required_cells_must_not_be_blank():
    validated = validate(rf.to_csv([rf.row(member_name="", household_number="")]))
    assert messages(validated.errors, 2, "成员姓名") == ["“成员姓名”不能为空。"]
    assert messages(validated.errors, 2, "户编号") == ["“户编号”不能为空。"]


# -- rules across rows and fields ------------------------------------------------------------


def test_the_same_id_number_twice_in_the_file_flags_both_rows():
    rows = rf.household("HH-T-0001", members=2) + rf.household("HH-T-0002", members=1)
    rows[2]["id_number"] = rows[0]["id_number"]
    rows[2]["birth_date"] = rows[0]["birth_date"]
    rows[2]["sex"] = rows[0]["sex"]
    validated = validate(rf.to_csv(rows))
    assert messages(validated.errors, 2, "身份证号") == ["身份证号在文件中重复出现（第 4 行）。"]
    assert messages(validated.errors, 4, "身份证号") == ["身份证号在文件中重复出现（第 2 行）。"]
    assert {2, 4} <= validated.bad_rows


def test_conflicting_household_fields_on_the_same_household_number():
    rows = rf.household("HH-T-0001", members=3)
    rows[2]["address"] = "别处"
    rows[2]["category"] = "一般农户"
    validated = validate(rf.to_csv(rows))
    assert messages(validated.errors, 4, "家庭住址") == [
        "同一户（户编号 HH-T-0001）的“家庭住址”与第 2 行不一致。"
    ]
    assert messages(validated.errors, 4, "户类别") == [
        "同一户（户编号 HH-T-0001）的“户类别”与第 2 行不一致。"
    ]
    assert validated.household_is_bad(validated.households["HH-T-0001"])


def test_blank_household_cells_on_later_rows_inherit():
    rows = rf.household("HH-T-0001", members=2)
    for key in ("address", "phone", "lat", "lon", "category", "poverty_status", "head_name"):
        rows[1][key] = ""
    validated = validate(rf.to_csv(rows))
    assert validated.errors == []
    household = validated.households["HH-T-0001"]
    assert household.values["address"] == "石桥村一组测试路1号"
    assert household.values["category"] == "registered_poor"
    assert household.values["lat"] == pytest.approx(29.81)


def test_two_heads_and_a_head_with_another_name():
    rows = rf.household("HH-T-0001", members=2)
    rows[1]["relation"] = "户主"
    rows[0]["member_name"] = "别人"
    validated = validate(rf.to_csv(rows))
    assert messages(validated.errors, 3, "与户主关系") == [
        "同一户只能有一位户主（第 2 行已是户主）。"
    ]
    assert messages(validated.errors, 2, "成员姓名") == [
        "户主的成员姓名应与户主姓名“户主HH-T-0001”一致。"
    ]


@pytest.mark.parametrize(
    ("values", "column", "message"),
    [
        ({"category": "建档立卡贫困户", "poverty_status": ""}, "脱贫状态", "建档立卡贫困户须填写"),
        (
            {"category": "监测对象", "monitor_type": "", "is_monitored": "是"},
            "监测类型",
            "须填写监测类型",
        ),
        ({"category": "低保户", "is_dibao": "否"}, "低保", "不能为“否”"),
        ({"monitor_type": "边缘易致贫户", "is_monitored": "否"}, "监测", "应为“是”"),
        ({"helper_name": "帮扶甲"}, "帮扶人电话", "须填写帮扶人电话"),
        ({"helper_phone": "13600000001"}, "帮扶人姓名", "须填写帮扶人姓名"),
    ],
)
def test_fields_that_contradict_each_other(values, column, message):
    validated = validate(rf.to_csv([rf.row(**values)]))
    found = messages(validated.errors, 2, column)
    assert found and message in found[0], validated.errors


def test_group_codes_may_be_short_and_must_belong_to_the_village():
    validated = validate(rf.to_csv([rf.row(group_code="2")]))
    assert validated.errors == []
    assert validated.households["HH-T-0001"].values["group_code"] == "500151105201002"
    validated = validate(rf.to_csv([rf.row(group_code="500151105202001")]))
    assert messages(validated.errors, 2, "组代码") == ["组代码应以村代码开头（或只填末 1～3 位）。"]


def test_absent_optional_columns_are_not_written():
    keys = [k for k in rf.HEADER if k not in ("chronic_illness", "doctor_name", "lat", "lon")]
    validated = validate(rf.to_csv([rf.row()], keys=keys))
    assert validated.errors == []
    values = validated.households["HH-T-0001"].members[0].values
    assert "chronic_illness" not in values
    assert "doctor_name" not in values
    assert values["medical_insurance"] is True


def test_region_sheet_rows_are_validated():
    data = rf.to_xlsx(
        [rf.row()],
        regions=[
            {"code": "500151105203", "name": "新村", "level": "村", "parent_code": "500151105"},
            {"code": "5001511052x", "name": "坏", "level": "村", "parent_code": "500151105"},
            {"code": "500151105204", "name": "没上级", "level": "村", "parent_code": ""},
            {"code": "500151105205", "name": "级别错", "level": "乡", "parent_code": "500151105"},
        ],
    )
    validated = validate(data)
    assert [r.code for r in validated.regions] == ["500151105203"]
    assert sorted((e.sheet, e.row, e.column) for e in validated.errors) == [
        ("地区", 3, "代码"),
        ("地区", 4, "上级代码"),
        ("地区", 5, "级别"),
    ]


# -- templates -------------------------------------------------------------------------------


def test_csv_template_has_a_bom_and_valid_fake_rows():
    data = ri.roster_template_csv()
    assert data.startswith(codecs.BOM_UTF8)
    parsed = parse(data)
    assert parsed.errors == []
    assert list(parsed.roster.columns.values()) == ri.ROSTER_HEADERS
    validated = ri.validate_rows(parsed)
    assert validated.errors == []
    for _row, values in parsed.roster.rows:
        assert is_valid_id_number(values["id_number"])
        assert values["member_name"].startswith("示例")


def test_xlsx_template_reads_back_like_the_csv_one():
    data = ri.roster_template_xlsx()
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["花名册", "地区", "说明"]
    parsed = parse(data)
    assert parsed.format == "xlsx"
    assert parsed.errors == []
    assert parsed.regions is None  # the empty 地区 sheet is allowed
    csv_rows = [values for _r, values in parse(ri.roster_template_csv()).roster.rows]
    xlsx_rows = [values for _r, values in parsed.roster.rows]
    assert [r["id_number"] for r in xlsx_rows] == [r["id_number"] for r in csv_rows]
