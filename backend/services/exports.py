"""Ledger exports (台账): households, problems, visits and coverage as XLSX or CSV, and households
as GeoJSON, streamed with flat memory however many rows there are.

``prepare_export`` does everything that can fail (kind and format, who may export what, the
region, the role's row limit, unmasking) and writes the audit rows, inside the request's
transaction; only then are rows read, in batches (server-side cursors on PostgreSQL), and
written out:

- CSV: UTF-8 with a BOM (so Excel opens Chinese), Chinese headers, flushed every few hundred rows;
- XLSX: an openpyxl write-only workbook (rows go to a temporary file as they are appended;
  strings are inline, so no shared-strings table grows), saved into a spooled temporary file
  and sent in chunks;
- GeoJSON: a FeatureCollection written feature by feature.

``write_export`` is the same pipeline writing into any binary file-like object (used by
``scripts/bench/dashboard.py`` to measure the peak RSS of a large export).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from tempfile import SpooledTemporaryFile
from typing import IO, Any
from urllib.parse import quote

from flask import current_app
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Assignment,
    Household,
    Member,
    Office,
    Problem,
    Region,
    ReviewStatus,
    Role,
    User,
    Visit,
    VisitCheck,
    utcnow,
)
from backend.models.household import (
    CATEGORY_LABELS,
    MONITOR_TYPE_LABELS,
    POVERTY_STATUS_LABELS,
)
from backend.services import pii
from backend.services.audit import record_event
from backend.services.authenticity import FLAG_TITLES
from backend.services.authz import PII_ROLES, REGION_ROLES, Actor, require_authenticated
from backend.services.clock import CHINA_TZ, china_today
from backend.services.periods import Period, parse_period
from backend.services.problem_machine import OPEN_STATES, STATUS_LABELS
from backend.services.regions import get_region
from backend.services.review import REVIEW_STATUS_LABELS, optional_period

KIND_FORMATS = {
    "households": ("xlsx", "csv", "geojson"),
    "problems": ("xlsx", "csv"),
    "visits": ("xlsx", "csv"),
    "coverage": ("xlsx", "csv"),
}
KIND_TITLES = {
    "households": "农户台账",
    "problems": "问题台账",
    "visits": "走访台账",
    "coverage": "走访覆盖汇总",
}
# Who may export each kind; each role's reach is its usual scope (offices: their office's
# problems; helpers: their own households and visits).
_STAFF = frozenset(Role)
KIND_ROLES = {
    "households": frozenset(_STAFF - {Role.OFFICE}),
    "problems": _STAFF,
    "visits": frozenset(_STAFF - {Role.OFFICE}),
    "coverage": frozenset({Role.VILLAGE_CADRE, Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT}),
}
MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
}
BATCH_ROWS = 1000
CHUNK_BYTES = 64 * 1024
# Characters XML 1.0 (and so XLSX) cannot hold.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Cells Excel would run as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class ExportJob:
    """A prepared export: checked, counted and audited; ``chunks()`` produces the bytes."""

    kind: str
    fmt: str
    title: str
    filename: str
    headers: list[str]
    row_count: int
    rows: Callable[[], Iterator[tuple]]
    widths: list[int] = field(default_factory=list)
    features: Callable[[], Iterator[dict]] | None = None

    @property
    def mimetype(self) -> str:
        """The response's content type."""
        return MIMETYPES[self.fmt]

    @property
    def content_disposition(self) -> str:
        """An attachment header with an ASCII fallback and the Chinese name (RFC 6266)."""
        ascii_name = f"{self.kind}.{self.fmt}"
        return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(self.filename)}"

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes, a chunk at a time."""
        if self.fmt == "csv":
            return _csv_chunks(self)
        if self.fmt == "xlsx":
            return _xlsx_chunks(self)
        return _geojson_chunks(self)


# --- writers -----------------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_chunks(job: ExportJob) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(job.headers)
    for n, row in enumerate(job.rows(), start=1):
        writer.writerow([_csv_cell(v) for v in row])
        if n % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _xlsx_chunks(job: ExportJob) -> Iterator[bytes]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=job.title[:31])
    for index, width in enumerate(job.widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in job.headers:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)

    def _cell(value: Any) -> Any:
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, str):
            value = _ILLEGAL_XML.sub("", value)
            if value.startswith("="):
                # openpyxl would store it as a formula; keep it text.
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                return cell
        return value

    for row in job.rows():
        sheet.append([_cell(v) for v in row])
    with SpooledTemporaryFile(max_size=current_app.config["EXPORT_SPOOL_BYTES"]) as spool:
        workbook.save(spool)
        spool.seek(0)
        while chunk := spool.read(CHUNK_BYTES):
            yield chunk


def _geojson_chunks(job: ExportJob) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    parts: list[str] = []
    first = True
    for feature in job.features():
        parts.append(("" if first else ",") + json.dumps(feature, ensure_ascii=False))
        first = False
        if len(parts) >= 500:
            yield "".join(parts).encode("utf-8")
            parts.clear()
    parts.append("]}")
    yield "".join(parts).encode("utf-8")


# --- formatting helpers -----------------------------------------------------------------------


def _china(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _stream(statement) -> Iterator[Any]:
    # yield_per turns on server-side cursors on PostgreSQL: rows arrive a batch at a time.
    return iter(db.session.execute(statement, execution_options={"yield_per": BATCH_ROWS}))


def _label(labels: dict, value: str | None) -> str | None:
    if value is None:
        return None
    return labels.get(value, value)


# --- scope -------------------------------------------------------------------------------------


@dataclass
class _Scope:
    """What one export covers: a region subtree, or (for a helper) their own households."""

    roles: frozenset[Role]
    region: Region | None
    helper: User | None
    label: str

    def households(self):
        """A WHERE clause over ``Household`` for this scope."""
        if self.region is not None:
            return Household.region_path.startswith(self.region.path, autoescape=True)
        return Household.id.in_(
            select(Assignment.household_id).where(
                Assignment.helper_id == self.helper.id, Assignment.end_date.is_(None)
            )
        )

    def status_scope(self):
        """The same scope for the 户户清 status query (``services/household_status.py``)."""
        from backend.services import coverage

        if self.region is not None:
            return coverage.Scope(kind=self.region.level, region=self.region)
        return coverage.Scope(kind="helper", helper=self.helper)


def _resolve_scope(actor: Actor, kind: str, region_id: int | None) -> _Scope:
    roles = frozenset(r for r in actor.roles if r in KIND_ROLES[kind])
    if not roles:
        raise DomainError("export.forbidden", "您的角色不能导出此类台账。")
    region_roles = roles & REGION_ROLES
    if region_id is None:
        if not region_roles:
            helper = db.session.get(User, actor.user_id)
            return _Scope(roles, None, helper, f"{helper.display_name}帮扶户")
        # The broadest grant, as the coverage view does; pass region_id for another one.
        path = min(actor.paths_for(region_roles), key=len)
        region = db.session.scalar(select(Region).where(Region.path == path))
        return _Scope(region_roles, region, None, region.name)
    region = get_region(actor=actor, region_id=region_id)
    if not region_roles:
        # A helper reaches households, not places: no village, town or district export.
        raise DomainError(
            "export.forbidden",
            "帮扶责任人只能导出本人帮扶的农户，不能导出村、镇的数据。",
            details={"region_id": region_id},
        )
    if not actor.covers_path(region.path, region_roles):
        raise DomainError("export.forbidden", details={"region_id": region_id})
    return _Scope(region_roles, region, None, region.name)


def _row_limit(roles: Iterable[Role]) -> int:
    limits = current_app.config["EXPORT_MAX_ROWS_BY_ROLE"]
    return max((int(limits.get(str(r), 0)) for r in roles), default=0)


# --- kinds -------------------------------------------------------------------------------------


@dataclass
class _Spec:
    headers: list[str]
    widths: list[int]
    count: Callable[[], int]
    rows: Callable[[], Iterator[tuple]]
    features: Callable[[], Iterator[dict]] | None = None
    pii_fields: tuple[str, ...] = ()


def _households_spec(
    actor: Actor, scope: _Scope, *, period: Period, category: str | None, unmask: bool, fmt: str
) -> _Spec:
    from backend.services import coverage, household_status

    reference_day = period.reference_day(china_today())
    status = household_status.status_query(
        period=period,
        scope=scope.status_scope(),
        category=category,
        pending_counts=coverage.count_pending(),
        as_of=period.as_of(utcnow()),
        reference_day=reference_day,
    )
    h = Household
    group = aliased(Region)
    village = aliased(Region)
    helper = aliased(User)
    where = [h.lat.is_not(None), h.lon.is_not(None)] if fmt == "geojson" else []
    head_id_number = (
        select(Member.id_number)
        .where(Member.household_id == h.id, Member.relation == "户主")
        .order_by(Member.id)
        .limit(1)
        .scalar_subquery()
    )
    # The ledger's "latest check results" is the latest valid visit up to the period's end,
    # even from an earlier month; whether the period counts as visited is in the status.
    latest_visit_id = (
        select(Visit.id)
        .where(
            Visit.household_id == h.id,
            Visit.review_status != ReviewStatus.INVALID,
            Visit.ended_at < period.end_utc,
        )
        .order_by(Visit.ended_at.desc(), Visit.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    latest = aliased(Visit)
    failed_labels = (
        select(func.aggregate_strings(VisitCheck.label, "、"))
        .where(VisitCheck.visit_id == latest.id, VisitCheck.passed.is_(False))
        .scalar_subquery()
    )
    open_problems = (
        select(func.count(Problem.id))
        .where(Problem.household_id == h.id, Problem.status.in_(sorted(OPEN_STATES)))
        .scalar_subquery()
    )
    statement = (
        select(
            h.id,
            h.number,
            h.head_name,
            head_id_number,
            h.phone,
            village.name,
            group.name,
            h.region_id,
            h.village_id,
            h.address,
            h.category,
            h.poverty_status,
            h.monitor_type,
            helper.display_name,
            latest.ended_at,
            latest.failed_check_count,
            failed_labels,
            open_problems,
            status.c.visited,
            status.c.open_checks,
            status.c.open_reports,
            status.c.cleared,
            h.lat,
            h.lon,
        )
        .select_from(status)
        .join(h, h.id == status.c.id)
        .join(village, village.id == h.village_id)
        .join(group, group.id == h.region_id)
        .outerjoin(helper, helper.id == status.c.helper_id)
        .outerjoin(latest, latest.id == latest_visit_id)
        .where(*where)
        .order_by(status.c.region_path, status.c.number, status.c.id)
    )
    count_query = select(func.count(h.id)).where(scope.households(), *where)
    if category:
        count_query = count_query.where(h.category == category)

    def _decode(row) -> dict[str, Any]:
        (hid, number, head, id_number, phone, village_name, group_name, region_id) = row[:8]
        (village_id, address, category_, poverty, monitor, helper_name) = row[8:14]
        (visited_at, failed_count, failed, problems) = row[14:18]
        (visited, open_checks, open_reports, cleared, lat, lon) = row[18:]
        reasons = [
            code
            for code, present in (
                (household_status.NOT_VISITED, not visited),
                (household_status.FAILING_CHECKS_OPEN, open_checks),
                (household_status.OPEN_REPORTS, open_reports),
            )
            if present
        ]
        return {
            "id": hid,
            "number": number,
            "head_name": head if unmask else pii.mask_name(head),
            "id_number": id_number if unmask else pii.mask_id_number(id_number),
            "phone": phone if unmask else pii.mask_phone(phone),
            "village": village_name,
            "group": group_name if region_id != village_id else None,
            "address": address,
            "category": _label(CATEGORY_LABELS, category_),
            "poverty_status": _label(POVERTY_STATUS_LABELS, poverty),
            "monitor_type": _label(MONITOR_TYPE_LABELS, monitor),
            "helper": helper_name,
            "visited_at": visited_at,
            "failed_count": failed_count,
            "failed": failed,
            "open_problems": int(problems or 0),
            "cleared": bool(cleared),
            "status_label": household_status.STATUS_LABELS[bool(cleared)],
            "reasons": reasons,
            "reasons_label": "；".join(household_status.REASON_LABELS[r] for r in reasons),
            "lat": lat,
            "lon": lon,
        }

    def rows() -> Iterator[tuple]:
        for row in _stream(statement):
            h_ = _decode(row)
            if h_["visited_at"] is None:
                result = "无走访记录"
            elif h_["failed_count"]:
                result = f"未通过{h_['failed_count']}项"
            else:
                result = "全部通过"
            yield (
                h_["number"],
                h_["head_name"],
                h_["id_number"],
                h_["phone"],
                h_["village"],
                h_["group"],
                h_["address"],
                h_["category"],
                h_["poverty_status"],
                h_["monitor_type"],
                h_["helper"],
                _china(h_["visited_at"]),
                result,
                h_["failed"] or "",
                h_["open_problems"],
                h_["status_label"],
                h_["reasons_label"],
            )

    def features() -> Iterator[dict]:
        for row in _stream(statement):
            h_ = _decode(row)
            yield {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [h_["lon"], h_["lat"]]},
                "properties": {
                    "id": h_["id"],
                    "number": h_["number"],
                    "head_name": h_["head_name"],
                    "village": h_["village"],
                    "group": h_["group"],
                    "category": h_["category"],
                    "helper": h_["helper"],
                    "status": "cleared" if h_["cleared"] else "not_cleared",
                    "status_label": h_["status_label"],
                    "reasons": h_["reasons"],
                    "open_problems": h_["open_problems"],
                    "last_visit_at": _china(h_["visited_at"]),
                },
            }

    return _Spec(
        headers=[
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
            f"户户清状态（{period.label}）",
            "未清原因",
        ],
        widths=[16, 10, 21, 14, 10, 8, 24, 14, 9, 14, 10, 17, 16, 36, 12, 18, 36],
        count=lambda: db.session.scalar(count_query),
        rows=rows,
        features=features,
        pii_fields=("head_name", "id_number", "phone"),
    )


def _problem_scope(actor: Actor, scope: _Scope):
    from backend.services.problem_queries import problem_scope

    clause = problem_scope(actor)
    if scope.region is not None:
        clause = and_(clause, Problem.region_path.startswith(scope.region.path, autoescape=True))
    return clause


def _problems_spec(
    actor: Actor,
    scope: _Scope,
    *,
    statuses: list[str],
    office: str | None,
    area: str | None,
    window: Period | None,
    unmask: bool,
) -> _Spec:
    from backend.services.problem_queries import SOURCE_LABELS, area_labels, overdue_clause

    village = aliased(Region)
    where = [_problem_scope(actor, scope)]
    if statuses:
        where.append(Problem.status.in_(statuses))
    if office:
        where.append(Problem.office_code == office)
    if area:
        where.append(Problem.area == area)
    if window is not None:
        where.append(Problem.opened_at >= window.start_utc)
        where.append(Problem.opened_at < window.end_utc)
    now = utcnow()
    statement = (
        select(
            Problem.id,
            Office.name,
            Problem.area,
            Problem.status,
            village.name,
            Household.number,
            Household.head_name,
            Problem.source,
            Problem.title,
            Problem.description,
            Problem.deadline_at,
            case((overdue_clause(now), True), else_=False),
            Problem.escalation_level,
            Problem.opened_at,
            Problem.closed_at,
        )
        .join(Household, Household.id == Problem.household_id)
        .join(village, village.id == Problem.village_id)
        .join(Office, Office.code == Problem.office_code)
        .where(*where)
        .order_by(Problem.office_code, Problem.area, Problem.status, Problem.id)
    )
    areas = area_labels()

    def rows() -> Iterator[tuple]:
        for row in _stream(statement):
            (pid, office_name, area_, status, village_name, number, head, source) = row[:8]
            title, description, deadline, overdue, level, opened, closed = row[8:]
            yield (
                pid,
                office_name,
                areas.get(area_, area_),
                STATUS_LABELS.get(status, status),
                village_name,
                number,
                head if unmask else pii.mask_name(head),
                SOURCE_LABELS.get(source, source),
                title,
                description,
                _china(deadline),
                bool(overdue),
                level,
                _china(opened),
                _china(closed),
            )

    return _Spec(
        headers=[
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
        ],
        widths=[10, 22, 14, 10, 10, 16, 10, 12, 30, 40, 17, 9, 9, 17, 17],
        count=lambda: db.session.scalar(
            select(func.count(Problem.id))
            .join(Household, Household.id == Problem.household_id)
            .where(*where)
        ),
        rows=rows,
        pii_fields=("head_name",),
    )


def _visits_spec(
    actor: Actor,
    scope: _Scope,
    *,
    window: Period,
    helper_id: int | None,
    unmask: bool,
) -> _Spec:
    village = aliased(Region)
    group = aliased(Region)
    helper = aliased(User)
    households = select(Household.id).where(scope.households())
    where = [Visit.household_id.in_(households)]
    if helper_id is not None:
        where.append(Visit.helper_id == helper_id)
    where.append(Visit.ended_at >= window.start_utc)
    where.append(Visit.ended_at < window.end_utc)
    statement = (
        select(
            Visit.id,
            Visit.ended_at,
            Visit.started_at,
            village.name,
            group.name,
            Household.region_id,
            Household.village_id,
            Household.number,
            Household.head_name,
            helper.display_name,
            Visit.gps_lat,
            Visit.gps_lon,
            Visit.gps_accuracy,
            Visit.distance_m,
            Visit.failed_check_count,
            Visit.flags,
            Visit.review_status,
            Visit.review_note,
        )
        .join(Household, Household.id == Visit.household_id)
        .join(village, village.id == Household.village_id)
        .join(group, group.id == Household.region_id)
        .join(helper, helper.id == Visit.helper_id)
        .where(*where)
        .order_by(Visit.ended_at, Visit.id)
    )

    def rows() -> Iterator[tuple]:
        for row in _stream(statement):
            (vid, ended, started, village_name, group_name, region_id, village_id) = row[:7]
            number, head, helper_name, lat, lon, accuracy, distance, failed = row[7:15]
            flags, review_status, review_note = row[15:]
            yield (
                vid,
                _china(ended),
                round((ended - started).total_seconds() / 60, 1),
                village_name,
                group_name if region_id != village_id else None,
                number,
                head if unmask else pii.mask_name(head),
                helper_name,
                lat,
                lon,
                accuracy,
                round(distance) if distance is not None else None,
                failed,
                "、".join(FLAG_TITLES.get(f.get("code"), f.get("code")) for f in flags or []),
                REVIEW_STATUS_LABELS.get(review_status, review_status),
                review_note,
            )

    return _Spec(
        headers=[
            "走访编号",
            "走访时间",
            "走访时长（分钟）",
            "村",
            "组",
            "户编号",
            "户主姓名",
            "走访人",
            "定位纬度",
            "定位经度",
            "定位精度（米）",
            "距农户（米）",
            "未通过检查项数",
            "异常标记",
            "审核结果",
            "审核说明",
        ],
        widths=[10, 17, 10, 10, 8, 16, 10, 10, 11, 11, 10, 10, 10, 36, 9, 30],
        count=lambda: db.session.scalar(select(func.count(Visit.id)).where(*where)),
        rows=rows,
        pii_fields=("head_name",),
    )


def _coverage_spec(actor: Actor, scope: _Scope, *, period: Period, category: str | None) -> _Spec:
    from backend.services import coverage, household_status

    region_id = scope.region.id if scope.region is not None else None
    report = coverage.get_coverage(
        actor=actor,
        period=period,
        region_id=region_id,
        category=category,
        not_visited_page_size=1,
    )
    # 户户清 per row where the status roll-up has the same rows (villages of a town, groups of
    # a village); a district's rows are towns, which it does not sum.
    by = {"town": "village", "village": "group", "group": "group"}.get(report["scope"])
    cleared: dict[int | str, dict] = {}
    if by is not None:
        rollup = household_status.status_rollup(
            actor=actor, period=period, by=by, region_id=region_id, category=category
        )
        cleared = {r["region_id"]: r for r in rollup["rows"]}
        cleared["total"] = rollup["total"]
    lines = [(row, cleared.get(row.get("region_id"))) for row in report["rows"]]
    lines.append((report["total"], cleared.get("total")))

    def rows() -> Iterator[tuple]:
        for row, status in lines:
            yield (
                row["label"],
                row["households"],
                row["visited"],
                row["not_visited"],
                row["coverage_pct"],
                row["visits"],
                row["flagged_visits"],
                row["invalid_visits"],
                status["cleared"] if status else None,
                status["cleared_pct"] if status else None,
            )

    return _Spec(
        headers=[
            "地区",
            "农户数",
            "已走访户数",
            "未走访户数",
            "走访覆盖率（%）",
            "有效走访次数",
            "异常走访次数",
            "无效走访次数",
            "户户清户数",
            "户户清率（%）",
        ],
        widths=[20, 10, 12, 12, 16, 14, 14, 14, 12, 14],
        count=lambda: len(lines),
        rows=rows,
    )


# --- the pipeline ------------------------------------------------------------------------------


def prepare_export(
    *,
    actor: Actor,
    kind: str,
    fmt: str,
    region_id: int | None = None,
    period: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    category: str | None = None,
    status: list[str] | None = None,
    office: str | None = None,
    area: str | None = None,
    helper_id: int | None = None,
    unmask: bool = False,
) -> ExportJob:
    """Check, count and audit one export; the returned job streams it."""
    require_authenticated(actor)
    if kind not in KIND_FORMATS or fmt not in KIND_FORMATS[kind]:
        raise DomainError(
            "export.unknown",
            details={"kinds": {k: list(v) for k, v in KIND_FORMATS.items()}},
        )
    scope = _resolve_scope(actor, kind, region_id)
    if unmask and not (scope.roles & PII_ROLES):
        raise DomainError("auth.forbidden", "您的角色不能查看完整的个人信息。")
    # Problems span any time unless asked; the other ledgers are of one period (this month).
    if kind == "problems":
        window = optional_period(period=period, date_from=date_from, date_to=date_to)
    else:
        window = parse_period(period=period, start=date_from, end=date_to)
    if kind == "households":
        spec = _households_spec(
            actor, scope, period=window, category=category, unmask=unmask, fmt=fmt
        )
    elif kind == "problems":
        spec = _problems_spec(
            actor,
            scope,
            statuses=status or [],
            office=office,
            area=area,
            window=window,
            unmask=unmask,
        )
    elif kind == "visits":
        spec = _visits_spec(actor, scope, window=window, helper_id=helper_id, unmask=unmask)
    else:
        spec = _coverage_spec(actor, scope, period=window, category=category)
    rows = spec.count()
    limit = _row_limit(scope.roles)
    if rows > limit:
        raise DomainError(
            "export.too_large",
            f"导出数据共{rows}行，超出您的角色上限{limit}行，请按村或时间缩小范围后再导出。",
            details={"rows": rows, "limit": limit},
        )
    filters = {
        key: value
        for key, value in {
            "region_id": region_id,
            "period": window.key if window is not None else None,
            "category": category,
            "status": status or None,
            "office": office,
            "area": area,
            "helper_id": helper_id,
        }.items()
        if value is not None
    }
    unmasked = bool(unmask and spec.pii_fields)
    record_event(
        actor=actor,
        action=f"export.{kind}",
        target_type="export",
        target_id=f"{kind}.{fmt}",
        detail={"format": fmt, "rows": rows, "filters": filters, "unmask": unmasked},
    )
    if unmasked:
        record_event(
            actor=actor,
            action="pii.read",
            target_type="export",
            target_id=f"{kind}.{fmt}",
            detail={"fields": list(spec.pii_fields), "via": "export", "rows": rows, **filters},
        )
    title = KIND_TITLES[kind]
    stamp = window.key if window is not None else utcnow().astimezone(CHINA_TZ).strftime("%Y%m%d")
    return ExportJob(
        kind=kind,
        fmt=fmt,
        title=title,
        filename=f"{title}_{scope.label}_{stamp}.{fmt}",
        headers=spec.headers,
        widths=spec.widths,
        row_count=rows,
        rows=spec.rows,
        features=spec.features,
    )


def write_export(*, actor: Actor, kind: str, fmt: str, out: IO[bytes], **filters: Any) -> int:
    """Write one export into ``out`` (any binary file-like object); returns its row count."""
    job = prepare_export(actor=actor, kind=kind, fmt=fmt, **filters)
    for chunk in job.chunks():
        out.write(chunk)
    return job.row_count
