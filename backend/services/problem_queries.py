"""Reading problems in the caller's scope, transitions on behalf of a caller, the routing table.

Who sees a problem (one rule for lists, detail, counts and transitions):
- an office: the problems routed to its own office, inside the region of its grant;
- a village cadre, a town admin, an inspector, the district: every problem in their region;
- a helper: the problems of the households currently assigned to them.
Anything else answers ``problem.not_found``, so ids outside the scope reveal nothing.

A problem is *overdue* when it is still waiting for someone to act (an open state other than
rectified or verified, which wait on the verifier, not on the office) and its deadline passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import selectinload

from backend.errors import DomainError
from backend.extensions import db
from backend.models import (
    Assignment,
    Household,
    Office,
    Photo,
    Problem,
    ProblemEvent,
    ProblemSource,
    ProblemStatus,
    Region,
    Report,
    Role,
    RoutingRule,
    Visit,
    utcnow,
)
from backend.models.office import STANDARD_OFFICES
from backend.models.user import ROLE_LABELS
from backend.services import pii
from backend.services import problems as problem_service
from backend.services.audit import record_event
from backend.services.authz import Actor, require_role
from backend.services.photos import photo_urls
from backend.services.problem_machine import (
    OPEN_STATES,
    STATUS_LABELS,
    SYSTEM,
    TRANSITIONS,
    allowed_transitions,
)
from backend.services.refs import group_name

STAFF_ROLES = frozenset(Role)
# Roles that reach every problem of their region (offices are narrowed to their office).
_REGION_ROLES = frozenset({Role.VILLAGE_CADRE, Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT})

# Rectified and verified problems wait on the verifier; their office is not late.
OVERDUE_STATES = frozenset(OPEN_STATES - {ProblemStatus.RECTIFIED, ProblemStatus.VERIFIED})

SOURCE_LABELS = {
    ProblemSource.VISIT_CHECK: "走访核查",
    ProblemSource.VILLAGER_REPORT: "农户主动反映",
    ProblemSource.VILLAGE_REPORT: "村级上报",
    ProblemSource.DATA_SCREENING: "部门数据筛查",
    ProblemSource.SPOT_CHECK: "抽查核验",
}

# Timeline entries that are not transitions of the machine.
_EVENT_LABELS = {
    "open": "发现问题",
    "merged_in": "合并重复问题",
    "verification_offered": "后续走访复核通过",
    "report_linked": "农户再次反映",
    "escalated": "逾期督办",
}

_SYSTEM_ROLE_LABEL = "系统"

_AREA_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CHECK_KEY_RE = re.compile(r"^([a-z][a-z0-9_]{0,63})?$")
# The catch-all rule: route_for falls back to it, so it must keep its key.
_CATCH_ALL = ("other", "")


def action_label(action: str) -> str:
    """The Chinese label of a timeline action."""
    transition = TRANSITIONS.get(action)
    if transition is not None:
        return transition.label
    return _EVENT_LABELS.get(action, action)


def role_label(role: str | None) -> str | None:
    """The Chinese label of the role an actor acted in."""
    if role is None:
        return None
    if role == SYSTEM:
        return _SYSTEM_ROLE_LABEL
    try:
        return ROLE_LABELS[Role(role)]
    except ValueError:
        return role


# --- scope --------------------------------------------------------------------------------------


def problem_scope(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause selecting the problems ``actor`` may see."""
    clauses: list[ColumnElement[bool]] = []
    for grant in actor.grants:
        in_region = Problem.region_path.startswith(grant.region_path, autoescape=True)
        if grant.role == Role.OFFICE:
            if grant.office_code:
                clauses.append(and_(Problem.office_code == grant.office_code, in_region))
        elif grant.role in _REGION_ROLES:
            clauses.append(in_region)
    if actor.has_role(Role.HELPER) and actor.user_id is not None:
        assigned = select(Assignment.household_id).where(
            Assignment.helper_id == actor.user_id, Assignment.end_date.is_(None)
        )
        clauses.append(Problem.household_id.in_(assigned))
    return or_(*clauses) if clauses else false()


def load_problem_for(*, actor: Actor, problem_id: int) -> Problem:
    """Fetch a problem the actor may see, or ``problem.not_found``."""
    require_role(actor, STAFF_ROLES)
    problem = db.session.scalar(
        select(Problem).where(Problem.id == problem_id, problem_scope(actor))
    )
    if problem is None:
        raise DomainError("problem.not_found")
    return problem


