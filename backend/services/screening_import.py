"""Screening lists (部门大数据筛查比对) and village reports (村级上报) → problems.

A town admin uploads a CSV or XLSX with one row per person or household. Headers are Chinese
(English aliases in brackets are accepted too); ``*`` marks the required ones:

  身份证号 (id_number) or 户编号 (household_number)  one of them on every row; when both are
                                                     given they must name the same household
  类别* (area)        an area of the routing table, by code (``medical``) or label (基本医疗,
                      or one part of a compound label such as 临时救助), or the check key of a
                      check-level routing row (``basic_medical_insurance``)
  说明 (note)         what the bureau or the village found
  责任单位 (office)   office code or name; blank means the routing table's lead office
  姓名 (name)         optional, kept in the report only to help people match rows

Parsing reuses the roster importer (encodings, XLSX reading, size and row limits, formulas
refused), so both imports read files the same way.

Entry status: both sources enter at ``town_review``. A data-screening row comes from another
bureau, so no village has accepted it, yet the town must still judge it before assigning an
office. A village report is the village's own list: the village has already accepted and
investigated what it lists, so putting it back at ``accepted`` would make the cadres submit
again what they have just sent up. The town reviews and assigns either kind.

Partial imports: unlike the roster (all or nothing), good rows become problems even when other
rows fail. Screening lists come from other bureaus' databases and only partly match the town's
registry; refusing a whole list over one stale ID number would stop the work on all the others.
A whole-file problem (not CSV/XLSX, too big, required columns missing) still imports nothing.

Every row ends as ``created`` (a new problem), ``linked_existing`` (an open problem with the
same dedup key, e.g. from an earlier import of the same list, or the open visit-check problem
of the same check), ``unknown`` (ID number or household number not in the registry; listed
back, never dropped) or ``error`` (bad checksum, unknown area, outside the importer's region…).
Dedup keys are ``screening:<area or check>:m<member id>`` for a person and
``screening:<area or check>:household`` for a household, so re-importing a file opens nothing
new while its problems are open. The report is stored on the ``screening_imports`` row, with
ID numbers masked: the row number locates a person in the uploader's own file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Household,
    Member,
    Office,
    Problem,
    ProblemSource,
    ProblemStatus,
    Role,
    RoutingRule,
    ScreeningImport,
    User,
)
from backend.services import pii
from backend.services import problems as problem_service
from backend.services.audit import record_event
from backend.services.authz import ADMIN_ROLES, Actor, require_role
from backend.services.refs import user_ref
from backend.services.roster_import import (
    _BAD,
    NOTES_SHEET,
    XLSX_UNPACK_FACTOR,
    Column,
    RowError,
    Table,
    _RowReader,
    _size_label,
    detect_format,
    open_workbook,
    read_csv_table,
    read_sheet_table,
)
from backend.services.visit_problems import check_dedup_key

TEMPLATE_CSV_PATH = Path(__file__).resolve().parent.parent / "data" / "screening_template.csv"
SCREENING_SHEET = "筛查名单"
SOURCES = (ProblemSource.DATA_SCREENING, ProblemSource.VILLAGE_REPORT)
SOURCE_LABELS = {
    ProblemSource.DATA_SCREENING: "部门大数据筛查比对",
    ProblemSource.VILLAGE_REPORT: "村级上报",
}
ENTRY_STATUS = {
    ProblemSource.DATA_SCREENING: ProblemStatus.TOWN_REVIEW,
    ProblemSource.VILLAGE_REPORT: ProblemStatus.TOWN_REVIEW,
}
IMPORT_ROLES = ADMIN_ROLES
READ_ROLES = ADMIN_ROLES | {Role.INSPECTOR}

CREATED = "created"
LINKED = "linked_existing"
UNKNOWN = "unknown"
ERROR = "error"
OUTCOME_LABELS = {
    CREATED: "已立项",
    LINKED: "已有同类问题",
    UNKNOWN: "系统中未找到",
    ERROR: "有错误",
}

SCREENING_COLUMNS: tuple[Column, ...] = (
    Column(
        "id_number",
        "身份证号",
        False,
        ("身份证号码", "公民身份号码", "证件号码", "id_number"),
        "18 位，请设为文本格式；与户编号至少填一项",
    ),
    Column(
        "household_number",
        "户编号",
        False,
        ("户编码", "户号", "household_number"),
        "与身份证号至少填一项",
    ),
    Column("area", "类别", True, ("问题类别", "area"), "如 基本医疗、住房安全，或类别代码"),
    Column("note", "说明", False, ("问题说明", "情况说明", "备注", "note"), "发现的具体问题"),
    Column("office", "责任单位", False, ("office",), "不填则交类别的默认责任单位"),
    Column("name", "姓名", False, ("name",), "仅用于核对，可不填"),
)
_SPEC = {c.key: c for c in SCREENING_COLUMNS}
_LABEL_SPLIT = re.compile(r"[/／、]")


# --------------------------------------------------------------------------------------------
# Reading the file


@dataclass
class ParsedList:
    """A screening file read into rows, before any lookup."""

    format: str  # "csv" | "xlsx"
    encoding: str | None
    table: Table
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_screening_file(
    data: bytes, *, max_rows: int, max_unpacked_bytes: int | None = None
) -> ParsedList:
    """Read a CSV (any common encoding) or XLSX screening list into rows."""
    errors: list[RowError] = []
    notes: list[str] = []
    options = {
        "columns": SCREENING_COLUMNS,
        "min_known": 2,
        "max_rows": max_rows,
        "seen_rows": [0],
        "errors": errors,
        "warnings_out": notes,
    }
    if not data.strip():
        errors.append(RowError(None, None, "文件为空。"))
        return ParsedList("csv", None, Table(None, 0, {}, []), errors, notes)
    if detect_format(data) == "csv":
        encoding, table = read_csv_table(data, **options)
        return ParsedList("csv", encoding, table, errors, notes)
    with open_workbook(data, max_unpacked_bytes=max_unpacked_bytes) as book:
        names = [n for n in book.sheets if n != NOTES_SHEET]
        sheet = SCREENING_SHEET if SCREENING_SHEET in names else (names or [None])[0]
        if sheet is None:
            errors.append(RowError(None, None, "工作簿中没有名单工作表。"))
            return ParsedList("xlsx", None, Table(None, 0, {}, []), errors, notes)
        table = read_sheet_table(book, sheet, **options)
    return ParsedList("xlsx", None, table, errors, notes)


# --------------------------------------------------------------------------------------------
# Vocabulary: areas and offices the rows may name


@dataclass
class _Vocabulary:
    areas: dict[str, tuple[str, str | None]]  # what a row may write → (area, check key)
    area_labels: dict[str, str]
    offices: dict[str, str]  # code or name → code
    office_names: dict[str, str]

    @classmethod
    def load(cls) -> _Vocabulary:
        rules = db.session.scalars(select(RoutingRule).order_by(RoutingRule.id)).all()
        areas: dict[str, tuple[str, str | None]] = {}
        labels: dict[str, str] = {}
        for rule in rules:
            if rule.check_key:
                areas[rule.check_key] = (rule.area, rule.check_key)
                continue
            labels[rule.area] = rule.area_label
            areas[rule.area] = areas[rule.area_label] = (rule.area, None)
            for part in _LABEL_SPLIT.split(rule.area_label):
                areas.setdefault(part.strip(), (rule.area, None))
        offices: dict[str, str] = {}
        names: dict[str, str] = {}
        for office in db.session.scalars(select(Office).order_by(Office.code)):
            names[office.code] = office.name
            offices[office.code] = offices[office.name] = office.code
            offices.setdefault(office.name.removeprefix("镇"), office.code)
        return cls(areas, labels, offices, names)


# --------------------------------------------------------------------------------------------
# Rows


@dataclass
class _Row:
    """One data row: what it says, what it matched, and how it ended."""

    sheet: str | None
    row: int
    id_number: str | None = None
    household_number: str | None = None
    name: str | None = None
    note: str = ""
    area: str | None = None
    check_key: str | None = None
    office_code: str | None = None
    member: Member | None = None
    household: Household | None = None
    outcome: str = ""
    problem_id: int | None = None
    problem_status: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, outcome: str, column: str | None, message: str) -> None:
        """End the row as ``outcome`` with a Chinese message about ``column``."""
        self.outcome = outcome
        self.messages.append({"column": column, "message": message})

    def report(self, vocabulary: _Vocabulary) -> dict[str, Any]:
        """The JSON form of the row (ID numbers masked)."""
        household = self.household
        return {
            "sheet": self.sheet,
            "row": self.row,
            "outcome": self.outcome,
            "outcome_label": OUTCOME_LABELS[self.outcome],
            "id_number": pii.mask_id_number(self.id_number),
            "household_number": self.household_number
            or (household.number if household is not None else None),
            "name": self.name,
            "household_id": household.id if household is not None else None,
            "member_id": self.member.id if self.member is not None else None,
            "area": self.area,
            "area_label": vocabulary.area_labels.get(self.area or ""),
            "check_key": self.check_key,
            "office_code": self.office_code,
            "problem_id": self.problem_id,
            "problem_status": self.problem_status,
            "messages": self.messages,
        }


def _read_row(
    table: Table,
    row_no: int,
    values: dict[str, Any],
    vocabulary: _Vocabulary,
    refused: list[RowError],
) -> _Row:
    """Check the cells that need no registry lookup; ``refused`` are errors found in parsing."""
    r = _RowReader(table, _SPEC, row_no, values)
    row = _Row(sheet=table.sheet, row=row_no)
    if values.get("id_number") not in (None, ""):
        id_number = r.id_number("id_number")
        row.id_number = id_number if id_number is not _BAD else None
    number = r.text("household_number", max_len=32)
    row.household_number = number if number is not _BAD else None
    name = r.text("name", max_len=64)
    row.name = name if name is not _BAD else None
    note = r.text("note", max_len=500)
    row.note = note if isinstance(note, str) else ""
    area = r.text("area", required=True, max_len=64)
    if isinstance(area, str):
        found = vocabulary.areas.get(area) or vocabulary.areas.get(area.lower())
        if found is None:
            choices = "、".join(vocabulary.area_labels.values())
            r.error("area", f"类别“{area}”无效，应为以下之一：{choices}。")
        else:
            row.area, row.check_key = found
    office = r.text("office", max_len=64)
    if isinstance(office, str):
        row.office_code = vocabulary.offices.get(office)
        if row.office_code is None:
            choices = "、".join(vocabulary.office_names.values())
            r.error("office", f"责任单位“{office}”不存在，应为以下之一：{choices}。")
    if not (r.errors or refused) and row.id_number is None and row.household_number is None:
        r.error("id_number", "身份证号和户编号至少填写一项。")
    for error in [*refused, *r.errors]:
        row.fail(ERROR, error.column, error.message)
    return row


def _lookup(rows: list[_Row]) -> None:
    """Attach the registered member and household of every row that names one."""
    ids = {r.id_number for r in rows if r.id_number and not r.outcome}
    numbers = {r.household_number for r in rows if r.household_number and not r.outcome}
    members: dict[str, Member] = {}
    households: dict[str, Household] = {}
    id_list, number_list = sorted(ids), sorted(numbers)
    for start in range(0, len(id_list), 500):
        query = (
            select(Member)
            .where(Member.id_number.in_(id_list[start : start + 500]))
            .options(selectinload(Member.household))
        )
        members.update({m.id_number: m for m in db.session.scalars(query)})
    for start in range(0, len(number_list), 500):
        query = select(Household).where(Household.number.in_(number_list[start : start + 500]))
        households.update({h.number: h for h in db.session.scalars(query)})
    for row in rows:
        if row.outcome:
            continue
        id_header = _SPEC["id_number"].header
        if row.id_number:
            row.member = members.get(row.id_number)
            if row.member is None:
                row.fail(UNKNOWN, id_header, "系统中没有该身份证号的人员，请核实后补录或反馈。")
                continue
            row.household = row.member.household
            if row.household_number and row.household_number != row.household.number:
                row.member = row.household = None
                row.fail(
                    ERROR,
                    id_header,
                    f"该身份证号的人员不属于户编号“{row.household_number}”的农户。",
                )
        else:
            row.household = households.get(row.household_number or "")
            if row.household is None:
                row.fail(
                    UNKNOWN,
                    _SPEC["household_number"].header,
                    f"系统中没有户编号为“{row.household_number}”的农户，请核实。",
                )


# --------------------------------------------------------------------------------------------
# The import


def screening_dedup_key(*, area: str, check_key: str | None, member_id: int | None) -> str:
    """The dedup key of a screening row's problem: per person, or per household."""
    subject = f"m{member_id}" if member_id is not None else "household"
    return f"screening:{check_key or area}:{subject}"


