"""Recording security-relevant events in the append-only audit log."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select

from backend.extensions import db
from backend.models import AuditLog, Household, Problem, Region, Report, Role, RoleGrant, User
from backend.services.authz import Actor, require_role
from backend.services.clock import CHINA_TZ

# Who reads the audit log: the town office, 镇纪委 and the district.
AUDIT_READ_ROLES = frozenset({Role.TOWN_ADMIN, Role.INSPECTOR, Role.DISTRICT})


def record_event(
    *,
    actor: Actor | None,
    action: str,
    subject: str | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
    region_path: str | None = None,
) -> AuditLog:
    """Append one audit row in the current transaction.

    ``region_path``: the region the event belongs to, which decides who may read it. Without
    one, the region of its target (a household, problem, report or user), else the region of
    the actor's grants (``actor_region``).
    """
    if region_path is None:
        region_path = _target_region(target_type, target_id)
    if region_path is None:
        region_path = actor_region(actor)
    row = AuditLog(
        actor_user_id=actor.user_id if actor else None,
        action=action,
        subject=subject,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=actor.ip if actor else None,
        detail=detail,
        region_path=region_path,
    )
    db.session.add(row)
    db.session.flush()
    return row


def actor_region(actor: Actor | None) -> str | None:
    """The deepest region that holds all of the actor's grants; None without grants.

    A town admin's events belong to the town, a helper's to the village; someone granted in
    two towns of a district acts for the district.
    """
    if actor is None:
        return None
    return common_region([grant.region_path for grant in actor.grants])


def user_region(user_id: int) -> str | None:
    """The deepest region that holds all of a user's grants (see ``actor_region``)."""
    paths = db.session.scalars(
        select(Region.path)
        .join(RoleGrant, RoleGrant.region_id == Region.id)
        .where(RoleGrant.user_id == user_id)
    ).all()
    return common_region(list(paths))


def common_region(paths: list[str]) -> str | None:
    """The deepest region path that is a prefix of every one of ``paths``; None if none is."""
    if not paths:
        return None
    parts = [path.strip("/").split("/") for path in paths]
    common = parts[0]
    for other in parts[1:]:
        n = 0
        while n < min(len(common), len(other)) and common[n] == other[n]:
            n += 1
        common = common[:n]
    return f"/{'/'.join(common)}/" if common and common[0] else None


_TARGET_REGIONS = {
    "household": Household.region_path,
    "problem": Problem.region_path,
    "report": Report.region_path,
}


def _target_region(target_type: str | None, target_id: str | int | None) -> str | None:
    # The region of what the event names, when it is a thing that lives in one.
    if target_id is None or target_type is None:
        return None
    try:
        key = int(target_id)
    except (TypeError, ValueError):
        return None
    if target_type == "user":
        return user_region(key)
    column = _TARGET_REGIONS.get(target_type)
    if column is None:
        return None
    return db.session.scalar(select(column).where(column.class_.id == key))


def event_scope(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause selecting the audit rows ``actor`` may read.

    The rows of the regions under the actor's reading grants; rows of no region (anonymous
    events, events from before regions were recorded that nothing placed) only for a reader
    over a whole top-level region (a district).
    """
    paths = actor.paths_for(AUDIT_READ_ROLES)
    clauses = [AuditLog.region_path.startswith(p, autoescape=True) for p in paths]
    if any(p.strip("/").count("/") == 0 for p in paths):
        clauses.append(AuditLog.region_path.is_(None))
    return or_(*clauses) if clauses else false()


def count_events(*, action: str, subject: str, since: datetime) -> int:
    """Count audit rows of one action about one subject since a moment."""
    return db.session.scalar(
        select(func.count(AuditLog.id)).where(
            AuditLog.action == action, AuditLog.subject == subject, AuditLog.at >= since
        )
    )


def list_events(
    *,
    actor: Actor,
    action: str | None = None,
    actor_user_id: int | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Page through the audit log, newest first (town admins, inspectors and the district).

    ``action`` is a prefix, or several separated by commas: ``export.`` finds every export,
    ``auth.login`` logins with their failures and throttles. Dates are China calendar days.
    """
    require_role(actor, AUDIT_READ_ROLES)
    query = select(AuditLog).where(event_scope(actor))
    prefixes = [p.strip() for p in (action or "").split(",") if p.strip()]
    if prefixes:
        query = query.where(
            or_(*[AuditLog.action.startswith(p, autoescape=True) for p in prefixes])
        )
    if actor_user_id is not None:
        query = query.where(AuditLog.actor_user_id == actor_user_id)
    if target_type:
        query = query.where(AuditLog.target_type == target_type)
    if target_id:
        query = query.where(AuditLog.target_id == target_id)
    if date_from is not None:
        query = query.where(AuditLog.at >= datetime.combine(date_from, time(), CHINA_TZ))
    if date_to is not None:
        end = datetime.combine(date_to + timedelta(days=1), time(), CHINA_TZ)
        query = query.where(AuditLog.at < end)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(
        query.add_columns(User.display_name)
        .outerjoin(User, User.id == AuditLog.actor_user_id)
        .order_by(AuditLog.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return [_event_view(row, name) for row, name in rows], total


def list_event_actors(*, actor: Actor, limit: int) -> list[tuple[int, str]]:
    """(id, name) of the people in the part of the log ``actor`` reads, by name (a filter)."""
    require_role(actor, AUDIT_READ_ROLES)
    ids = (
        select(AuditLog.actor_user_id)
        .where(AuditLog.actor_user_id.is_not(None), event_scope(actor))
        .distinct()
    )
    rows = db.session.execute(
        select(User.id, User.display_name)
        .where(User.id.in_(ids))
        .order_by(User.display_name)
        .limit(limit)
    )
    return [(row.id, row.display_name) for row in rows]


def _event_view(row: AuditLog, actor_name: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "actor_user_id": row.actor_user_id,
        "actor_name": actor_name,
        "action": row.action,
        "subject": row.subject,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "detail": row.detail,
        "region_path": row.region_path,
    }
