"""Roster import (花名册导入): a CSV or XLSX roster → regions, households, members, helpers and
helper assignments.

The roster has one row per household member; the household columns repeat on every row of that
household's members (a blank household cell on a later row of the same household inherits the
value of an earlier row). Headers are Chinese; ``*`` marks the columns the file must have:

household  村代码*, 村名称*, 组代码, 组名称, 户编号*, 户主姓名*, 家庭住址, 联系电话, 纬度, 经度,
           户类别* (建档立卡贫困户 / 监测对象 / 低保户 / 特困供养 / 贫困残疾人家庭 / 一般农户),
           脱贫状态 (已脱贫 / 未脱贫; required for 建档立卡贫困户),
           监测类型 (脱贫不稳定户 / 边缘易致贫户 / 突发严重困难户; required for 监测对象),
           低保, 特困, 残疾, 监测 (是 / 否; blank follows 户类别)
member     成员姓名*, 与户主关系*, 性别 (男 / 女), 出生日期, 身份证号*, 在校情况,
           基本医保, 大病保险 (是 / 否), 签约医生, 医生电话, 残疾情况, 慢性病, 外出务工 (是 / 否)
helper     帮扶人姓名, 帮扶人电话, 帮扶开始日期 (default: today)

性别 and 出生日期 may be left blank: they are taken from the ID number, and must agree with it
when given. Dates are YYYY-MM-DD (also YYYY/M/D, YYYYMMDD, YYYY年M月D日 or an Excel date).
A group code may be the full code (village code + 3 digits) or just its last 1–3 digits.

Regions: the villages must already exist, or (XLSX only) be declared on a second sheet named
``地区`` with columns 代码, 名称, 级别 (区 / 镇 / 村 / 组), 上级代码. Groups are created under their
village when a row names a new group code.

Keys: households by 户编号, members by 身份证号. Importing the same file twice changes nothing.
A column missing from the file leaves that field alone; a blank cell clears it, except 纬度 /
经度 and the helper columns, where blank means "leave as is". Members in the database but not in
the file are never deleted, only counted. Helpers are matched by phone to existing users, or
created (no password, no username) with a helper grant on the household's village.

Errors are collected for every row (row number as Excel shows it, column header, Chinese
message). By default any error rejects the whole file and writes nothing but the audit row;
``on_error="skip"`` imports the households without errors. Cells holding formulas, or text that
starts like one (= + - @), are refused, never evaluated.

Parsing (bytes → rows, :func:`parse_roster`) and field validation (:func:`validate_rows`) touch
no database; :func:`import_roster` plans against the database, then writes.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import math
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol
from xml.etree import ElementTree

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import Assignment, AuditLog, Household, Member, Region, RoleGrant, User
from backend.models.household import (
    CATEGORY_LABELS,
    MONITOR_TYPE_LABELS,
    POVERTY_STATUS_LABELS,
    HouseholdCategory,
)
from backend.models.region import LEVEL_LABELS, LEVEL_ORDER, RegionLevel
from backend.models.user import Role
from backend.services.assignments import assign_helper
from backend.services.audit import record_event
from backend.services.authz import ADMIN_ROLES, Actor, require_authenticated, require_role
from backend.services.idnumber import birth_date_of, id_number_problem, normalise_id_number, sex_of

TEMPLATE_CSV_PATH = Path(__file__).resolve().parent.parent / "data" / "roster_template.csv"
ROSTER_SHEET = "花名册"
REGION_SHEET = "地区"
NOTES_SHEET = "说明"
ON_ERROR_REJECT = "reject"
ON_ERROR_SKIP = "skip"
# The response lists every bad row up to this many errors; more only inflate the reply.
MAX_REPORTED_ERRORS = 10_000
# An XLSX may unpack to this many times the upload limit before it is treated as a zip bomb.
XLSX_UNPACK_FACTOR = 20
_HEADER_SCAN_ROWS = 10
_CHUNK = 500


# --------------------------------------------------------------------------------------------
# Columns


@dataclass(frozen=True)
class Column:
    """One roster column: its key, its Chinese header, and accepted alternative headers."""

    key: str
    header: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    note: str = ""


ROSTER_COLUMNS: tuple[Column, ...] = (
    Column("village_code", "村代码", True, ("行政村代码", "村编码"), "村的统计用区划代码"),
    Column("village_name", "村名称", True, ("村名", "行政村"), "须与代码对应"),
    Column("group_code", "组代码", False, ("组编码", "村民小组代码"), "完整代码或末 1～3 位"),
    Column("group_name", "组名称", False, ("组名", "村民小组"), "新建组时必填"),
    Column("household_number", "户编号", True, ("户编码", "户号"), "每户唯一，每行都要填"),
    Column("head_name", "户主姓名", True, ("户主",)),
    Column("address", "家庭住址", False, ("住址", "地址")),
    Column("phone", "联系电话", False, ("户主电话", "联系方式"), "手机号或带区号的固定电话"),
    Column("lat", "纬度", False, (), "如 29.80"),
    Column("lon", "经度", False, (), "如 106.05"),
    Column("category", "户类别", True, ("农户类别", "户类型"), "、".join(CATEGORY_LABELS.values())),
    Column("poverty_status", "脱贫状态", False, (), "已脱贫 / 未脱贫（建档立卡贫困户必填）"),
    Column(
        "monitor_type",
        "监测类型",
        False,
        ("监测对象类型",),
        "、".join(MONITOR_TYPE_LABELS.values()) + "（监测对象必填）",
    ),
    Column("is_dibao", "低保", False, ("是否低保",), "是 / 否"),
    Column("is_tekun", "特困", False, ("是否特困",), "是 / 否"),
    Column("is_disabled", "残疾", False, ("是否残疾", "残疾户"), "是 / 否"),
    Column("is_monitored", "监测", False, ("是否监测",), "是 / 否"),
    Column("member_name", "成员姓名", True, ("姓名",)),
    Column("relation", "与户主关系", True, ("与户主关系（称谓）", "关系"), "户主、配偶、子女……"),
    Column("sex", "性别", False, (), "男 / 女，可不填（按身份证号）"),
    Column("birth_date", "出生日期", False, ("出生年月日",), "可不填（按身份证号）"),
    Column("id_number", "身份证号", True, ("身份证号码", "公民身份号码"), "18 位，请设为文本格式"),
    Column("schooling", "在校情况", False, ("在校生情况", "就学情况")),
    Column("medical_insurance", "基本医保", False, ("参加基本医保",), "是 / 否"),
    Column("serious_illness_insurance", "大病保险", False, ("参加大病保险",), "是 / 否"),
    Column("doctor_name", "签约医生", False, ("家庭签约医生",)),
    Column("doctor_phone", "医生电话", False, ("签约医生电话",)),
    Column("disability", "残疾情况", False, ("残疾类别",), "如 肢体残疾二级"),
    Column("chronic_illness", "慢性病", False, ("慢性病情况",)),
    Column("migrant_work", "外出务工", False, ("是否外出务工",), "是 / 否"),
    Column("helper_name", "帮扶人姓名", False, ("帮扶责任人", "帮扶人")),
    Column("helper_phone", "帮扶人电话", False, ("帮扶责任人电话",), "11 位手机号"),
    Column("helper_start_date", "帮扶开始日期", False, (), "不填则为导入当天"),
)
REGION_COLUMNS: tuple[Column, ...] = (
    Column("code", "代码", True, ("地区代码", "区划代码")),
    Column("name", "名称", True, ("地区名称",)),
    Column("level", "级别", True, ("层级",), "区 / 镇 / 村 / 组"),
    Column("parent_code", "上级代码", True, ("上级地区代码",), "区可不填"),
)
ROSTER_HEADERS = [c.header for c in ROSTER_COLUMNS]
_ROSTER_BY_KEY = {c.key: c for c in ROSTER_COLUMNS}

HOUSEHOLD_KEYS = (
    "village_code",
    "village_name",
    "group_code",
    "group_name",
    "head_name",
    "address",
    "phone",
    "lat",
    "lon",
    "category",
    "poverty_status",
    "monitor_type",
    "is_dibao",
    "is_tekun",
    "is_disabled",
    "is_monitored",
    "helper_name",
    "helper_phone",
    "helper_start_date",
)
# Household attributes written from the file.
_HOUSEHOLD_ATTRS = (
    "head_name",
    "address",
    "phone",
    "lat",
    "lon",
    "category",
    "poverty_status",
    "monitor_type",
    "is_dibao",
    "is_tekun",
    "is_disabled",
    "is_monitored",
)
# Flags implied by a category; "否" against its own category is a contradiction.
_CATEGORY_FLAGS = {
    HouseholdCategory.DIBAO.value: "is_dibao",
    HouseholdCategory.TEKUN.value: "is_tekun",
    HouseholdCategory.DISABLED.value: "is_disabled",
    HouseholdCategory.MONITORED.value: "is_monitored",
}
_HEAD_RELATIONS = frozenset({"户主", "本人"})
_REQUIRED_HOUSEHOLD_KEYS = ("village_code", "village_name", "head_name", "category")


def _choices(labels: dict) -> dict[str, str]:
    out = {label: member.value for member, label in labels.items()}
    out.update({member.value: member.value for member in labels})
    return out


_CATEGORY_VALUES = _choices(CATEGORY_LABELS)
_POVERTY_VALUES = _choices(POVERTY_STATUS_LABELS)
_MONITOR_VALUES = _choices(MONITOR_TYPE_LABELS)
_LEVEL_VALUES = {label: level.value for level, label in LEVEL_LABELS.items()} | {
    level.value: level.value for level in RegionLevel
}
_TRUE = frozenset({"是", "有", "y", "yes", "true", "1", "√", "✓"})
_FALSE = frozenset({"否", "无", "n", "no", "false", "0", "×", "✗"})
# Placeholders people type for "none" in free-text health columns.
_NONE_WORDS = frozenset({"无", "-", "--", "—", "/", "否", "没有"})
_SEX_VALUES = {"男": "M", "女": "F", "M": "M", "F": "F", "m": "M", "f": "F"}
_SEX_LABELS = {"M": "男", "F": "女"}

_CODE = re.compile(r"^\d{1,32}$")
_HOUSEHOLD_NUMBER = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff_\-]{1,32}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]0{1,2}:00(?::00)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_SCIENTIFIC = re.compile(r"^\d+(?:\.\d+)?[eE]\+?\d+$")
_LAT_RANGE = (3.8, 53.6)
_LON_RANGE = (73.4, 135.1)


# --------------------------------------------------------------------------------------------
# Errors and results


@dataclass(frozen=True)
class RowError:
    """One problem: sheet (XLSX only), row as Excel shows it, column header, Chinese message."""

    row: int | None
    column: str | None
    message: str
    sheet: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of the error."""
        return {
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "message": self.message,
        }