def import_screening(
    *, actor: Actor, data: bytes, file_name: str, source: str = ProblemSource.DATA_SCREENING
) -> dict[str, Any]:
    """Turn every good row of a screening list into a problem; returns the per-row report."""
    require_role(actor, IMPORT_ROLES)
    if source not in SOURCES:
        raise DomainError("request.validation", fields={"form": {"source": ["来源取值无效。"]}})
    max_bytes = current_app.config["IMPORT_MAX_BYTES"]
    if len(data) > max_bytes:
        raise DomainError(
            "import.too_large", f"导入文件过大（不能超过 {_size_label(max_bytes)}），请分批导入。"
        )
    parsed = parse_screening_file(
        data,
        max_rows=current_app.config["IMPORT_MAX_ROWS"],
        max_unpacked_bytes=max_bytes * XLSX_UNPACK_FACTOR,
    )
    table = parsed.table
    file_errors = [e for e in parsed.errors if e.row is None]
    if table.columns and not {"id_number", "household_number"} & set(table.columns):
        file_errors.append(RowError(None, None, "缺少“身份证号”或“户编号”列，至少需要其中一列。"))
    if file_errors:
        message = "".join(e.message for e in file_errors) + "未导入任何数据。"
        raise DomainError(
            "import.rejected",
            message,
            details={"file_name": file_name, "errors": [e.as_dict() for e in file_errors]},
        )

    vocabulary = _Vocabulary.load()
    cell_errors: dict[int, list[RowError]] = {}
    for error in parsed.errors:
        cell_errors.setdefault(error.row or 0, []).append(error)
    rows = [
        _read_row(table, row_no, values, vocabulary, cell_errors.get(row_no, []))
        for row_no, values in table.rows
    ]
    _lookup(rows)

    paths = actor.paths_for(IMPORT_ROLES)
    record = ScreeningImport(
        source=source,
        filename=file_name[:255],
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=actor.user_id,
        region_path=min(paths, key=len),
    )
    db.session.add(record)
    db.session.flush()
    # Unlike the roster, bad rows do not stop the good ones: another bureau's list only partly
    # matches the registry, and every row it could match is work the town must start now.
    for row in rows:
        if not row.outcome:
            _open_row_problem(actor, record, row, vocabulary)

    counts = {key: sum(1 for r in rows if r.outcome == key) for key in OUTCOME_LABELS}
    record.row_count = len(rows)
    record.created_count = counts[CREATED]
    record.linked_count = counts[LINKED]
    record.unknown_count = counts[UNKNOWN]
    record.error_count = counts[ERROR]
    record.rows = [r.report(vocabulary) for r in rows]
    db.session.flush()
    record_event(
        actor=actor,
        action="screening.imported",
        subject=file_name[:128] or None,
        target_type="screening_import",
        target_id=record.id,
        detail={"source": source, "sha256": record.sha256, "counts": counts},
    )
    view = screening_import_view(record, db.session.get(User, actor.user_id))
    view.update(format=parsed.format, encoding=parsed.encoding, warnings=parsed.warnings)
    return view