def overdue_clause(now: datetime | None = None) -> ColumnElement[bool]:
    """A WHERE clause selecting overdue problems."""
    return and_(
        Problem.status.in_(sorted(OVERDUE_STATES)),
        Problem.deadline_at.is_not(None),
        Problem.deadline_at < (now or utcnow()),
    )


def is_overdue(problem: Problem, now: datetime | None = None) -> bool:
    """True when the problem waits on someone whose deadline has passed."""
    return (
        problem.status in OVERDUE_STATES
        and problem.deadline_at is not None
        and problem.deadline_at < (now or utcnow())
    )


# --- lists and detail ---------------------------------------------------------------------------


def _office_names() -> dict[str, str]:
    return dict(db.session.execute(select(Office.code, Office.name)).all())


def area_labels() -> dict[str, str]:
    """Area → label, from the routing table's area rows."""
    return dict(
        db.session.execute(
            select(RoutingRule.area, RoutingRule.area_label).where(RoutingRule.check_key == "")
        ).all()
    )


def _region_names(ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    return dict(
        db.session.execute(select(Region.id, Region.name).where(Region.id.in_(wanted))).all()
    )


class _Labels:
    """Names looked up once per request for a page of problems."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.offices = _office_names()
        self.areas = area_labels()
        self.villages = _region_names(p.village_id for p in problems)


def _item(actor: Actor, problem: Problem, labels: _Labels, now: datetime, *, mask: bool) -> dict:
    household = problem.household
    return {
        "id": problem.id,
        "household_id": problem.household_id,
        "household_number": household.number,
        "head_name": pii.mask_name(household.head_name) if mask else household.head_name,
        "village": {"id": problem.village_id, "name": labels.villages.get(problem.village_id)},
        "area": problem.area,
        "area_label": labels.areas.get(problem.area, problem.area),
        "check_key": problem.check_key,
        "office_code": problem.office_code,
        "office_name": labels.offices.get(problem.office_code, problem.office_code),
        "source": problem.source,
        "source_label": SOURCE_LABELS.get(problem.source, problem.source),
        "title": problem.title,
        "description": problem.description,
        "status": problem.status,
        "status_label": STATUS_LABELS.get(problem.status, problem.status),
        "deadline_at": problem.deadline_at,
        "overdue": is_overdue(problem, now),
        "escalation_level": problem.escalation_level,
        "opened_at": problem.opened_at,
        "closed_at": problem.closed_at,
        "updated_at": problem.updated_at,
        "allowed_actions": allowed_transitions(
            problem.status, problem_service.acting_roles(actor, problem)
        ),
        "verification_visit_id": problem.verification_visit_id,
    }


def list_problems(
    *,
    actor: Actor,
    status: Sequence[str] | None = None,
    office: str | None = None,
    area: str | None = None,
    village_id: int | None = None,
    source: str | None = None,
    overdue: bool | None = None,
    household_id: int | None = None,
    q: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the problems the actor may see, newest first; head names masked."""
    require_role(actor, STAFF_ROLES)
    now = utcnow()
    query = select(Problem).where(problem_scope(actor))
    if status:
        query = query.where(Problem.status.in_(list(status)))
    if office:
        query = query.where(Problem.office_code == office)
    if area:
        query = query.where(Problem.area == area)
    if village_id is not None:
        query = query.where(Problem.village_id == village_id)
    if source:
        query = query.where(Problem.source == source)
    if overdue is not None:
        clause = overdue_clause(now)
        query = query.where(clause if overdue else ~clause)
    if household_id is not None:
        query = query.where(Problem.household_id == household_id)
    if q:
        numbers = select(Household.id).where(Household.number.contains(q, autoescape=True))
        query = query.where(
            or_(
                Problem.title.contains(q, autoescape=True),
                Problem.description.contains(q, autoescape=True),
                Problem.household_id.in_(numbers),
            )
        )
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list(
        db.session.scalars(
            query.options(selectinload(Problem.household))
            .order_by(Problem.opened_at.desc(), Problem.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
    )
    labels = _Labels(rows)
    return [_item(actor, p, labels, now, mask=True) for p in rows], total


def _photo_view(photo: Photo) -> dict[str, Any]:
    urls = photo_urls(photo)
    return {
        "id": photo.id,
        "purpose": photo.purpose,
        "thumb_url": urls["thumb"],
        "display_url": urls["display"],
        "created_at": photo.created_at,
    }


def get_problem(*, actor: Actor, problem_id: int) -> dict[str, Any]:
    """One problem with its full timeline, photos (signed links) and linked reports."""
    return problem_detail(actor=actor, problem=load_problem_for(actor=actor, problem_id=problem_id))


def problem_detail(*, actor: Actor, problem: Problem) -> dict[str, Any]:
    """The detail view of a problem the caller was already allowed to load."""
    now = utcnow()
    labels = _Labels([problem])
    detail = _item(actor, problem, labels, now, mask=False)
    events = list(
        db.session.scalars(
            select(ProblemEvent)
            .where(ProblemEvent.problem_id == problem.id)
            .order_by(ProblemEvent.id)
        )
    )
    wanted = {int(i) for i in problem.photo_ids or []}
    for event in events:
        wanted.update(int(i) for i in event.photo_ids or [])
    photos = {
        p.id: p
        for p in db.session.scalars(
            select(Photo).where(or_(Photo.id.in_(wanted), Photo.problem_id == problem.id))
        )
    }
    views = {photo_id: _photo_view(photo) for photo_id, photo in sorted(photos.items())}
    household = problem.household
    detail.update(
        household={
            "id": household.id,
            "number": household.number,
            "head_name": household.head_name,
            "address": household.address,
            "village_name": household.village.name,
            "group_name": group_name(household),
        },
        source_visit_id=problem.source_visit_id,
        merged_into_id=problem.merged_into_id,
        reopen_count=problem.reopen_count,
        timeline=[
            {
                "id": e.id,
                "action": e.action,
                "action_label": action_label(e.action),
                "from_status": e.from_status,
                "to_status": e.to_status,
                "to_status_label": STATUS_LABELS.get(e.to_status, e.to_status),
                "actor_label": e.actor_label,
                "actor_role": e.actor_role,
                "actor_role_label": role_label(e.actor_role),
                "note": e.note,
                "photos": [views[int(i)] for i in e.photo_ids or [] if int(i) in views],
                "data": e.data or {},
                "created_at": e.created_at,
            }
            for e in events
        ],
        photos=list(views.values()),
        reports=[
            {
                "id": r.id,
                "receipt_code": r.receipt_code,
                "channel": r.channel,
                "description": r.description,
                "linked": r.linked,
                "created_at": r.created_at,
            }
            for r in db.session.scalars(
                select(Report).where(Report.problem_id == problem.id).order_by(Report.id)
            )
        ],
    )
    return detail


# --- transitions ----------------------------------------------------------------------------------


def transition_problem_for(
    *,
    actor: Actor,
    problem_id: int,
    action: str,
    note: str = "",
    photo_ids: Sequence[int] = (),
    office_code: str | None = None,
    target_problem_id: int | None = None,
    visit_id: int | None = None,
) -> dict[str, Any]:
    """Make ``action`` on a problem the actor may see; answer its detail afterwards."""
    problem = load_problem_for(actor=actor, problem_id=problem_id)
    if visit_id is not None:
        visit_household = db.session.scalar(select(Visit.household_id).where(Visit.id == visit_id))
        if visit_household != problem.household_id:
            raise DomainError(
                "problem.transition_invalid",
                fields={"json": {"visit_id": ["请选择该户的一次走访。"]}},
            )
    problem_service.transition_problem(
        actor=actor,
        problem=problem,
        action=action,
        note=note,
        photo_ids=photo_ids,
        office_code=office_code,
        target_problem_id=target_problem_id,
        visit_id=visit_id,
    )
    return problem_detail(actor=actor, problem=problem)


# --- counts -------------------------------------------------------------------------------------


def _office_order(codes: Iterable[str]) -> list[str]:
    standard = [code for code, _ in STANDARD_OFFICES]
    return sorted(
        set(codes), key=lambda c: (standard.index(c) if c in standard else len(standard), c)
    )


def count_problems(
    *, actor: Actor, by: str, area: str | None = None, source: str | None = None
) -> dict[str, Any]:
    """Problems by office × status or village × status, with open and overdue counts."""
    require_role(actor, STAFF_ROLES)
    if by not in ("office", "village"):
        raise DomainError(
            "request.validation", fields={"query": {"by": ["应为 office 或 village。"]}}
        )
    key = Problem.office_code if by == "office" else Problem.village_id
    filters = [problem_scope(actor)]
    if area:
        filters.append(Problem.area == area)
    if source:
        filters.append(Problem.source == source)
    counts: dict[Any, dict[str, int]] = {}
    for row_key, status, n in db.session.execute(
        select(key, Problem.status, func.count()).where(*filters).group_by(key, Problem.status)
    ):
        counts.setdefault(row_key, {})[status] = n
    overdue = dict(
        db.session.execute(
            select(key, func.count()).where(*filters, overdue_clause()).group_by(key)
        ).all()
    )

    if by == "office":
        names = _office_names()
        own = {g.office_code for g in actor.grants if g.role == Role.OFFICE and g.office_code}
        sees_all = any(g.role in _REGION_ROLES for g in actor.grants)
        keys = _office_order(set(counts) | (set(names) if sees_all else own))
        labels = {k: names.get(k, k) for k in keys}
    else:
        paths = [
            g.region_path for g in actor.grants if g.role in _REGION_ROLES or g.role == Role.OFFICE
        ]
        villages = {}
        if paths:
            villages = {
                r.id: (r.code, r.name)
                for r in db.session.scalars(
                    select(Region).where(
                        Region.level == "village",
                        or_(*(Region.path.startswith(p, autoescape=True) for p in paths)),
                    )
                )
            }
        missing = set(counts) - set(villages)
        if missing:
            villages.update(
                {
                    r.id: (r.code, r.name)
                    for r in db.session.scalars(select(Region).where(Region.id.in_(missing)))
                }
            )
        keys = sorted(villages, key=lambda k: villages[k][0])
        labels = {k: villages[k][1] for k in keys}

    rows = [_count_row(counts.get(k, {}), overdue.get(k, 0), key=k, label=labels[k]) for k in keys]
    total_by: dict[str, int] = {}
    for by_status in counts.values():
        for status, n in by_status.items():
            total_by[status] = total_by.get(status, 0) + n
    total = _count_row(total_by, sum(overdue.values()))
    return {
        "by": by,
        "rows": rows,
        "total": total,
        "statuses": [{"status": s, "label": STATUS_LABELS[s]} for s in ProblemStatus.ALL],
    }


def _count_row(
    by_status: dict[str, int], overdue: int, *, key: Any = None, label: str | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "by_status": {s: by_status.get(s, 0) for s in ProblemStatus.ALL},
        "open": sum(n for s, n in by_status.items() if s in OPEN_STATES),
        "overdue": overdue,
        "total": sum(by_status.values()),
    }
    if label is not None:
        row = {"key": str(key), "label": label, **row}
    return row


# --- the routing table --------------------------------------------------------------------------


def list_problem_areas(*, actor: Actor) -> list[dict[str, str]]:
    """The areas of the routing table with their labels, for pickers."""
    require_role(actor, STAFF_ROLES)
    return [
        {"area": area, "label": label}
        for area, label in db.session.execute(
            select(RoutingRule.area, RoutingRule.area_label)
            .where(RoutingRule.check_key == "")
            .order_by(RoutingRule.id)
        )
    ]


def _rule_view(rule: RoutingRule, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": rule.id,
        "area": rule.area,
        "check_key": rule.check_key,
        "area_label": rule.area_label,
        "office_codes": list(rule.office_codes),
        "offices": [{"code": c, "name": names.get(c, c)} for c in rule.office_codes],
        "deadline_days": rule.deadline_days,
        "updated_by_id": rule.updated_by_id,
        "updated_at": rule.updated_at,
    }


def list_routing_rules(*, actor: Actor) -> list[dict[str, Any]]:
    """The routing table: area (and optionally a check) → responsible offices, days to rectify."""
    require_role(actor, STAFF_ROLES)
    names = _office_names()
    rules = db.session.scalars(
        select(RoutingRule).order_by(RoutingRule.area, RoutingRule.check_key)
    )
    return [_rule_view(r, names) for r in rules]


def _validated_rule(
    *,
    area: str,
    check_key: str,
    area_label: str,
    office_codes: Sequence[str],
    deadline_days: int,
    rule_id: int | None,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    area = (area or "").strip()
    check_key = (check_key or "").strip()
    area_label = (area_label or "").strip()
    if not _AREA_RE.match(area):
        errors["area"] = ["类别代码应为小写字母开头的字母、数字或下划线，不超过32个字符。"]
    if not _CHECK_KEY_RE.match(check_key):
        errors["check_key"] = ["检查项代码应为小写字母开头的字母、数字或下划线，或留空。"]
    if not area_label or len(area_label) > 64:
        errors["area_label"] = ["请填写类别名称（不超过64个字）。"]
    codes = [str(c).strip() for c in office_codes or []]
    known = set(_office_names())
    if not codes:
        errors["office_codes"] = ["请至少选择一个责任单位。"]
    elif len(set(codes)) != len(codes):
        errors["office_codes"] = ["责任单位不能重复。"]
    elif unknown := [c for c in codes if c not in known]:
        errors["office_codes"] = [f"责任单位不存在：{'、'.join(unknown)}。"]
    if not isinstance(deadline_days, int) or not 1 <= deadline_days <= 365:
        errors["deadline_days"] = ["整改期限应为1至365天。"]
    if errors:
        raise DomainError("routing.invalid", fields={"json": errors})
    clash = db.session.scalar(
        select(RoutingRule.id).where(RoutingRule.area == area, RoutingRule.check_key == check_key)
    )
    if clash is not None and clash != rule_id:
        raise DomainError("routing.conflict", details={"id": clash})
    return {
        "area": area,
        "check_key": check_key,
        "area_label": area_label,
        "office_codes": codes,
        "deadline_days": deadline_days,
    }


def _snapshot(rule: RoutingRule) -> dict[str, Any]:
    return {
        "area": rule.area,
        "check_key": rule.check_key,
        "area_label": rule.area_label,
        "office_codes": list(rule.office_codes),
        "deadline_days": rule.deadline_days,
    }


def create_routing_rule(
    *,
    actor: Actor,
    area: str,
    area_label: str,
    office_codes: Sequence[str],
    deadline_days: int,
    check_key: str = "",
) -> dict[str, Any]:
    """Add a routing rule (town admins); audited."""
    require_role(actor, {Role.TOWN_ADMIN})
    values = _validated_rule(
        area=area,
        check_key=check_key,
        area_label=area_label,
        office_codes=office_codes,
        deadline_days=deadline_days,
        rule_id=None,
    )
    rule = RoutingRule(**values, updated_by_id=actor.user_id, updated_at=utcnow())
    db.session.add(rule)
    db.session.flush()
    record_event(
        actor=actor,
        action="routing_rule.create",
        target_type="routing_rule",
        target_id=rule.id,
        detail={"after": _snapshot(rule)},
    )
    return _rule_view(rule, _office_names())


def update_routing_rule(
    *,
    actor: Actor,
    rule_id: int,
    area: str,
    area_label: str,
    office_codes: Sequence[str],
    deadline_days: int,
    check_key: str = "",
) -> dict[str, Any]:
    """Replace a routing rule (town admins); audited. Problems already open keep their office."""
    require_role(actor, {Role.TOWN_ADMIN})
    rule = db.session.get(RoutingRule, rule_id)
    if rule is None:
        raise DomainError("routing.not_found")
    values = _validated_rule(
        area=area,
        check_key=check_key,
        area_label=area_label,
        office_codes=office_codes,
        deadline_days=deadline_days,
        rule_id=rule.id,
    )
    if (rule.area, rule.check_key) == _CATCH_ALL and (
        values["area"],
        values["check_key"],
    ) != _CATCH_ALL:
        raise DomainError(
            "routing.invalid",
            fields={"json": {"area": ["“其他”是兜底类别，不能修改其类别代码或检查项。"]}},
        )
    before = _snapshot(rule)
    for name, value in values.items():
        setattr(rule, name, value)
    rule.updated_by_id = actor.user_id
    rule.updated_at = utcnow()
    db.session.flush()
    record_event(
        actor=actor,
        action="routing_rule.update",
        target_type="routing_rule",
        target_id=rule.id,
        detail={"before": before, "after": _snapshot(rule)},
    )
    return _rule_view(rule, _office_names())