class _Refused:
    """Marks a cell refused while reading (a formula); its error is already recorded."""

    def __repr__(self) -> str:
        return "<refused>"


REFUSED = _Refused()


@dataclass
class Table:
    """The data rows of one sheet, keyed by column key."""

    sheet: str | None
    header_row: int
    columns: dict[str, str]  # key → header as written in the file
    rows: list[tuple[int, dict[str, Any]]]

    def header(self, key: str, spec: dict[str, Column]) -> str:
        """The header the user sees for ``key``."""
        return self.columns.get(key) or spec[key].header


@dataclass
class ParsedRoster:
    """A roster file read into rows, before any validation of values."""

    format: str  # "csv" | "xlsx"
    encoding: str | None
    roster: Table
    regions: Table | None
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Parsing: bytes → rows


def _unsupported(message: str | None = None) -> DomainError:
    return DomainError("import.unsupported_format", message)


_BINARY_MAGIC = (
    (b"%PDF", "PDF"),
    (b"\x89PNG", "PNG 图片"),
    (b"\xff\xd8\xff", "JPEG 图片"),
    (b"GIF8", "GIF 图片"),
    (b"Rar!", "RAR 压缩包"),
    (b"\x1f\x8b", "GZIP 压缩包"),
    (b"7z\xbc\xaf", "7z 压缩包"),
)


def detect_format(data: bytes) -> str:
    """Tell an XLSX from a CSV by content, not by file name; refuse anything else (415)."""
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile as exc:
            raise _unsupported("无法读取该文件：压缩格式已损坏。") from exc
        if "xl/workbook.xml" in names or any(n.startswith("xl/workbook") for n in names):
            return "xlsx"
        if "content.xml" in names:
            raise _unsupported("不支持 WPS/OpenOffice 表格（.ods），请另存为 .xlsx 或 CSV。")
        raise _unsupported("这是压缩包或其他 Office 文件，仅支持 CSV 或 XLSX 文件。")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _unsupported("不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 或 CSV。")
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            raise _unsupported(f"这是{kind}文件，仅支持 CSV 或 XLSX 文件。")
    return "csv"


# charset-normalizer guesses these for short GBK text; a mainland roster is GBK far more often.
_CJK_GUESSES = frozenset(
    {"gb2312", "gbk", "gb18030", "hz", "big5", "big5hkscs", "cp950", "cp936", "cp949"}
    | {"euc_jp", "euc_kr", "shift_jis", "cp932", "johab", "iso2022_jp", "iso2022_kr"}
)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes: BOMs first, then strict UTF-8, then GB18030 or charset-normalizer."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise _unsupported("文件编码有误，无法读取。") from exc
    if b"\x00" in data:
        raise _unsupported("这不是文本文件，仅支持 CSV 或 XLSX 文件。")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    import charset_normalizer

    best = charset_normalizer.from_bytes(data).best()
    guess = best.encoding.lower().replace("-", "_") if best is not None else None
    # Excel on Chinese Windows saves CSV in GBK; GB18030 is its superset.
    candidates = (
        ["gb18030", guess] if guess is None or guess in _CJK_GUESSES else [guess, "gb18030"]
    )
    for encoding in candidates:
        if encoding is None:
            continue
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError):
            continue
    raise _unsupported("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV 文件。")


def _cell_text(value: Any) -> str:
    """Text of a cell as the user would read it."""
    if value is None:
        return ""
    if type(value) is str:
        if "\u3000" in value or "\xa0" in value:
            value = value.replace("\u3000", " ").replace("\xa0", " ")
        return value.strip()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if not value.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("\u3000", " ").replace("\xa0", " ").strip()


def _is_blank(values: list[Any]) -> bool:
    return not any(_cell_text(v) for v in values)


def looks_like_formula(text: str) -> bool:
    """True for text that a spreadsheet would run as a formula (= + - @), except a bare dash."""
    text = text.strip()
    return bool(text) and text[0] in "=+-@" and set(text) != {"-"}


def _normalise_header(value: Any) -> str:
    text = re.sub(r"\s+", "", _cell_text(value))
    text = re.sub(r"[（(]必填[)）]$", "", text)
    return text.strip("*＊")