def _open_row_problem(
    actor: Actor, record: ScreeningImport, row: _Row, vocabulary: _Vocabulary
) -> None:
    household = row.household
    assert household is not None and row.area is not None
    if not actor.covers_path(household.region_path, IMPORT_ROLES):
        # Say nothing about a household outside the importer's region beyond that.
        row.member = row.household = None
        column = _SPEC["id_number" if row.id_number else "household_number"].header
        row.fail(ERROR, column, "该户不在您的管辖范围内，未导入。")
        return
    if row.check_key:
        visit_problem = problem_service.find_open_problem(
            household_id=household.id, dedup_key=check_dedup_key(row.check_key)
        )
        if visit_problem is not None:
            _link(row, visit_problem)
            return
    member = row.member
    label = vocabulary.area_labels.get(row.area, row.area)
    source_label = SOURCE_LABELS[record.source]
    who = f"涉及成员：{member.name}（{member.relation}）。" if member is not None else ""
    problem, created = problem_service.open_problem(
        household=household,
        area=row.area,
        check_key=row.check_key,
        source=record.source,
        title=f"{label}：{row.note}" if row.note else f"{label}（{source_label}）",
        description=f"{row.note or source_label}{'。' if row.note else ''}{who}"
        f"（{source_label}：{record.filename} 第 {row.row} 行）",
        dedup_key=screening_dedup_key(
            area=row.area, check_key=row.check_key, member_id=member.id if member else None
        ),
        office_code=row.office_code,
        status=ENTRY_STATUS[record.source],
        actor=actor,
        source_import_id=record.id,
        data={"import_id": record.id, "row": row.row, "member_id": member.id if member else None},
    )
    if created:
        row.outcome = CREATED
        row.problem_id, row.problem_status = problem.id, problem.status
        row.office_code = problem.office_code
    else:
        _link(row, problem)


def _link(row: _Row, problem: Problem) -> None:
    row.outcome = LINKED
    row.problem_id, row.problem_status = problem.id, problem.status
    row.office_code = problem.office_code
    row.messages.append(
        {"column": None, "message": f"该户已有未销号的同类问题（编号 {problem.id}）。"}
    )


# --------------------------------------------------------------------------------------------
# Reading imports back


def screening_import_view(record: ScreeningImport, uploader: User | None) -> dict[str, Any]:
    """An import's summary, counts and per-row report."""
    return {
        "id": record.id,
        "source": record.source,
        "source_label": SOURCE_LABELS.get(record.source, record.source),
        "file_name": record.filename,
        "sha256": record.sha256,
        "uploaded_by": user_ref(uploader),
        "created_at": record.created_at,
        "counts": {
            "rows": record.row_count,
            CREATED: record.created_count,
            LINKED: record.linked_count,
            UNKNOWN: record.unknown_count,
            ERROR: record.error_count,
        },
        "rows": record.rows,
    }


def _scope(actor: Actor):
    return or_(
        *[
            ScreeningImport.region_path.startswith(p, autoescape=True)
            for p in actor.paths_for(READ_ROLES)
        ]
    )


def list_screening_imports(
    *, actor: Actor, source: str | None = None, page: int = 1, page_size: int = 50
) -> dict[str, Any]:
    """Imports made in the actor's region, newest first (without their rows)."""
    require_role(actor, READ_ROLES)
    query = select(ScreeningImport).where(_scope(actor))
    if source:
        query = query.where(ScreeningImport.source == source)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(
        query.add_columns(User)
        .join(User, User.id == ScreeningImport.uploaded_by_id)
        .order_by(ScreeningImport.created_at.desc(), ScreeningImport.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    items = []
    for record, uploader in rows:
        item = screening_import_view(record, uploader)
        del item["rows"]
        items.append(item)
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def get_screening_import(*, actor: Actor, import_id: int) -> dict[str, Any]:
    """One import with its per-row report; 404 outside the actor's region."""
    require_role(actor, READ_ROLES)
    record = db.session.scalar(
        select(ScreeningImport).where(ScreeningImport.id == import_id, _scope(actor))
    )
    if record is None:
        raise DomainError("screening.not_found")
    return screening_import_view(record, db.session.get(User, record.uploaded_by_id))


# --------------------------------------------------------------------------------------------
# Templates


def screening_template_csv() -> bytes:
    """The shipped CSV template (UTF-8 with BOM, so that Excel opens it right)."""
    return TEMPLATE_CSV_PATH.read_bytes()


def screening_template_xlsx() -> bytes:
    """An XLSX template: the 筛查名单 sheet (text-formatted ID columns) and a 说明 sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    lines = list(csv.reader(io.StringIO(screening_template_csv().decode("utf-8-sig"))))
    book = Workbook()
    sheet = book.active
    sheet.title = SCREENING_SHEET
    for line in lines:
        sheet.append(line)
    for index, header in enumerate(lines[0], start=1):
        sheet.cell(row=1, column=index).font = Font(bold=True)
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = 22 if header in ("身份证号", "说明") else 14
        if header in ("身份证号", "户编号"):
            # Text format keeps 18-digit ID numbers from turning into rounded numbers.
            for r in range(2, 1001):
                sheet.cell(row=r, column=index).number_format = "@"
    vocabulary = _Vocabulary.load()
    notes = book.create_sheet(NOTES_SHEET)
    notes.append(["列名", "是否必填", "说明"])
    for column in SCREENING_COLUMNS:
        notes.append([column.header, "必填" if column.required else "", column.note])
    notes.append([])
    notes.append(["类别可填", "、".join(vocabulary.area_labels.values())])
    notes.append(["责任单位可填", "、".join(vocabulary.office_names.values())])
    notes.append(["示例行为虚构数据，导入前请删除。同一名单重复导入不会重复立项。"])
    notes.column_dimensions["A"].width = 14
    notes.column_dimensions["C"].width = 50
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