def _header_lookup(columns: Iterable[Column]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for column in columns:
        lookup[column.header] = column.key
        for alias in column.aliases:
            lookup[alias] = column.key
    return lookup


_FORMULA_MESSAGE = "单元格含公式或以 = + - @ 开头，系统不会计算公式；请改为直接填写数值或文字。"


def _build_table(
    raw_rows: Iterator[tuple[int, list[Any], set[int]]],
    *,
    sheet: str | None,
    columns: tuple[Column, ...],
    min_known: int,
    max_rows: int,
    seen_rows: list[int],
    errors: list[RowError],
    warnings_out: list[str],
) -> Table:
    """Find the header row, map the headers to keys and collect the non-empty data rows."""
    lookup = _header_lookup(columns)
    key_at: dict[int, str] = {}
    headers_at: dict[int, str] = {}
    scanned: list[tuple[int, list[Any], set[int]]] = []
    for row_no, values, formula_cols in raw_rows:
        if not formula_cols and _is_blank(values):
            continue
        scanned.append((row_no, values, formula_cols))
        names = [_normalise_header(v) for v in values]
        if sum(1 for n in names if n in lookup) >= min_known or len(scanned) >= _HEADER_SCAN_ROWS:
            break
    else:
        if not scanned:
            errors.append(RowError(None, None, "文件中没有内容。", sheet))
            return Table(sheet, 0, {}, [])
    # The header is the first row naming enough known columns (title rows above it are
    # skipped); failing that, the first non-empty row.
    chosen = next(
        (s for s in scanned if sum(1 for v in s[1] if _normalise_header(v) in lookup) >= min_known),
        scanned[0],
    )
    header_row = chosen[0]
    table_columns: dict[str, str] = {}
    for index, value in enumerate(chosen[1]):
        name = _normalise_header(value)
        if not name:
            continue
        key = lookup.get(name)
        if key is None:
            warnings_out.append(f"{_where(sheet)}未识别的列“{name}”已忽略。")
            continue
        if key in table_columns:
            errors.append(RowError(None, name, f"列“{name}”出现了多次。", sheet))
            continue
        table_columns[key] = name
        key_at[index] = key
        headers_at[index] = name
    for column in columns:
        if column.required and column.key not in table_columns:
            errors.append(RowError(None, column.header, f"缺少必需的列“{column.header}”。", sheet))

    table = Table(sheet, header_row, table_columns, [])
    # Rows after the header: the rest of the scanned rows, then the remaining stream.
    remaining = [s for s in scanned if s[0] > header_row]
    for row_no, values, formula_cols in _chain(remaining, raw_rows):
        if not formula_cols and _is_blank(values):
            continue
        seen_rows[0] += 1
        if seen_rows[0] > max_rows:
            raise DomainError("import.too_large", f"导入文件超过 {max_rows} 行的上限，请分批导入。")
        record: dict[str, Any] = {}
        for index, key in key_at.items():
            value = values[index] if index < len(values) else None
            if isinstance(value, str):
                value = _cell_text(value) or None
            if index in formula_cols or (isinstance(value, str) and looks_like_formula(value)):
                errors.append(RowError(row_no, headers_at[index], _FORMULA_MESSAGE, sheet))
                record[key] = REFUSED
            else:
                record[key] = value
        table.rows.append((row_no, record))
    if not table.rows and not errors:
        errors.append(RowError(None, None, "文件中没有数据行。", sheet))
    return table


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _where(sheet: str | None) -> str:
    return f"工作表“{sheet}”中" if sheet else ""


def _csv_rows(text: str) -> Iterator[tuple[int, list[Any], set[int]]]:
    first_line = next((line for line in io.StringIO(text) if line.strip()), "")
    delimiter = max((",", "\t", ";"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    # Excel shows one row per record, even when a quoted cell spans several lines.
    for row_no, values in enumerate(reader, start=1):
        yield row_no, list(values), set()


# Cells further right than this are ignored (a roster has about 35 columns).
_MAX_COLUMNS = 512
_DATE_FORMAT_IDS = frozenset([*range(14, 23), *range(27, 37), 45, 46, 47, *range(50, 59)])


def _local(tag: str) -> str:
    """An XML tag or attribute name without its namespace (SpreadsheetML comes in two)."""
    return tag.rsplit("}", 1)[-1]


def _attr(element: ElementTree.Element, name: str) -> str | None:
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _part_path(base: str, target: str) -> str:
    """Resolve a relationship target against the part that declares it."""
    if target.startswith("/"):
        return target.lstrip("/")
    parts = [p for p in base.rsplit("/", 1)[0].split("/") if p] if "/" in base else []
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return "/".join(parts)


def _relationships(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id → (type, resolved path) of a package part ('' for the package)."""
    folder, _, name = part.rpartition("/")
    rels = f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"
    if rels not in archive.namelist():
        return {}
    root = ElementTree.fromstring(archive.read(rels))
    return {
        rel.get("Id", ""): (rel.get("Type", ""), _part_path(part, rel.get("Target", "")))
        for rel in root
        if _local(rel.tag) == "Relationship"
    }


def _workbook_part(archive: zipfile.ZipFile) -> str | None:
    """Where the package keeps its workbook, or None when it is not a spreadsheet."""
    for rel_type, path in _relationships(archive, "").values():
        if rel_type.endswith("/officeDocument") and path.startswith("xl/"):
            return path
    return "xl/workbook.xml" if "xl/workbook.xml" in archive.namelist() else None


def _text_of(element: ElementTree.Element) -> str:
    """Text of a string item: its runs, without phonetic guides (rPh)."""
    if _local(element.tag) == "t":
        return element.text or ""
    return "".join(_text_of(child) for child in element if _local(child.tag) != "rPh")


class _XlsxBook:
    """A minimal streaming reader of the cells of an XLSX workbook.

    openpyxl needs about 50 µs a cell even in read-only mode, several seconds for a town
    roster; this reads the sheet XML directly and keeps only what an import needs: values,
    dates (by their number format) and which cells hold formulas.
    """

    def __init__(self, archive: zipfile.ZipFile, workbook: str):
        from openpyxl.styles.numbers import is_date_format
        from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH

        self.archive = archive
        root = ElementTree.fromstring(archive.read(workbook))
        # Transitional and Strict SpreadsheetML differ only in their namespace.
        self.ns = root.tag[: -len(_local(root.tag))]
        rels = _relationships(archive, workbook)
        properties = next((e for e in root if _local(e.tag) == "workbookPr"), None)
        date1904 = properties is not None and properties.get("date1904") in ("1", "true")
        self.epoch = MAC_EPOCH if date1904 else WINDOWS_EPOCH
        self.sheets: dict[str, str] = {}
        for sheet in root.iter():
            if _local(sheet.tag) == "sheet":
                rel = rels.get(_attr(sheet, "id") or "")
                if rel is not None:
                    self.sheets[(sheet.get("name") or "").strip()] = rel[1]
        by_type = {t.rsplit("/", 1)[-1]: path for t, path in rels.values()}
        self.shared: list[str] = []
        if by_type.get("sharedStrings") in archive.namelist():
            with archive.open(by_type["sharedStrings"]) as stream:
                for _event, element in ElementTree.iterparse(stream):
                    if _local(element.tag) == "si":
                        self.shared.append(_text_of(element))
                        element.clear()
        self.date_styles: set[int] = set()
        if by_type.get("styles") in archive.namelist():
            styles = ElementTree.fromstring(archive.read(by_type["styles"]))
            custom = {
                int(f.get("numFmtId", "-1")): f.get("formatCode")
                for f in styles.iter()
                if _local(f.tag) == "numFmt"
            }
            xfs = next((e for e in styles if _local(e.tag) == "cellXfs"), None)
            for index, xf in enumerate(xfs if xfs is not None else []):
                fmt = int(xf.get("numFmtId", "0"))
                if fmt in _DATE_FORMAT_IDS or (fmt in custom and is_date_format(custom[fmt])):
                    self.date_styles.add(index)

    def rows(self, sheet: str) -> Iterator[tuple[int, list[Any], set[int]]]:
        """(row number, values, indexes of formula cells) for each row of ``sheet``."""
        from openpyxl.utils.datetime import from_excel

        ns = self.ns
        row_tag, cell_tag, data_tag = ns + "row", ns + "c", ns + "sheetData"
        value_tag, formula_tag, inline_tag, text_tag = ns + "v", ns + "f", ns + "is", ns + "t"
        columns: dict[str, int] = {}
        row_no = 0
        with self.archive.open(self.sheets[sheet]) as stream:
            for _event, element in ElementTree.iterparse(stream):
                tag = element.tag
                if tag != row_tag:
                    if tag == data_tag:
                        break
                    continue
                values: list[Any] = []
                formulas: set[int] = set()
                for cell in element:
                    if cell.tag != cell_tag:
                        continue
                    ref = cell.get("r")
                    if ref is None:
                        index = len(values)
                    else:
                        letters = ref.rstrip("0123456789")
                        index = columns.get(letters)
                        if index is None:
                            index = columns[letters] = _column_index(letters)
                    if index < len(values) or index >= _MAX_COLUMNS:
                        continue  # a repeated reference, or far beyond any roster column
                    raw = None
                    is_formula = False
                    for child in cell:
                        if child.tag == value_tag:
                            raw = child.text
                        elif child.tag == formula_tag:
                            is_formula = True
                        elif child.tag == inline_tag:
                            only = child[0] if len(child) == 1 else None
                            raw = (
                                (only.text or "")
                                if only is not None and only.tag == text_tag
                                else _text_of(child)
                            )
                    if not is_formula and raw is None:
                        if ref is None:
                            values.append(None)  # keeps the position of the cells after it
                        continue  # a formatted but empty cell
                    values.extend([None] * (index - len(values)))
                    if is_formula:
                        formulas.add(index)
                        values.append(None)
                    else:
                        values.append(
                            self._value(cell.get("t", "n"), raw, cell.get("s"), from_excel)
                        )
                row_attr = element.get("r")
                row_no = int(row_attr) if row_attr else row_no + 1
                element.clear()
                yield row_no, values, formulas

    def _value(self, kind: str, raw: str, style: str | None, from_excel) -> Any:
        if kind == "s":
            return self.shared[int(raw)]
        if kind in ("inlineStr", "str", "e"):
            return raw
        if kind == "b":
            return raw.strip() in ("1", "true")
        if kind == "d":
            try:
                return datetime.fromisoformat(raw.strip())
            except ValueError:
                return raw
        number: int | float = float(raw) if any(c in raw for c in ".eE") else int(raw)
        if style is not None and int(style) in self.date_styles:
            try:
                return from_excel(number, self.epoch)
            except (OverflowError, ValueError):
                return number  # not a plausible date: validation will say so
        return number


def _column_index(ref: str) -> int:
    """Zero-based column of a cell reference such as "AB12"."""
    index = 0
    for char in ref:
        if not char.isalpha():
            break
        index = index * 26 + (ord(char.upper()) - 64)
    return index - 1


def read_csv_table(data: bytes, **options: Any) -> tuple[str, Table]:
    """CSV bytes (any common encoding) → their encoding and table; a broken CSV is one error.

    ``options`` are those of one sheet: columns, min_known, max_rows, seen_rows, errors (where
    row errors go) and warnings_out.
    """
    text, encoding = decode_text(data)
    try:
        table = _build_table(_csv_rows(text), sheet=None, **options)
    except csv.Error as exc:
        options["errors"].append(RowError(None, None, f"CSV 格式有误：{exc}"))
        table = Table(None, 0, {}, [])
    return encoding, table


@contextmanager
def open_workbook(data: bytes, *, max_unpacked_bytes: int | None) -> Iterator[_XlsxBook]:
    """The workbook in XLSX bytes, to read sheets from with ``read_sheet_table``.

    Raises ``import.too_large`` when it unpacks past ``max_unpacked_bytes``, and
    ``import.unsupported_format`` when it (or a sheet read inside the block) cannot be read.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
        if max_unpacked_bytes is not None and unpacked > max_unpacked_bytes:
            raise DomainError("import.too_large", "导入文件解压后过大，请分批导入。")
        try:
            workbook = _workbook_part(archive)
            if workbook is None:
                raise KeyError("workbook")
            yield _XlsxBook(archive, workbook)
        except DomainError:
            raise
        except (
            KeyError,
            ValueError,
            IndexError,
            zipfile.BadZipFile,
            ElementTree.ParseError,
        ) as exc:
            raise _unsupported("无法读取该 XLSX 文件，文件可能已损坏。") from exc


def read_sheet_table(book: _XlsxBook, sheet: str, **options: Any) -> Table:
    """One sheet of an open workbook → its table; ``options`` as for ``read_csv_table``."""
    return _build_table(book.rows(sheet), sheet=sheet, **options)


def parse_roster(
    data: bytes, *, max_rows: int, max_unpacked_bytes: int | None = None
) -> ParsedRoster:
    """Read roster bytes (CSV in any common encoding, or XLSX) into rows; no validation of values.

    Raises ``import.unsupported_format`` (415) for other files and ``import.too_large`` (413)
    past ``max_rows`` data rows or an XLSX that unpacks past ``max_unpacked_bytes``.
    """
    errors: list[RowError] = []
    notes: list[str] = []
    seen = [0]
    if not data.strip():
        errors.append(RowError(None, None, "文件为空。"))
        return ParsedRoster("csv", None, Table(None, 0, {}, []), None, errors, notes)
    kind = detect_format(data)
    options = {
        "columns": ROSTER_COLUMNS,
        "min_known": 3,
        "max_rows": max_rows,
        "seen_rows": seen,
        "errors": errors,
        "warnings_out": notes,
    }
    if kind == "csv":
        encoding, roster = read_csv_table(data, **options)
        return ParsedRoster("csv", encoding, roster, None, errors, notes)
    return _parse_xlsx(data, options, max_unpacked_bytes=max_unpacked_bytes)


def _parse_xlsx(
    data: bytes, options: dict[str, Any], *, max_unpacked_bytes: int | None
) -> ParsedRoster:
    # ``options`` read the roster sheet; the 地区 sheet shares its row count and notes.
    errors, notes = options["errors"], options["warnings_out"]
    with open_workbook(data, max_unpacked_bytes=max_unpacked_bytes) as book:
        roster_name = (
            ROSTER_SHEET
            if ROSTER_SHEET in book.sheets
            else next((n for n in book.sheets if n not in (REGION_SHEET, NOTES_SHEET)), None)
        )
        if roster_name is None:
            errors.append(RowError(None, None, "工作簿中没有花名册工作表。"))
            return ParsedRoster("xlsx", None, Table(None, 0, {}, []), None, errors, notes)
        roster = read_sheet_table(book, roster_name, **options)
        regions = None
        if REGION_SHEET in book.sheets:
            region_errors: list[RowError] = []
            regions = read_sheet_table(
                book,
                REGION_SHEET,
                **{**options, "columns": REGION_COLUMNS, "min_known": 2, "errors": region_errors},
            )
            # An empty 地区 sheet (as in the template) is allowed.
            if regions.rows:
                errors.extend(region_errors)
            else:
                regions = None
    return ParsedRoster("xlsx", None, roster, regions, errors, notes)


# --------------------------------------------------------------------------------------------
# Validation of values (no database)


@dataclass
class MemberDraft:
    """One validated member row."""

    row: int
    id_number: str
    values: dict[str, Any]


@dataclass
class HouseholdDraft:
    """One household gathered from its member rows."""

    number: str
    first_row: int
    rows: list[int] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # merged household keys
    value_rows: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    first_seen: dict[str, int] = field(default_factory=dict)
    members: list[MemberDraft] = field(default_factory=list)

    def rows_for(self, key: str) -> list[int]:
        """Rows that carry a value for ``key`` (the first row when none does)."""
        return self.value_rows.get(key) or [self.first_row]


@dataclass
class RegionDraft:
    """One validated row of the 地区 sheet."""

    row: int
    code: str
    name: str
    level: str
    parent_code: str | None


@dataclass
class ValidatedRoster:
    """Rows turned into typed households and members, with every error found so far."""

    households: dict[str, HouseholdDraft]
    regions: list[RegionDraft]
    errors: list[RowError]
    bad_rows: set[int]  # roster rows with an error
    bad_region_rows: set[int]
    present: frozenset[str]  # roster column keys present in the file

    def household_is_bad(self, household: HouseholdDraft) -> bool:
        """True when any row of the household has an error."""
        return any(r in self.bad_rows for r in household.rows)


_BAD = object()


class _RowReader:
    """Typed access to one row's cells, recording errors against the row."""

    def __init__(self, table: Table, spec: dict[str, Column], row: int, values: dict[str, Any]):
        self.table = table
        self.spec = spec
        self.row = row
        self.values = values
        self.errors: list[RowError] = []

    def error(self, key: str, message: str) -> object:
        """Record an error for the cell under ``key``; returns the bad-value marker."""
        self.errors.append(
            RowError(self.row, self.table.header(key, self.spec), message, self.table.sheet)
        )
        return _BAD

    def text(self, key: str, *, required: bool = False, max_len: int = 64) -> Any:
        """Trimmed text, None when blank; _BAD when refused, missing or too long."""
        value = self.values.get(key)
        if value is REFUSED:
            return _BAD
        text = _cell_text(value)
        if not text:
            if required and key not in self.table.columns:
                return _BAD  # the missing column is reported once, for the file
            if required:
                return self.error(key, f"“{self.table.header(key, self.spec)}”不能为空。")
            return None
        if len(text) > max_len:
            return self.error(key, f"内容过长（不能超过 {max_len} 个字）。")
        return text

    def choice(self, key: str, choices: dict[str, str], labels: Iterable[str], **kw) -> Any:
        """One value of a fixed list (Chinese label or its code)."""
        text = self.text(key, **kw)
        if text is None or text is _BAD:
            return text
        if text not in choices:
            return self.error(key, f"取值“{text}”无效，应为以下之一：{'、'.join(labels)}。")
        return choices[text]

    def flag(self, key: str) -> Any:
        """是 / 否 as a bool; None when blank."""
        text = self.text(key)
        if text is None or text is _BAD:
            return text
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return self.error(key, f"取值“{text}”无效，应填写“是”或“否”。")

    def code(self, key: str, *, required: bool = False) -> Any:
        """A region code: digits only."""
        text = self.text(key, required=required, max_len=32)
        if text is None or text is _BAD:
            return text
        if not _CODE.match(text):
            return self.error(key, "代码应为数字。")
        return text

    def phone(self, key: str, *, mobile_only: bool = False) -> Any:
        """A mobile number, or (unless ``mobile_only``) a landline with its area code."""
        text = self.text(key, max_len=32)
        if text is None or text is _BAD:
            return text
        phone = re.sub(r"[\s]", "", text).lstrip("'")
        if _MOBILE.match(phone):
            return phone
        if not mobile_only and _LANDLINE.match(phone):
            return phone
        if mobile_only:
            return self.error(key, f"电话号码“{text}”格式有误，应为 11 位手机号。")
        return self.error(
            key,
            f"电话号码“{text}”格式有误，应为 11 位手机号或带区号的固定电话（如 023-45600000）。",
        )

    def day(self, key: str) -> Any:
        """A date, from an Excel date cell or common Chinese spellings."""
        value = self.values.get(key)
        if value is REFUSED:
            return _BAD
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = _cell_text(value)
        if not text:
            return None
        for pattern in _DATE_PATTERNS:
            match = pattern.match(text)
            if match:
                try:
                    parsed = date(*(int(g) for g in match.groups()))
                except ValueError:
                    break
                if parsed.year < 1850 or parsed > date.today():
                    return self.error(key, f"日期“{text}”不合理（不能早于 1850 年或晚于今天）。")
                return parsed
        return self.error(key, f"日期“{text}”格式有误，应为 YYYY-MM-DD（如 1970-05-17）。")

    def coordinate(self, key: str, bounds: tuple[float, float], label: str) -> Any:
        """A latitude or longitude inside China's bounding box."""
        value = self.values.get(key)
        if value is REFUSED:
            return _BAD
        text = _cell_text(value)
        if not text:
            return None
        try:
            number = float(value) if isinstance(value, int | float) else float(text)
        except ValueError:
            return self.error(key, f"{label}“{text}”应为数字（如 29.80）。")
        if not math.isfinite(number) or not bounds[0] <= number <= bounds[1]:
            return self.error(key, f"{label}“{text}”超出范围，应在 {bounds[0]}～{bounds[1]} 之间。")
        return number

    def id_number(self, key: str) -> Any:
        """A GB 11643 ID number; numbers Excel has mangled are refused with a hint."""
        value = self.values.get(key)
        if value is REFUSED:
            return _BAD
        if isinstance(value, float) or (
            isinstance(value, str) and _SCIENTIFIC.match(value.strip())
        ):
            return self.error(
                key, "身份证号被存成了数字，末几位已丢失；请把该列设为文本格式后重新填写。"
            )
        text = self.text(key, required=True, max_len=32)
        if text is _BAD:
            return _BAD
        number = normalise_id_number(text.lstrip("'"))
        problem = id_number_problem(number)
        if problem:
            return self.error(key, problem + "。")
        return number


def _read_region_rows(table: Table) -> tuple[list[RegionDraft], list[RowError], set[int]]:
    spec = {c.key: c for c in REGION_COLUMNS}
    drafts: list[RegionDraft] = []
    errors: list[RowError] = []
    bad: set[int] = set()
    for row_no, values in table.rows:
        r = _RowReader(table, spec, row_no, values)
        code = r.code("code", required=True)
        name = r.text("name", required=True)
        level = r.choice("level", _LEVEL_VALUES, LEVEL_LABELS.values(), required=True)
        parent_code = r.code("parent_code")
        if level not in (_BAD, None) and level != RegionLevel.DISTRICT and parent_code is None:
            r.error("parent_code", "除区以外，必须填写上级代码。")
        if r.errors:
            errors.extend(r.errors)
            bad.add(row_no)
            continue
        drafts.append(RegionDraft(row_no, code, name, level, parent_code))
    return drafts, errors, bad


def validate_rows(parsed: ParsedRoster) -> ValidatedRoster:
    """Check every value that needs no database, and gather the rows into households."""
    table = parsed.roster
    errors: list[RowError] = list(parsed.errors)
    bad_rows = {e.row for e in parsed.errors if e.row is not None and e.sheet == table.sheet}
    households: dict[str, HouseholdDraft] = {}
    id_rows: dict[str, list[int]] = defaultdict(list)
    present = frozenset(table.columns)

    for row_no, values in table.rows:
        r = _RowReader(table, _ROSTER_BY_KEY, row_no, values)
        number = r.text("household_number", required=True, max_len=32)
        if number not in (None, _BAD) and not _HOUSEHOLD_NUMBER.match(number):
            number = r.error("household_number", "户编号只能包含汉字、字母、数字、- 和 _。")
        hh_values = _read_household_cells(r)
        member = _read_member_cells(r)
        if r.errors:
            errors.extend(r.errors)
            bad_rows.add(row_no)
        if number in (None, _BAD):
            bad_rows.add(row_no)
            continue
        household = households.get(number)
        if household is None:
            household = households[number] = HouseholdDraft(number=number, first_row=row_no)
        household.rows.append(row_no)
        _merge_household(household, hh_values, r, table, errors, bad_rows)
        if member is not None:
            household.members.append(member)
            id_rows[member.id_number].append(row_no)

    id_header = table.header("id_number", _ROSTER_BY_KEY)
    for rows in id_rows.values():
        if len(rows) < 2:
            continue
        for row in rows:
            others = "、".join(str(o) for o in rows if o != row)
            errors.append(
                RowError(
                    row, id_header, f"身份证号在文件中重复出现（第 {others} 行）。", table.sheet
                )
            )
            bad_rows.add(row)

    for household in households.values():
        _check_household(household, table, errors, bad_rows)

    regions: list[RegionDraft] = []
    bad_region_rows: set[int] = set()
    if parsed.regions is not None:
        regions, region_errors, bad_region_rows = _read_region_rows(parsed.regions)
        errors.extend(region_errors)
        bad_region_rows |= {
            e.row for e in parsed.errors if e.row is not None and e.sheet == parsed.regions.sheet
        }
        regions = [d for d in regions if d.row not in bad_region_rows]
    return ValidatedRoster(households, regions, errors, bad_rows, bad_region_rows, present)


def _read_household_cells(r: _RowReader) -> dict[str, Any]:
    """Household cells of one row; blank cells are left out so that they inherit (required
    household cells are checked once the household's rows are merged)."""
    out: dict[str, Any] = {
        "village_code": r.code("village_code"),
        "village_name": r.text("village_name"),
        "group_code": r.code("group_code"),
        "group_name": r.text("group_name"),
        "head_name": r.text("head_name"),
        "address": r.text("address", max_len=255),
        "phone": r.phone("phone"),
        "lat": r.coordinate("lat", _LAT_RANGE, "纬度"),
        "lon": r.coordinate("lon", _LON_RANGE, "经度"),
        "category": r.choice("category", _CATEGORY_VALUES, CATEGORY_LABELS.values()),
        "poverty_status": r.choice(
            "poverty_status", _POVERTY_VALUES, POVERTY_STATUS_LABELS.values()
        ),
        "monitor_type": r.choice("monitor_type", _MONITOR_VALUES, MONITOR_TYPE_LABELS.values()),
        "is_dibao": r.flag("is_dibao"),
        "is_tekun": r.flag("is_tekun"),
        "is_disabled": r.flag("is_disabled"),
        "is_monitored": r.flag("is_monitored"),
        "helper_name": r.text("helper_name"),
        "helper_phone": r.phone("helper_phone", mobile_only=True),
        "helper_start_date": r.day("helper_start_date"),
    }
    return {k: v for k, v in out.items() if v is not None}


def _read_member_cells(r: _RowReader) -> MemberDraft | None:
    """Member cells of one row, checked against the ID number; None when they are bad."""
    errors_before = len(r.errors)
    id_number = r.id_number("id_number")
    values: dict[str, Any] = {
        "name": r.text("member_name", required=True),
        "relation": r.text("relation", required=True, max_len=16),
        "schooling": r.text("schooling", max_len=32),
        "medical_insurance": r.flag("medical_insurance"),
        "serious_illness_insurance": r.flag("serious_illness_insurance"),
        "doctor_name": _none_word(r.text("doctor_name")),
        "doctor_phone": r.phone("doctor_phone"),
        "disability": _none_word(r.text("disability")),
        "chronic_illness": _none_word(r.text("chronic_illness", max_len=128)),
        "migrant_work": r.flag("migrant_work"),
    }
    sex_text = r.text("sex")
    sex = sex_text
    if sex_text not in (None, _BAD):
        sex = _SEX_VALUES.get(sex_text)
        if sex is None:
            sex = r.error("sex", f"性别“{sex_text}”无效，应为“男”或“女”。")
    birth = r.day("birth_date")
    if isinstance(id_number, str):
        id_sex, id_birth = sex_of(id_number), birth_date_of(id_number)
        if isinstance(sex, str) and sex != id_sex:
            r.error("sex", f"性别与身份证号不符（身份证号显示为{_SEX_LABELS[id_sex]}）。")
        if isinstance(birth, date) and birth != id_birth:
            r.error(
                "birth_date", f"出生日期与身份证号不符（身份证号显示为 {id_birth.isoformat()}）。"
            )
        values["sex"], values["birth_date"] = id_sex, id_birth
    if (
        len(r.errors) > errors_before
        or any(v is _BAD for v in values.values())
        or not isinstance(id_number, str)
    ):
        return None
    for key in ("medical_insurance", "serious_illness_insurance", "migrant_work"):
        if values[key] is None:
            values[key] = False
    # Only the columns the file has are written; the others keep what the database holds.
    present = r.table.columns
    attr_column = {"name": "member_name"}
    values = {
        k: v
        for k, v in values.items()
        if k in ("sex", "birth_date") or attr_column.get(k, k) in present
    }
    return MemberDraft(row=r.row, id_number=id_number, values=values)


def _none_word(value: Any) -> Any:
    return None if isinstance(value, str) and value in _NONE_WORDS else value


def _merge_household(
    household: HouseholdDraft,
    values: dict[str, Any],
    r: _RowReader,
    table: Table,
    errors: list[RowError],
    bad_rows: set[int],
) -> None:
    """Fold one row's household cells into the household; disagreeing rows are errors."""
    for key in HOUSEHOLD_KEYS:
        if key not in values:
            continue
        value = values[key]
        household.value_rows[key].append(r.row)
        if value is _BAD:
            continue
        if key not in household.values:
            household.values[key] = value
            household.first_seen[key] = r.row
        elif household.values[key] != value:
            header = table.header(key, _ROSTER_BY_KEY)
            errors.append(
                RowError(
                    r.row,
                    header,
                    f"同一户（户编号 {household.number}）的“{header}”与第 "
                    f"{household.first_seen[key]} 行不一致。",
                    table.sheet,
                )
            )
            bad_rows.add(r.row)


def _check_household(
    household: HouseholdDraft,
    table: Table,
    errors: list[RowError],
    bad_rows: set[int],
) -> None:
    """Rules across a household's fields and members."""
    v = household.values
    # Keys given on some row, even with a bad value (already reported there).
    given = household.value_rows.keys()

    def fail(key: str, message: str, rows: list[int] | None = None) -> None:
        for row in rows or household.rows_for(key):
            errors.append(RowError(row, table.header(key, _ROSTER_BY_KEY), message, table.sheet))
            bad_rows.add(row)

    for key in _REQUIRED_HOUSEHOLD_KEYS:
        if key not in given and key in table.columns:
            header = table.header(key, _ROSTER_BY_KEY)
            fail(key, f"“{header}”不能为空。", household.rows[:1])
    category = v.get("category")
    if category == HouseholdCategory.REGISTERED_POOR and "poverty_status" not in given:
        fail("poverty_status", "建档立卡贫困户须填写脱贫状态（已脱贫 / 未脱贫）。")
    if category == HouseholdCategory.MONITORED and "monitor_type" not in given:
        fail("monitor_type", "监测对象须填写监测类型。")
    if "monitor_type" in v and v.get("is_monitored") is False:
        fail("is_monitored", "填写了监测类型时，“监测”应为“是”。")
    flag_key = _CATEGORY_FLAGS.get(category or "")
    if flag_key and v.get(flag_key) is False:
        label = CATEGORY_LABELS[HouseholdCategory(category)]
        fail(flag_key, f"户类别为{label}时，此项不能为“否”。")
    if ("lat" in given) != ("lon" in given):
        fail("lon" if "lat" in given else "lat", "纬度和经度须同时填写。", household.rows)
    if ("helper_name" in given or "helper_start_date" in given) and "helper_phone" not in given:
        fail("helper_phone", "填写了帮扶人时须填写帮扶人电话。", household.rows_for("helper_name"))
    if "helper_phone" in given and "helper_name" not in given:
        fail(
            "helper_name",
            "填写了帮扶人电话时须填写帮扶人姓名。",
            household.rows_for("helper_phone"),
        )
    if "group_code" in v and "village_code" in v:
        code = _expand_group_code(v["group_code"], v["village_code"])
        if code is None:
            fail("group_code", "组代码应以村代码开头（或只填末 1～3 位）。")
        else:
            v["group_code"] = code

    heads = [m for m in household.members if m.values.get("relation") in _HEAD_RELATIONS]
    member_header = table.header("member_name", _ROSTER_BY_KEY)
    relation_header = table.header("relation", _ROSTER_BY_KEY)
    for extra in heads[1:]:
        errors.append(
            RowError(
                extra.row,
                relation_header,
                f"同一户只能有一位户主（第 {heads[0].row} 行已是户主）。",
                table.sheet,
            )
        )
        bad_rows.add(extra.row)
    head_name = v.get("head_name")
    for head in heads[:1]:
        if head_name and head.values.get("name") != head_name:
            errors.append(
                RowError(
                    head.row,
                    member_header,
                    f"户主的成员姓名应与户主姓名“{head_name}”一致。",
                    table.sheet,
                )
            )
            bad_rows.add(head.row)


def _expand_group_code(group_code: str, village_code: str) -> str | None:
    if len(group_code) <= 3:
        return village_code + group_code.zfill(3)
    if group_code.startswith(village_code) and len(group_code) > len(village_code):
        return group_code
    return None


# --------------------------------------------------------------------------------------------
# Planning against the database (reads only)


def _new_counts() -> dict[str, dict[str, int]]:
    base = {"created": 0, "updated": 0, "unchanged": 0}
    return {
        "regions": dict(base),
        "groups": dict(base),
        "households": dict(base, skipped=0),
        "members": dict(base, skipped=0, not_in_file=0),
        "helpers": dict(base),
        "assignments": dict(base),
    }


@dataclass
class _NewRegion:
    code: str
    name: str
    level: str
    parent_code: str
    path: str
    row: int | None = None


@dataclass
class _HelperRef:
    phone: str
    name: str
    user: User | None  # None: to be created


@dataclass
class _HouseholdPlan:
    draft: HouseholdDraft
    existing: Household | None
    region_code: str
    village_code: str
    region_path: str
    changes: dict[str, Any]
    members: list[tuple[MemberDraft, Member | None, dict[str, Any]]]
    helper: _HelperRef | None = None
    helper_start: date | None = None
    assignment: str | None = None  # created | updated | unchanged


@dataclass
class _Plan:
    new_regions: list[_NewRegion]
    households: list[_HouseholdPlan]
    new_helpers: dict[str, _HelperRef]
    new_grants: list[tuple[_HelperRef, str]]  # helper, village code
    counts: dict[str, dict[str, int]]
    db_regions: dict[str, Region]


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _load_regions(codes: set[str]) -> dict[str, Region]:
    found: dict[str, Region] = {}
    for chunk in _chunks(sorted(codes)):
        for region in db.session.scalars(select(Region).where(Region.code.in_(chunk))):
            found[region.code] = region
    return found


def _covers(actor: Actor | None, path: str) -> bool:
    return actor is None or actor.covers_path(path, ADMIN_ROLES)


class _Planner:
    """Resolves a validated roster against the database and decides every write."""

    def __init__(self, validated: ValidatedRoster, table: Table, actor: Actor | None):
        self.v = validated
        self.table = table
        self.actor = actor
        self.errors = validated.errors
        self.today = date.today()

    def err(self, rows: Iterable[int], key: str, message: str) -> None:
        """Record an error at each of ``rows`` under column ``key``."""
        header = self.table.header(key, _ROSTER_BY_KEY)
        for row in rows:
            self.errors.append(RowError(row, header, message, self.table.sheet))
            self.v.bad_rows.add(row)

    def plan(self, region_table: Table | None) -> _Plan:
        """Resolve regions, households, members and helpers; errors go to the roster."""
        households = list(self.v.households.values())
        codes = {r.code for r in self.v.regions} | {
            r.parent_code for r in self.v.regions if r.parent_code
        }
        for h in households:
            codes.update(c for c in (h.values.get("village_code"), h.values.get("group_code")) if c)
        self.db_regions = _load_regions(codes)
        counts = _new_counts()
        self.declared = self._plan_declared_regions(region_table, counts)
        existing = self._load_households([h.number for h in households])
        owners = self._load_member_owners([m.id_number for h in households for m in h.members])
        users = self._load_users(
            {h.values["helper_phone"] for h in households if "helper_phone" in h.values}
        )
        open_assignments = self._load_open_assignments([hh.id for hh in existing.values()])

        new_groups: dict[str, tuple[str, str, int]] = {}  # code → (name, village code, row)
        helper_names: dict[str, tuple[str, int]] = {}
        resolved: list[tuple[HouseholdDraft, str, str, str]] = []
        for h in households:
            where = self._resolve_region(h, new_groups)
            found = existing.get(h.number)
            if found is not None and not _covers(self.actor, found.region_path):
                self.err([h.first_row], "household_number", "户编号已被辖区外的农户使用。")
            for m in h.members:
                owner = owners.get(m.id_number)
                if owner is not None and owner[0] != h.number:
                    if _covers(self.actor, owner[1]):
                        message = f"身份证号已登记在其他户（户编号 {owner[0]}）的成员名下。"
                    else:
                        message = "身份证号已登记在其他户的成员名下。"
                    self.err([m.row], "id_number", message)
            self._check_helper(h, users, helper_names, found, open_assignments)
            if where is None:
                continue
            if (
                found is not None
                and "group_code" not in self.v.present
                and found.region_path.startswith(self._path_of(where[1]))
            ):
                # Without a group column, a household keeps its group inside the same village.
                own_code = found.region_path.rstrip("/").rsplit("/", 1)[-1]
                where = (own_code, where[1], found.region_path)
            resolved.append((h, *where))

        plans: list[_HouseholdPlan] = []
        new_helpers: dict[str, _HelperRef] = {}
        new_grants: list[tuple[_HelperRef, str]] = []
        grant_seen: set[tuple[str, str]] = set()
        helper_state: dict[str, str] = {}
        groups_needed: set[str] = set()
        good = {h.number for h in households if not self.v.household_is_bad(h)}
        for h, region_code, village_code, region_path in resolved:
            if h.number not in good:
                continue
            found = existing.get(h.number)
            plan = self._household_plan(h, found, region_code, village_code, region_path)
            if region_code in new_groups:
                groups_needed.add(region_code)
            helper = self._helper_plan(h, users, new_helpers, open_assignments, found, plan)
            if helper is not None:
                village_path = self._path_of(village_code)
                state = helper_state.get(helper.phone, "unchanged" if helper.user else "created")
                if helper.user is None or not any(
                    g.role == Role.HELPER and village_path.startswith(g.region.path)
                    for g in helper.user.grants
                ):
                    if (helper.phone, village_code) not in grant_seen:
                        grant_seen.add((helper.phone, village_code))
                        new_grants.append((helper, village_code))
                    if state == "unchanged":
                        state = "updated"
                helper_state[helper.phone] = state
            plans.append(plan)

        for state in helper_state.values():
            counts["helpers"][state] += 1
        new_regions = [d for d in self.declared.values() if isinstance(d, _NewRegion)]
        for code in sorted(groups_needed):
            name, village_code, row = new_groups[code]
            new_regions.append(
                _NewRegion(code, name, RegionLevel.GROUP.value, village_code, "", row)
            )
        for region in new_regions:
            if region.level == RegionLevel.GROUP:
                region.path = self._path_of(region.parent_code) + region.code + "/"
            bucket = "groups" if region.level == RegionLevel.GROUP else "regions"
            counts[bucket]["created"] += 1
        for plan in plans:
            h = plan.draft
            if plan.existing is None:
                counts["households"]["created"] += 1
            else:
                counts["households"]["updated" if plan.changes else "unchanged"] += 1
                in_file = {m.id_number for m in h.members}
                counts["members"]["not_in_file"] += sum(
                    1 for m in plan.existing.members if m.id_number not in in_file
                )
            for _draft, member, changes in plan.members:
                key = "created" if member is None else ("updated" if changes else "unchanged")
                counts["members"][key] += 1
            if plan.assignment:
                counts["assignments"][plan.assignment] += 1
        used_db_groups = {
            p.region_code
            for p in plans
            if p.region_code in self.db_regions
            and p.region_code not in self.declared
            and self.db_regions[p.region_code].level == RegionLevel.GROUP
        }
        counts["groups"]["unchanged"] += len(used_db_groups)
        bad = [h for h in households if h.number not in good]
        counts["households"]["skipped"] = len(bad)
        counts["members"]["skipped"] = sum(len(h.rows) for h in bad) + sum(
            1 for _row in self._orphan_bad_rows()
        )
        return _Plan(new_regions, plans, new_helpers, new_grants, counts, self.db_regions)

    def _orphan_bad_rows(self) -> Iterator[int]:
        grouped = {r for h in self.v.households.values() for r in h.rows}
        for row_no, _values in self.table.rows:
            if row_no not in grouped:
                yield row_no

    def _path_of(self, code: str) -> str:
        region = self.db_regions.get(code)
        if region is not None:
            return region.path
        declared = self.declared.get(code)
        if isinstance(declared, _NewRegion):
            return declared.path
        # A new group's village is always known here.
        raise KeyError(code)

    # -- regions -------------------------------------------------------------------------

    def _plan_declared_regions(
        self, table: Table | None, counts: dict[str, dict[str, int]]
    ) -> dict[str, _NewRegion | Region]:
        """Check the 地区 sheet; returns the valid regions it names, by code."""
        declared: dict[str, _NewRegion | Region] = {}
        if table is None:
            return declared
        spec = {c.key: c for c in REGION_COLUMNS}

        def fail(draft: RegionDraft, key: str, message: str) -> None:
            self.errors.append(RowError(draft.row, table.header(key, spec), message, table.sheet))
            self.v.bad_region_rows.add(draft.row)

        seen: dict[str, int] = {}
        order = {level.value: i for i, level in enumerate(LEVEL_ORDER)}
        for draft in sorted(self.v.regions, key=lambda d: (order[d.level], d.row)):
            if draft.code in seen:
                fail(draft, "code", f"地区代码与第 {seen[draft.code]} 行重复。")
                continue
            seen[draft.code] = draft.row
            existing = self.db_regions.get(draft.code)
            parent_db = self.db_regions.get(draft.parent_code or "")
            if existing is not None:
                same_parent = (existing.parent_id is None and not draft.parent_code) or (
                    parent_db is not None and existing.parent_id == parent_db.id
                )
                if existing.name != draft.name or existing.level != draft.level or not same_parent:
                    fail(
                        draft,
                        "code",
                        f"地区代码 {draft.code} 已存在（{existing.name}），"
                        "但名称、级别或上级与系统中不一致。",
                    )
                    continue
                declared[draft.code] = existing
                bucket = "groups" if existing.level == RegionLevel.GROUP else "regions"
                counts[bucket]["unchanged"] += 1
                continue
            level_index = order[draft.level]
            if draft.parent_code is None:
                parent_path, parent_level = "/", None
            else:
                parent = parent_db or declared.get(draft.parent_code)
                if parent is None:
                    fail(
                        draft,
                        "parent_code",
                        f"上级代码 {draft.parent_code} 在系统和地区表中都不存在。",
                    )
                    continue
                parent_path, parent_level = parent.path, parent.level
            expected = LEVEL_ORDER[level_index - 1].value if level_index else None
            if parent_level != expected:
                want = LEVEL_LABELS[RegionLevel(expected)] if expected else "无（区为最上级）"
                fail(
                    draft,
                    "level",
                    f"级别与上级不符：{LEVEL_LABELS[RegionLevel(draft.level)]}的上级应为{want}。",
                )
                continue
            path = parent_path + draft.code + "/"
            if not _covers(self.actor, path):
                fail(draft, "code", "该地区不在您的管辖范围内。")
                continue
            declared[draft.code] = _NewRegion(
                draft.code, draft.name, draft.level, draft.parent_code or "", path, draft.row
            )
        return declared

    def _village(self, code: str, name: str | None) -> _NewRegion | Region | None:
        region = self.db_regions.get(code) or self.declared.get(code)
        if region is None or region.level != RegionLevel.VILLAGE or region.name != name:
            return None
        return region

    def _resolve_region(
        self, h: HouseholdDraft, new_groups: dict[str, tuple[str, str, int]]
    ) -> tuple[str, str, str] | None:
        """Region code, village code and region path of a household, or None (row errors)."""
        v = h.values
        code, name = v.get("village_code"), v.get("village_name")
        if code is None or name is None:
            return None
        village = self._village(code, name)
        if village is None:
            self.err(
                h.rows_for("village_code"),
                "village_code",
                f"未知的村：系统和地区表中都没有代码为 {code}、名称为“{name}”的村。",
            )
            return None
        if not _covers(self.actor, village.path):
            self.err(h.rows_for("village_code"), "village_code", "该村不在您的管辖范围内。")
            return None
        group_code = v.get("group_code")
        if group_code is None:
            return code, code, village.path
        group_name = v.get("group_name")
        group = self.db_regions.get(group_code) or self.declared.get(group_code)
        if group is not None:
            parent_ok = (
                group.parent_code == code
                if isinstance(group, _NewRegion)
                else group.parent_id == getattr(village, "id", None)
            )
            if group.level != RegionLevel.GROUP or not parent_ok:
                self.err(
                    h.rows_for("group_code"), "group_code", f"组代码 {group_code} 不属于该村。"
                )
                return None
            if group_name is not None and group_name != group.name:
                self.err(
                    h.rows_for("group_name"),
                    "group_name",
                    f"组名称与系统中的“{group.name}”不一致。",
                )
                return None
            return group_code, code, village.path + group_code + "/"
        if group_code in new_groups:
            known_name, _village_code, known_row = new_groups[group_code]
            if group_name is not None and group_name != known_name:
                self.err(
                    h.rows_for("group_name"),
                    "group_name",
                    f"同一组代码的组名称与第 {known_row} 行不一致。",
                )
                return None
            return group_code, code, village.path + group_code + "/"
        if group_name is None:
            self.err(h.rows_for("group_code"), "group_name", "新建的组须填写组名称。")
            return None
        new_groups[group_code] = (group_name, code, h.rows_for("group_code")[0])
        return group_code, code, village.path + group_code + "/"

    # -- households and members ----------------------------------------------------------

    def _load_households(self, numbers: list[str]) -> dict[str, Household]:
        found: dict[str, Household] = {}
        for chunk in _chunks(numbers):
            query = (
                select(Household)
                .where(Household.number.in_(chunk))
                .options(selectinload(Household.members))
            )
            for household in db.session.scalars(query):
                found[household.number] = household
        return found

    def _load_member_owners(self, id_numbers: list[str]) -> dict[str, tuple[str, str]]:
        owners: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(id_numbers):
            query = (
                select(Member.id_number, Household.number, Household.region_path)
                .join(Household, Member.household_id == Household.id)
                .where(Member.id_number.in_(chunk))
            )
            for id_number, number, path in db.session.execute(query):
                owners[id_number] = (number, path)
        return owners

    def _household_plan(
        self,
        h: HouseholdDraft,
        found: Household | None,
        region_code: str,
        village_code: str,
        region_path: str,
    ) -> _HouseholdPlan:
        values = _household_attrs(h.values, self.v.present)
        changes = values if found is None else _diff(found, values)
        if found is not None and found.region_path != region_path:
            changes = dict(changes, region_path=region_path)
        by_id = {m.id_number: m for m in found.members} if found is not None else {}
        members = []
        for draft in h.members:
            member = by_id.get(draft.id_number)
            members.append(
                (draft, member, draft.values if member is None else _diff(member, draft.values))
            )
        return _HouseholdPlan(h, found, region_code, village_code, region_path, changes, members)

    # -- helpers and assignments ----------------------------------------------------------

    def _load_users(self, phones: set[str]) -> dict[str, list[User]]:
        found: dict[str, list[User]] = defaultdict(list)
        for chunk in _chunks(sorted(phones)):
            query = (
                select(User)
                .where(User.phone.in_(chunk))
                .options(selectinload(User.grants).selectinload(RoleGrant.region))
                .order_by(User.id)
            )
            for user in db.session.scalars(query):
                found[user.phone].append(user)
        return found

    def _load_open_assignments(self, household_ids: list[int]) -> dict[int, Assignment]:
        found: dict[int, Assignment] = {}
        for chunk in _chunks(household_ids):
            query = select(Assignment).where(
                Assignment.household_id.in_(chunk), Assignment.end_date.is_(None)
            )
            for assignment in db.session.scalars(query):
                found[assignment.household_id] = assignment
        return found

    def _match_user(self, phone: str, name: str, users: dict[str, list[User]]) -> User | str | None:
        """The user a helper phone names; None for a new user, or a Chinese error."""
        candidates = users.get(phone, [])
        if not candidates:
            return None
        named = [u for u in candidates if u.display_name == name]
        if not named:
            return f"帮扶人电话已登记为用户“{candidates[0].display_name}”，与帮扶人姓名不一致。"
        active = [u for u in named if u.is_active]
        if not active:
            return "帮扶人的账号已停用，请先在系统中启用。"
        if len(active) > 1:
            return "该电话对应多个同名用户，无法确定帮扶人，请先在系统中核对。"
        return active[0]

    def _check_helper(
        self,
        h: HouseholdDraft,
        users: dict[str, list[User]],
        helper_names: dict[str, tuple[str, int]],
        found: Household | None,
        open_assignments: dict[int, Assignment],
    ) -> None:
        phone, name = h.values.get("helper_phone"), h.values.get("helper_name")
        if phone is None or name is None:
            return
        known = helper_names.get(phone)
        if known is not None and known[0] != name:
            self.err(
                h.rows_for("helper_name"),
                "helper_name",
                f"同一帮扶人电话在第 {known[1]} 行对应的姓名为“{known[0]}”，与此处不一致。",
            )
            return
        helper_names.setdefault(phone, (name, h.rows_for("helper_phone")[0]))
        match = self._match_user(phone, name, users)
        if isinstance(match, str):
            self.err(h.rows_for("helper_phone"), "helper_phone", match)
            return
        current = open_assignments.get(found.id) if found is not None else None
        if current is None or (match is not None and current.helper_id == match.id):
            return
        start = h.values.get("helper_start_date") or self.today
        if start <= current.start_date:
            key = "helper_start_date" if "helper_start_date" in self.v.present else "helper_phone"
            self.err(
                h.rows_for(key),
                key,
                "更换帮扶人时，帮扶开始日期须晚于现任帮扶人的开始日期"
                f"（{current.start_date.isoformat()}）。",
            )

    def _helper_plan(
        self,
        h: HouseholdDraft,
        users: dict[str, list[User]],
        new_helpers: dict[str, _HelperRef],
        open_assignments: dict[int, Assignment],
        found: Household | None,
        plan: _HouseholdPlan,
    ) -> _HelperRef | None:
        phone, name = h.values.get("helper_phone"), h.values.get("helper_name")
        if phone is None or name is None:
            return None
        match = self._match_user(phone, name, users)
        assert not isinstance(match, str)  # ruled out while checking
        if match is None:
            helper = new_helpers.setdefault(phone, _HelperRef(phone, name, None))
        else:
            helper = _HelperRef(phone, name, match)
        current = open_assignments.get(found.id) if found is not None else None
        if current is None:
            plan.assignment = "created"
        elif match is not None and current.helper_id == match.id:
            plan.assignment = "unchanged"
        else:
            plan.assignment = "updated"
        plan.helper = helper
        plan.helper_start = h.values.get("helper_start_date") or self.today
        return helper


def _household_attrs(values: dict[str, Any], present: frozenset[str]) -> dict[str, Any]:
    """Household attributes the file sets (absent columns, blank GPS: left alone)."""
    implied = {_CATEGORY_FLAGS.get(values.get("category") or "")}
    if "monitor_type" in values:
        implied.add("is_monitored")
    out: dict[str, Any] = {}
    for attr in _HOUSEHOLD_ATTRS:
        if attr in ("lat", "lon"):
            if attr in values:
                out[attr] = values[attr]
            continue
        if attr.startswith("is_"):
            if attr in values:
                out[attr] = values[attr]
            elif attr in implied:
                out[attr] = True
            elif attr in present:
                out[attr] = False
            continue
        if attr in present:
            out[attr] = values.get(attr, "" if attr == "address" else None)
    return out


def _diff(obj: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if getattr(obj, k) != v}


# --------------------------------------------------------------------------------------------
# Writing


class _Progress(Protocol):
    def update(self, n_steps: int) -> None:
        """Advance by ``n_steps``."""


ProgressFactory = Callable[[int, str], AbstractContextManager[_Progress]]


class _NoProgress:
    def update(self, n_steps: int) -> None:
        """Ignore progress."""


def _no_progress(length: int, label: str) -> AbstractContextManager[_Progress]:
    return nullcontext(_NoProgress())


def _apply(plan: _Plan, *, actor: Actor | None, progress: ProgressFactory) -> None:
    """Write the plan: regions, households and members, helpers, then assignments.

    New rows are inserted in bulk (a town roster has thousands); changed rows go through the
    ORM so that only what differs is updated.
    """
    regions: dict[str, Region] = dict(plan.db_regions)
    order = {level.value: i for i, level in enumerate(LEVEL_ORDER)}
    for new in sorted(plan.new_regions, key=lambda r: order[r.level]):
        parent = regions[new.parent_code] if new.parent_code else None
        region = Region(code=new.code, name=new.name, level=new.level, parent=parent, path=new.path)
        db.session.add(region)
        regions[new.code] = region
    db.session.flush()

    households: dict[str, Household | int] = {}  # number → existing object, or new id
    with progress(len(plan.households), "写入农户") as bar:
        fresh = [p for p in plan.households if p.existing is None]
        for chunk in _chunks(fresh):
            rows = [
                {
                    "number": p.draft.number,
                    "region_id": regions[p.region_code].id,
                    "village_id": regions[p.village_code].id,
                    "region_path": p.region_path,
                    **p.changes,
                }
                for p in chunk
            ]
            query = insert(Household).returning(Household.id, Household.number)
            for household_id, number in db.session.execute(query, rows):
                households[number] = household_id
            bar.update(len(chunk))
        for p in plan.households:
            if p.existing is None:
                continue
            household = households[p.draft.number] = p.existing
            for key, value in p.changes.items():
                if key == "region_path":
                    household.region = regions[p.region_code]
                    household.village = regions[p.village_code]
                setattr(household, key, value)
            for _draft, member, changes in p.members:
                if member is not None:
                    for key, value in changes.items():
                        setattr(member, key, value)
            if any(member is None for _d, member, _c in p.members):
                # The bulk insert below bypasses the loaded collection.
                db.session.expire(household, ["members"])
            bar.update(1)
    new_members = [
        {"household_id": _id_of(households[p.draft.number]), "id_number": d.id_number, **changes}
        for p in plan.households
        for d, member, changes in p.members
        if member is None
    ]
    for chunk in _chunks(new_members, 1000):
        db.session.execute(insert(Member), chunk)
    db.session.flush()

    users: dict[str, User] = {}
    for phone, ref in plan.new_helpers.items():
        user = User(username=None, display_name=ref.name, phone=phone, password_hash=None)
        db.session.add(user)
        users[phone] = user
    for ref, village_code in plan.new_grants:
        user = ref.user or users[ref.phone]
        user.grants.append(RoleGrant(role=Role.HELPER.value, region=regions[village_code]))
    db.session.flush()

    # Households without an open assignment get theirs in bulk, with the audit row
    # assign_helper would write; a change of helper goes through assign_helper, which ends
    # the current assignment in the same transaction.
    first = [p for p in plan.households if p.assignment == "created"]
    changed = [p for p in plan.households if p.assignment == "updated"]
    with progress(len(first) + len(changed), "写入帮扶关系") as bar:
        for chunk in _chunks(first):
            assignments, audits = [], []
            for p in chunk:
                assert p.helper is not None and p.helper_start is not None
                household_id = _id_of(households[p.draft.number])
                helper_id = (p.helper.user or users[p.helper.phone]).id
                assignments.append(
                    {
                        "household_id": household_id,
                        "helper_id": helper_id,
                        "start_date": p.helper_start,
                        "created_by_id": actor.user_id if actor else None,
                    }
                )
                audits.append(
                    {
                        "actor_user_id": actor.user_id if actor else None,
                        "action": "assignment.changed",
                        "target_type": "household",
                        "target_id": str(household_id),
                        "ip": actor.ip if actor else None,
                        "region_path": p.region_path,
                        "detail": {
                            "helper_id": helper_id,
                            "previous_helper_id": None,
                            "start_date": p.helper_start.isoformat(),
                        },
                    }
                )
            db.session.execute(insert(Assignment), assignments)
            db.session.execute(insert(AuditLog), audits)
            bar.update(len(chunk))
        for p in changed:
            assert p.helper is not None and p.helper_start is not None
            household = households[p.draft.number]
            assert isinstance(household, Household)
            helper = p.helper.user or users[p.helper.phone]
            assign_helper(
                household=household, helper=helper, start_date=p.helper_start, actor=actor
            )
            bar.update(1)


def _id_of(household: Household | int) -> int:
    return household if isinstance(household, int) else household.id


# --------------------------------------------------------------------------------------------
# The import


def require_import_role(actor: Actor) -> None:
    """Only town admins and the district import rosters."""
    require_role(actor, ADMIN_ROLES)


def import_roster(
    *,
    data: bytes,
    file_name: str,
    actor: Actor | None,
    on_error: str = ON_ERROR_REJECT,
    dry_run: bool = False,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Validate and upsert a roster file; returns the report.

    ``actor`` None means the operator at the console (``flask hhq import-roster``), who is not
    limited to a region. A file with errors raises ``import.rejected`` (after writing only the
    ``roster.rejected`` audit row) unless ``on_error`` is ``skip``; ``dry_run`` writes nothing.
    """
    if actor is not None:
        require_import_role(actor)
    if on_error not in (ON_ERROR_REJECT, ON_ERROR_SKIP):
        raise ValueError(f"on_error must be {ON_ERROR_REJECT!r} or {ON_ERROR_SKIP!r}")
    progress = progress or _no_progress
    max_bytes = current_app.config["IMPORT_MAX_BYTES"]
    if len(data) > max_bytes:
        raise DomainError(
            "import.too_large", f"导入文件过大（不能超过 {_size_label(max_bytes)}），请分批导入。"
        )
    parsed = parse_roster(
        data,
        max_rows=current_app.config["IMPORT_MAX_ROWS"],
        max_unpacked_bytes=max_bytes * XLSX_UNPACK_FACTOR,
    )
    validated = validate_rows(parsed)
    file_level = any(e.row is None for e in validated.errors)
    if file_level:
        plan = None
        counts = _new_counts()
    else:
        plan = _Planner(validated, parsed.roster, actor).plan(parsed.regions)
        counts = plan.counts
    report = _report(
        parsed=parsed,
        validated=validated,
        counts=counts,
        file_name=file_name,
        sha256=hashlib.sha256(data).hexdigest(),
        on_error=on_error,
        dry_run=dry_run,
    )
    rejected = file_level or (validated.errors and on_error == ON_ERROR_REJECT)
    if rejected:
        report["status"] = "rejected"
        if not dry_run:
            _audit(actor, "roster.rejected", report)
            raise DomainError("import.rejected", details=report).keep()
        raise DomainError("import.rejected", details=report)
    if dry_run:
        report["status"] = "validated"
        return report
    assert plan is not None
    _apply(plan, actor=actor, progress=progress)
    report["status"] = "imported"
    _audit(actor, "roster.imported", report)
    return report


def _audit(actor: Actor | None, action: str, report: dict[str, Any]) -> None:
    record_event(
        actor=actor,
        action=action,
        subject=(report["file_name"] or "")[:128] or None,
        target_type="roster",
        target_id=report["sha256"][:64],
        detail={
            "file_name": report["file_name"],
            "sha256": report["sha256"],
            "format": report["format"],
            "encoding": report["encoding"],
            "on_error": report["on_error"],
            "rows": report["rows"],
            "bad_rows": report["bad_rows"],
            "error_count": report["errors_total"],
            "counts": report["counts"],
        },
    )


def _report(
    *,
    parsed: ParsedRoster,
    validated: ValidatedRoster,
    counts: dict[str, dict[str, int]],
    file_name: str,
    sha256: str,
    on_error: str,
    dry_run: bool,
) -> dict[str, Any]:
    sheet_order = {parsed.regions.sheet if parsed.regions else REGION_SHEET: 0}
    errors = sorted(
        set(validated.errors),
        key=lambda e: (
            e.row is not None,
            sheet_order.get(e.sheet, 1),
            e.row or 0,
            ROSTER_HEADERS.index(e.column) if e.column in ROSTER_HEADERS else 99,
            e.message,
        ),
    )
    bad_rows = {(e.sheet, e.row) for e in errors if e.row is not None}
    return {
        "status": "",
        "dry_run": dry_run,
        "on_error": on_error,
        "file_name": file_name,
        "sha256": sha256,
        "format": parsed.format,
        "encoding": parsed.encoding,
        "rows": len(parsed.roster.rows),
        "bad_rows": len(bad_rows),
        "counts": counts,
        "errors": [e.as_dict() for e in errors[:MAX_REPORTED_ERRORS]],
        "errors_total": len(errors),
        "warnings": parsed.warnings,
    }


def _size_label(size: int) -> str:
    return f"{size / 1024 / 1024:g} MB" if size >= 1024 * 1024 else f"{size} 字节"


# --------------------------------------------------------------------------------------------
# Templates


def require_template_access(actor: Actor) -> None:
    """Any signed-in staff member may download the templates."""
    require_authenticated(actor)


def roster_template_csv() -> bytes:
    """The shipped CSV template (UTF-8 with BOM, so that Excel opens it right)."""
    return TEMPLATE_CSV_PATH.read_bytes()


def roster_template_xlsx() -> bytes:
    """An XLSX template built from the CSV one: 花名册, an empty 地区 sheet and 说明."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    text = roster_template_csv().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    book = Workbook()
    sheet = book.active
    sheet.title = ROSTER_SHEET
    bold = Font(bold=True)
    required_fill = PatternFill("solid", fgColor="FFF2CC")
    text_columns = {"village_code", "group_code", "household_number", "phone", "id_number"}
    text_columns |= {"doctor_phone", "helper_phone"}
    header = rows[0]
    for row in rows:
        sheet.append(row)
    for index, name in enumerate(header, start=1):
        column = next((c for c in ROSTER_COLUMNS if c.header == name), None)
        cell = sheet.cell(row=1, column=index)
        cell.font = bold
        if column is not None and column.required:
            cell.fill = required_fill
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(10, len(name) * 2 + 4)
        if column is not None and column.key in text_columns:
            # Text format keeps ID numbers and phones from turning into rounded numbers.
            for r in range(2, 1001):
                sheet.cell(row=r, column=index).number_format = "@"
    sheet.column_dimensions[get_column_letter(ROSTER_HEADERS.index("身份证号") + 1)].width = 22
    sheet.freeze_panes = "A2"

    regions = book.create_sheet(REGION_SHEET)
    regions.append([c.header for c in REGION_COLUMNS])
    for index in range(1, len(REGION_COLUMNS) + 1):
        regions.cell(row=1, column=index).font = bold
        regions.column_dimensions[get_column_letter(index)].width = 18
        for r in range(2, 201):
            regions.cell(row=r, column=index).number_format = "@"

    notes = book.create_sheet(NOTES_SHEET)
    notes.append(["列名", "是否必填", "说明"])
    for index in range(1, 4):
        notes.cell(row=1, column=index).font = bold
    for column in ROSTER_COLUMNS:
        notes.append([column.header, "必填" if column.required else "", column.note])
    notes.append([])
    for line in TEMPLATE_NOTES:
        notes.append([line])
    notes.column_dimensions["A"].width = 16
    notes.column_dimensions["B"].width = 10
    notes.column_dimensions["C"].width = 60
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


TEMPLATE_NOTES = (
    "每位家庭成员一行；同一户的户信息（村、组、户编号、户主姓名等）在该户每一行重复填写，至少每行都要填户编号。",
    "按户编号和身份证号更新已有数据；同一文件重复导入不会产生变化。文件中没有的成员不会被删除。",
    "村须已在系统中，或在“地区”工作表中登记（代码、名称、级别、上级代码）；新的组会自动建立。",
    "请勿使用公式；身份证号、电话、代码列请设为文本格式。示例行为虚构数据，导入前请删除。",
)
